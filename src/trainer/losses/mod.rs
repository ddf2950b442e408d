//! Detection losses: one file per loss, one trait per family, one `match` per registry.
//!
//! Contract (after mmdetection's `weight_reduce_loss`): a classification loss takes the logits
//! `[N, C]` of every prior of the batch, the labels `[N]` (−1 ignored, 0 background, `k` class
//! `k − 1`) and the number of positives, and returns the scalar to back-propagate. A regression
//! loss computes the element-wise loss of each positive, `ℓ_i` (`[P]`, summed over the four box
//! coordinates), in the space it asks for ([`Space`]); [`reduce`] then returns
//! `Σ_i w_i ℓ_i / max(Σ_i w_i, 1e-6)` (FCOS weights positives by their center-ness target,
//! RetinaNet by 1), so a batch without positives gives 0 with a gradient path.
//!
//! Adding a loss: a variant in `spec::config`, a file here, an arm in [`build`] or [`build_reg`].

pub mod focal;
pub mod giou;
pub mod l1;
pub mod l2;
pub mod smooth_l1;
#[cfg(test)]
pub(crate) mod testutil;

use super::TrainError;
use crate::spec::config::{ClsLossSpec, RegLossSpec};
use tch::Tensor;

/// A classification loss over all (prior, class) pairs.
pub trait ClsLoss: std::fmt::Debug {
    fn name(&self) -> &'static str;
    /// `logits [N, C]`, `labels [N]` (int64), `num_pos` ≥ 1 (the caller clamps it).
    fn loss(&self, logits: &Tensor, labels: &Tensor, num_pos: f64) -> Tensor;
}

/// What a regression loss compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// The encoded targets: FCOS ltrb / stride, RetinaNet (dx, dy, dw, dh).
    Encoded,
    /// Decoded boxes `[x1, y1, x2, y2]` in pixels.
    Boxes,
}

/// A regression loss on the positives.
pub trait RegLoss: std::fmt::Debug {
    fn name(&self) -> &'static str;
    fn space(&self) -> Space;
    /// Element-wise loss `[P]` of `pred [P, 4]` against `target [P, 4]`.
    fn per_box(&self, pred: &Tensor, target: &Tensor) -> Tensor;
}

/// `Σ w ℓ / max(Σ w, 1e-6)`; `weight_sum` is `Σ w`, known on the host.
pub fn reduce(per_box: &Tensor, weight: &Tensor, weight_sum: f64) -> Tensor {
    (per_box * weight).sum(per_box.kind()) / weight_sum.max(1e-6)
}

/// The classification loss of a spec.
pub fn build(spec: &ClsLossSpec) -> Box<dyn ClsLoss> {
    match *spec {
        ClsLossSpec::Focal { alpha, gamma } => Box::new(focal::Focal { alpha, gamma }),
    }
}

/// The regression loss of a spec, or `Unsupported` for the kinds not implemented yet.
pub fn build_reg(spec: &RegLossSpec) -> Result<Box<dyn RegLoss>, TrainError> {
    Ok(match *spec {
        RegLossSpec::L1 => Box::new(l1::L1),
        RegLossSpec::SmoothL1 { beta } => Box::new(smooth_l1::SmoothL1 { beta }),
        RegLossSpec::L2 => Box::new(l2::L2),
        RegLossSpec::Giou => Box::new(giou::Giou),
        RegLossSpec::Ugs(_) => {
            return Err(TrainError::Unsupported {
                what: "the UGS loss is not implemented yet".into(),
            })
        }
    })
}
