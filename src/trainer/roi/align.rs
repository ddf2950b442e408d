//! `torchvision.ops.roi_align` from tensor ops.
//!
//! torchvision's CPU kernel samples, for output bin (ph, pw) of a box, a grid of `gh × gw`
//! points (`sampling_ratio`, or `ceil(box size / output size)` per box when it is <= 0), reads
//! each point bilinearly from its four neighbours and averages over `max(gh · gw, 1)`. A point
//! outside `[-1, height] × [-1, width]` reads nothing. Every output value is thus a weighted
//! sum of `4 · gh · gw` input pixels of one channel, with weights and pixel positions that
//! depend on the box only and are shared by all channels.
//!
//! So the op is one `embedding_bag` (mode sum, per-sample weights) over a channels-last view of
//! the input, `[N·H·W, C]`: one bag per output bin, holding the flat pixel index and weight of
//! each of its taps. The weights of a tap are the product of a y factor and an x factor
//! (`w1 = hy · hx`, ...), so each axis is worked out once per box, output position and sample
//! ([`Axis`]), and the bags are their products. With adaptive sampling the bags have a size
//! per box; they are laid out ragged (offsets), so a large box costs what it costs
//! torchvision and nothing is padded to the largest.
//!
//! The boxes get no gradient (as in torchvision), so the backward of `embedding_bag` with
//! respect to the input, a weighted scatter-add of the output gradient onto the same pixels,
//! is torchvision's backward up to summation order.
//!
//! Coordinates are computed in the compute kind in the kernel's expression order
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
    // Channels-last, so that each tap reads one contiguous vector of C values.
    let flat = input
        .to_kind(kind)
        .permute([0, 2, 3, 1])
        .contiguous()
        .view([n * h * w, c]);
    let (pooled, _, _, _) = Tensor::embedding_bag(
        &flat,
        &plan.pixel,
        &plan.offsets,
        false,
        0, // sum
        false,
        Some(&plan.weight),
        false,
    );
    pooled
        .view([k, oh, ow, c])
        .permute([0, 3, 1, 2])
        .contiguous()
        .to_kind(in_kind)
}

/// Everything that depends on the boxes only (no gradient): the taps of every output bin.
struct Plan {
    /// `[T]` int64 flat pixel index `(n · H + y) · W + x` of each tap, bag after bag.
    pixel: Tensor,
    /// `[T]` the tap's weight: y factor / the box's sample count · x factor.
    weight: Tensor,
    /// `[K · oh · ow]` int64 start of each bin's bag in `pixel`.
    offsets: Tensor,
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
        let (kind, device) = (rois.kind(), rois.device());
        let k = rois.size()[0];
        // The kernel truncates the float batch index to int.
        let batch = rois.select(1, 0).to_kind(Kind::Int64);
        // The kernel holds the scale in the compute type.
        let scale = Tensor::from(spatial_scale).to_kind(kind).to_device(device);
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
        let divisor = |d: i64| Tensor::full([1], d, (kind, device));
        let (bin_h, bin_w) = (&roi_h / divisor(oh), &roi_w / divisor(ow));
        let (grid_h, grid_w) = if sampling_ratio > 0 {
            let g = Tensor::full([k], sampling_ratio, (Kind::Int64, device));
            (g.shallow_clone(), g)
        } else {
            // The kernel's `(int) ceil(size / output)`, per box; 0 or negative for inverted
            // aligned boxes, which then sample nothing.
            let g = |size: &Tensor, out: i64| (size / divisor(out)).ceil().to_kind(Kind::Int64);
            (g(&roi_h, oh), g(&roi_w, ow))
        };
        let count = (&grid_h * &grid_w).clamp_min(1).to_kind(kind);
        let (grid_h, grid_w) = (grid_h.clamp_min(0), grid_w.clamp_min(0));
        let y = Axis::taps(&start_y, &bin_h, &grid_h, oh, height);
        let x = Axis::taps(&start_x, &bin_w, &grid_w, ow, width);

        // The average over the box's samples, folded into its y factors.
        let y_weight = (y.weight.view([k, -1]) / count.view([k, 1])).view([-1]);
        let y = Axis {
            weight: y_weight,
            ..y
        };
        if sampling_ratio > 0 {
            Plan::uniform(&batch, &y, &x, (height, width), (oh, ow))
        } else {
            Plan::ragged(
                &batch,
                &y,
                &x,
                (&grid_h, &grid_w),
                (height, width),
                (oh, ow),
            )
        }
    }

    /// Bags of one size: with a fixed sampling ratio S, bin (k, ph, pw) holds every y tap of
    /// (k, ph) × every x tap of (k, pw), `2S × 2S`, y major.
    fn uniform(
        batch: &Tensor,
        y: &Axis,
        x: &Axis,
        (h, w): (i64, i64),
        (oh, ow): (i64, i64),
    ) -> Plan {
        let k = batch.size()[0];
        let (sy, sx) = (y.stride, x.stride);
        let rows = |t: &Tensor| t.view([k, oh, 1, sy, 1]);
        let cols = |t: &Tensor| t.view([k, 1, ow, 1, sx]);
        let pixel = (batch.view([k, 1, 1, 1, 1]) * h + rows(&y.index)) * w + cols(&x.index);
        let weight = rows(&y.weight) * cols(&x.weight);
        let per_bin = sy * sx;
        let offsets = Tensor::arange(k * oh * ow, (Kind::Int64, batch.device())) * per_bin;
        Plan {
            pixel: pixel.view([-1]),
            weight: weight.view([-1]),
            offsets,
        }
    }

    /// Bags of a size per box (adaptive sampling): bin (k, ph, pw) holds the `2·gh_k` y taps
    /// of (k, ph) × the `2·gw_k` x taps of (k, pw), y major, laid end to end.
    fn ragged(
        batch: &Tensor,
        y: &Axis,
        x: &Axis,
        (grid_h, grid_w): (&Tensor, &Tensor),
        (height, width): (i64, i64),
        (oh, ow): (i64, i64),
    ) -> Plan {
        let (k, device) = (batch.size()[0], batch.device());
        let (ny, nx) = (grid_h * 2, grid_w * 2);
        let bins = oh * ow;
        let per_bin = (&ny * &nx)
            .view([k, 1])
            .expand([k, bins], false)
            .reshape([-1]);
        let taps = per_bin.sum(Kind::Int64).int64_value(&[]);
        let offsets = per_bin.cumsum(0, Kind::Int64) - &per_bin;
        let bag = Tensor::repeat_interleave(&per_bin, taps);
        let within = Tensor::arange(taps, (Kind::Int64, device)) - offsets.index_select(0, &bag);
        // Box, output row and column of each tap's bin; its y and x tap within the bin.
        let kb = bag.divide_scalar_mode(bins, "floor");
        let bin = &bag - &kb * bins;
        let ph = bin.divide_scalar_mode(ow, "floor");
        let pw = &bin - &ph * ow;
        let nx_tap = nx.index_select(0, &kb);
        let yj = within.divide_tensor_mode(&nx_tap, "floor");
        let xj = &within - &yj * &nx_tap;
        let yi = (&kb * oh + ph) * y.stride + yj;
        let xi = (&kb * ow + pw) * x.stride + xj;
        let image = batch.index_select(0, &kb);
        let pixel =
            (image * height + y.index.index_select(0, &yi)) * width + x.index.index_select(0, &xi);
        let weight = y.weight.index_select(0, &yi) * x.weight.index_select(0, &xi);
        Plan {
            pixel,
            weight,
            offsets,
        }
    }
}

/// The bilinear taps of one axis, flat: for each box, output position p, sample s < S and
/// corner (low, high), at `((box · P + p) · S + s) · 2 + corner`, a feature index and its factor.
struct Axis {
    /// int64 feature index along the axis.
    index: Tensor,
    /// The factor (0 for a sample outside the map).
    weight: Tensor,
    /// `2 · S`: the entries per (box, output position).
    stride: i64,
}

impl Axis {
    /// `start`, `bin`: `[K]` in the compute kind; `grid`: `[K]` int64 samples per bin (>= 0);
    /// `pooled`: output positions; `size`: the feature extent along the axis.
    fn taps(start: &Tensor, bin: &Tensor, grid: &Tensor, pooled: i64, size: i64) -> Axis {
        let (kind, device) = (start.kind(), start.device());
        let k = start.size()[0];
        // Laid out for the largest grid of the batch; the bags read only a box's own samples.
        let samples = grid.max().int64_value(&[]).max(1);
        let p = Tensor::arange(pooled, (kind, device)).view([1, pooled, 1]);
        let s = Tensor::arange(samples, (kind, device)).view([1, 1, samples]);
        let (start, bin) = (start.view([k, 1, 1]), bin.view([k, 1, 1]));
        let gridf = grid.to_kind(kind).view([k, 1, 1]);
        // The kernel's expression, in its order: start + p·bin + ((i + .5)·bin) / grid.
        let pos = (start + &p * &bin) + ((s + 0.5) * &bin) / gridf;
        // Outside [-1, size] (or NaN) the sample reads nothing.
        let valid = pos.ge(-1.0).logical_and(&pos.le(size as f64));
        let pos = pos.where_scalarother(&valid, 0.0).clamp_min(0.0);
        let low = pos.trunc().to_kind(Kind::Int64);
        let at_end = low.ge(size - 1);
        let last = Tensor::full([1], size - 1, (Kind::Int64, device));
        let high = last.where_self(&at_end, &(&low + 1));
        let low = last.where_self(&at_end, &low);
        let pos = low.to_kind(kind).where_self(&at_end, &pos);
        let lerp = &pos - low.to_kind(kind);
        let keep = |t: Tensor| t.where_scalarother(&valid, 0.0);
        let weight = Tensor::stack(&[keep(1.0 - &lerp), keep(lerp)], -1).view([-1]);
        let index = Tensor::stack(&[low, high], -1).view([-1]);
        Axis {
            index,
            weight,
            stride: 2 * samples,
        }
    }
}
