//! `torchvision.ops.roi_align` from tensor ops.
//!
//! torchvision's CPU kernel samples, for output bin (ph, pw) of a box, a grid of
//! `gh × gw` points (`sampling_ratio`, or `ceil(box size / output size)` per box when it is
//! <= 0), reads each point bilinearly and averages over `max(gh · gw, 1)`. Its bilinear weights
//! are a product of a y factor and an x factor (`w1 = hy · hx`, ...), and a point outside
//! `[-1, height] × [-1, width]` contributes nothing, which is again a product (a zero y factor or
//! a zero x factor). So the whole box is `Ay · F · Axᵀ` per channel, where `Ay [oh, H]` holds the
//! summed y factors of the rows each output row reads, and `Ax [ow, W]` the same for columns.
//!
//! Only the few rows and columns a box touches are kept: its row taps (at most
//! `oh · gh · 2`) are deduplicated into a compact table, likewise its column taps; the feature
//! vectors at those rows × columns are gathered from a channels-last copy of the input with one
//! `index_select`, and two `bmm`s apply the weights. The weights depend on the boxes only (as in
//! torchvision, boxes get no gradient), so autograd's backward through `bmm` and `index_select`
//! is the transpose of the forward map: torchvision's backward, up to summation order.
//!
//! Coordinates are computed in the compute kind with the kernel's expression order
//! (`start + p · bin + (i + 0.5) · bin / grid`), so that the integer parts of sample points
//! agree with torchvision's at the boundaries. Half and bfloat16 features are pooled in float32
//! and the result cast back, as torchvision's autocast wrapper of `roi_align` does: in half,
//! box coordinates of a large image would be off by up to a pixel.

use tch::{Kind, Tensor};

/// RoIAlign of `input [N, C, H, W]` over `rois [K, 5]` rows `(batch index, x1, y1, x2, y2)` in
/// input-image coordinates, which `spatial_scale` maps to feature coordinates. Returns
/// `[K, C, oh, ow]` in the input's kind, like `torchvision.ops.roi_align(input, rois,
/// output_size, spatial_scale, sampling_ratio, aligned)`.
///
/// Batch indices must lie in `0..N` (torchvision reads out of bounds otherwise; here it is an
/// indexing error). No gradient flows to `rois`.
pub fn roi_align(
    input: &Tensor,
    rois: &Tensor,
    output_size: (i64, i64),
    spatial_scale: f64,
    sampling_ratio: i64,
    aligned: bool,
) -> Tensor {
    let (n, c, h, w) = input
        .size4()
        .expect("roi_align: input must be [N, C, H, W]");
    let k = rois.size()[0];
    assert_eq!(rois.size(), [k, 5], "roi_align: rois must be [K, 5]");
    let (oh, ow) = output_size;
    let in_kind = input.kind();
    let kind = match in_kind {
        Kind::Half | Kind::BFloat16 => Kind::Float,
        other => other,
    };
    let device = input.device();
    if k == 0 || c == 0 || oh == 0 || ow == 0 {
        return Tensor::zeros([k, c, oh, ow], (in_kind, device));
    }
    let plan = tch::no_grad(|| {
        Plan::new(
            &rois.to_device(device).to_kind(kind),
            (h, w),
            output_size,
            spatial_scale,
            sampling_ratio,
            aligned,
        )
    });
    let (u, v) = (plan.rows.size()[1], plan.cols.size()[1]);

    // Channels-last, so that each gathered tap is one contiguous vector of C values.
    let flat = input
        .to_kind(kind)
        .permute([0, 2, 3, 1])
        .contiguous()
        .view([n * h * w, c]);
    let taps = tch::no_grad(|| {
        let image = plan.batch.view([k, 1, 1]) * (h * w);
        image + plan.rows.view([k, u, 1]) * w + plan.cols.view([k, 1, v])
    });
    // [K·U, V, C]: the features at each box's rows × columns.
    let gathered = flat.index_select(0, &taps.view([-1])).view([k * u, v, c]);
    // Columns first: [K·U, ow, V] · [K·U, V, C] -> [K·U, ow, C].
    let ax = plan
        .ax
        .unsqueeze(1)
        .expand([k, u, ow, v], false)
        .reshape([k * u, ow, v]);
    let by_cols = ax.bmm(&gathered).view([k, u, ow * c]);
    // Then rows: [K, oh, U] · [K, U, ow·C] -> [K, oh, ow, C].
    let pooled = plan.ay.bmm(&by_cols).view([k, oh, ow, c]);
    pooled.permute([0, 3, 1, 2]).contiguous().to_kind(in_kind)
}

/// Everything that depends on the boxes only (no gradient): each box's compact row and column
/// tables and the weights that map them to the output grid (the 1 / count average folded into
/// the row weights).
struct Plan {
    /// `[K]` int64 batch index of each box.
    batch: Tensor,
    /// `[K, U]` feature rows read by each box (padding slots read row 0 with weight 0).
    rows: Tensor,
    /// `[K, V]` feature columns read by each box.
    cols: Tensor,
    /// `[K, oh, U]` summed y factors, divided by the box's sample count.
    ay: Tensor,
    /// `[K, ow, V]` summed x factors.
    ax: Tensor,
}

impl Plan {
    fn new(
        rois: &Tensor,
        (height, width): (i64, i64),
        (oh, ow): (i64, i64),
        spatial_scale: f64,
        sampling_ratio: i64,
        aligned: bool,
    ) -> Plan {
        let kind = rois.kind();
        let k = rois.size()[0];
        // The kernel truncates the float batch index to int.
        let batch = rois.select(1, 0).to_kind(Kind::Int64);
        // The kernel holds the scale in the compute type.
        let scale = Tensor::from(spatial_scale)
            .to_kind(kind)
            .to_device(rois.device());
        let offset = if aligned { 0.5 } else { 0.0 };
        let coord = |i: i64| rois.select(1, i) * &scale - offset;
        let (start_x, start_y) = (coord(1), coord(2));
        let (mut roi_w, mut roi_h) = (coord(3) - &start_x, coord(4) - &start_y);
        if !aligned {
            // Malformed boxes are forced to at least 1 × 1.
            roi_w = roi_w.clamp_min(1.0);
            roi_h = roi_h.clamp_min(1.0);
        }
        // Divisors as one-element tensors: CUDA turns a scalar divisor into a multiplication by
        // its reciprocal, which rounds differently from the kernel's division.
        let divisor = |d: i64| Tensor::full([1], d, (kind, rois.device()));
        let (bin_h, bin_w) = (&roi_h / divisor(oh), &roi_w / divisor(ow));
        let (grid_h, grid_w) = if sampling_ratio > 0 {
            let g = Tensor::full([k], sampling_ratio, (Kind::Int64, rois.device()));
            (g.shallow_clone(), g)
        } else {
            // The kernel's `(int) ceil(size / output)`, per box; it can be 0 or negative for
            // inverted aligned boxes, which then sample nothing.
            let g = |size: &Tensor, out: i64| (size / divisor(out)).ceil().to_kind(Kind::Int64);
            (g(&roi_h, oh), g(&roi_w, ow))
        };
        let count = (&grid_h * &grid_w).clamp_min(1).to_kind(kind);
        let y = Axis::taps(&start_y, &bin_h, &grid_h, oh, height);
        let x = Axis::taps(&start_x, &bin_w, &grid_w, ow, width);
        let (rows, ay) = y.matrix(oh);
        let (cols, ax) = x.matrix(ow);
        let ay = ay / count.view([k, 1, 1]);
        Plan {
            batch,
            rows,
            cols,
            ay,
            ax,
        }
    }
}

/// The bilinear taps of one axis: for each box, output position p, sample s and corner
/// (low, high), a feature index and its factor.
struct Axis {
    /// `[K, P, S, 2]` int64 feature index.
    index: Tensor,
    /// `[K, P, S, 2]` factor (0 for a sample outside the map or beyond the box's grid).
    weight: Tensor,
}

impl Axis {
    /// `start`, `bin`: `[K]` in the compute kind; `grid`: `[K]` int64 samples per bin;
    /// `pooled`: output positions; `size`: the feature extent along the axis.
    fn taps(start: &Tensor, bin: &Tensor, grid: &Tensor, pooled: i64, size: i64) -> Axis {
        let (kind, device) = (start.kind(), start.device());
        let k = start.size()[0];
        // Pad to the largest grid of the batch; samples past a box's own grid are masked.
        let samples = if k == 0 {
            1
        } else {
            grid.max().int64_value(&[]).max(1)
        };
        let p = Tensor::arange(pooled, (kind, device)).view([1, pooled, 1]);
        let s = Tensor::arange(samples, (Kind::Int64, device));
        let in_grid = s.view([1, 1, samples]).lt_tensor(&grid.view([k, 1, 1]));
        let half_steps = (s.to_kind(kind) + 0.5).view([1, 1, samples]);
        let (start, bin) = (start.view([k, 1, 1]), bin.view([k, 1, 1]));
        let gridf = grid.to_kind(kind).view([k, 1, 1]);
        // The kernel's expression, in its order: start + p·bin + ((i + .5)·bin) / grid.
        let pos = (start + &p * &bin) + (half_steps * &bin) / gridf;
        // Outside [-1, size] (or NaN) the sample reads nothing.
        let inside = pos.ge(-1.0).logical_and(&pos.le(size as f64));
        let valid = inside.logical_and(&in_grid);
        let pos = pos.where_scalarother(&valid, 0.0).clamp_min(0.0);
        let low = pos.trunc().to_kind(Kind::Int64);
        let at_end = low.ge(size - 1);
        let last = Tensor::full([1], size - 1, (Kind::Int64, device));
        let high = last.where_self(&at_end, &(&low + 1));
        let low = last.where_self(&at_end, &low);
        let pos = low.to_kind(kind).where_self(&at_end, &pos);
        let lerp = &pos - low.to_kind(kind);
        let keep = |t: Tensor| t.where_scalarother(&valid, 0.0);
        let weight = Tensor::stack(&[keep(1.0 - &lerp), keep(lerp)], -1);
        let index = Tensor::stack(&[low, high], -1);
        Axis { index, weight }
    }

    /// The compact index table `[K, U]` of the distinct indices each box reads, and the
    /// `[K, P, U]` matrix of summed factors from table slots to output positions.
    fn matrix(&self, pooled: i64) -> (Tensor, Tensor) {
        let k = self.index.size()[0];
        let flat = self.index.view([k, -1]);
        let m = flat.size()[1];
        let (sorted, order) = flat.sort(1, false);
        let differs = sorted
            .narrow(1, 1, m - 1)
            .ne_tensor(&sorted.narrow(1, 0, m - 1));
        let first = Tensor::ones([k, 1], (Kind::Bool, flat.device()));
        let fresh = Tensor::cat(&[first, differs], 1);
        let slot_sorted = fresh.cumsum(1, Kind::Int64) - 1;
        let u = slot_sorted.max().int64_value(&[]) + 1;
        let table =
            Tensor::zeros([k, u], (Kind::Int64, flat.device())).scatter(1, &slot_sorted, &sorted);
        let slot = flat.zeros_like().scatter(1, &order, &slot_sorted);
        let per_p = m / pooled;
        let p = Tensor::arange(pooled, (Kind::Int64, flat.device())).view([1, pooled, 1]);
        let cell = (slot.view([k, pooled, per_p]) + p * u).view([k, m]);
        let weight = self.weight.view([k, m]);
        let matrix = Tensor::zeros([k, pooled * u], (weight.kind(), weight.device()))
            .scatter_add(1, &cell, &weight)
            .view([k, pooled, u]);
        (table, matrix)
    }
}
