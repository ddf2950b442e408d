//! The priors' geometry shared by the tiny detectors' assigners ([`super::fcos`],
//! [`super::retina`]) and their layout ([`super::layout`]): FPN levels, the flattened
//! assignment of a batch, and box IoU.

use tch::{Device, Tensor};

/// Strides of the FPN levels the head runs on.
pub const STRIDES: [i64; 3] = [8, 16, 32];

/// One FPN level: its stride, map size and rows `start .. start + len` of the flattened output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub stride: f32,
    pub side: usize,
    pub start: usize,
    pub len: usize,
}

/// The targets of one batch, in plain Rust. `P` positives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignment {
    /// `[B · N]`: −1 ignored, 0 background, `k` in `1..=C` class `k − 1`.
    pub labels: Vec<i64>,
    /// `[P]`: flat row `b · N + n` of each positive, ascending.
    pub pos: Vec<i64>,
    /// `[P]`: its prior `n`.
    pub prior: Vec<i64>,
    /// `[P · 4]`: the matched ground-truth box `[x1, y1, x2, y2]` in pixels.
    pub boxes: Vec<f32>,
    /// `[P · 4]`: the encoded target (FCOS: ltrb / stride, clamped ≥ 0; RetinaNet: deltas).
    pub encoded: Vec<f32>,
    /// `[P]`: regression weight (FCOS with center-ness: the center-ness target; else 1).
    pub weight: Vec<f32>,
    /// `[P]`: center-ness target (FCOS only; empty otherwise).
    pub centerness: Vec<f32>,
}

/// The assignment as device tensors.
#[derive(Debug)]
pub struct Targets {
    pub labels: Tensor,
    pub pos: Tensor,
    pub priors: Tensor,
    pub boxes: Tensor,
    pub encoded: Tensor,
    pub weight: Tensor,
    pub centerness: Option<Tensor>,
    pub num_pos: usize,
    pub weight_sum: f64,
}

impl Assignment {
    pub fn to_device(&self, priors: &Tensor, device: Device) -> Targets {
        let p = self.pos.len() as i64;
        let dev = |t: Tensor| t.to_device(device);
        Targets {
            labels: dev(Tensor::from_slice(&self.labels)),
            pos: dev(Tensor::from_slice(&self.pos)),
            priors: priors.index_select(0, &dev(Tensor::from_slice(&self.prior))),
            boxes: dev(Tensor::from_slice(&self.boxes).view([p, 4])),
            encoded: dev(Tensor::from_slice(&self.encoded).view([p, 4])),
            weight: dev(Tensor::from_slice(&self.weight)),
            centerness: (!self.centerness.is_empty())
                .then(|| dev(Tensor::from_slice(&self.centerness))),
            num_pos: self.pos.len(),
            weight_sum: self.weight.iter().map(|&w| w as f64).sum(),
        }
    }
}

/// The levels of a square image of side `size` with `per_cell` priors per location.
pub fn levels(size: usize, per_cell: usize) -> Vec<Level> {
    let mut start = 0;
    STRIDES
        .iter()
        .map(|&s| {
            let side = size.div_ceil(s as usize);
            let l = Level {
                stride: s as f32,
                side,
                start,
                len: side * side * per_cell,
            };
            start += l.len;
            l
        })
        .collect()
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes (0 when the union is empty).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}
