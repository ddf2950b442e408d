//! Detection losses: one file per loss, one trait per family, one `match` per registry.
//!
//! Contract (after mmdetection's `weight_reduce_loss`): a classification loss takes the logits
//! `[N, C]` of every prior of the batch (image-major rows), the labels `[N]` (−1 ignored,
//! 0 background, `k` class `k − 1`), the number of positives and the number of images, and
//! returns a [`ClsOut`]: the tensor to back-propagate and the value to log (equal for the
//! losses that are functions; AP- and AUC-loss back-propagate a surrogate whose gradient is the
//! paper's error-driven update and log 1 − AP or 1 − AUC). A regression loss computes the
//! element-wise loss of each positive, `ℓ_i` (`[P]`, summed over the four box coordinates), in
//! the space it asks for ([`Space`]); [`reduce`] then returns `Σ_i w_i ℓ_i / max(Σ_i w_i, 1e-6)`
//! (FCOS weights positives by their center-ness target, RetinaNet by 1), so a batch without
//! positives gives 0 with a gradient path. UGS is not a function of the decoded prediction
//! alone (it reads the head's distributions and re-runs the head): it is the [`Reg::Ugs`] arm,
//! driven by `trainer::objective`. The harmonic coupling acts on both families' per-positive
//! terms ([`harmonic`]).
//!
//! Adding a loss: a variant in `spec::config`, a file here, an arm in [`build`] or [`build_reg`].

pub mod ap;
pub mod auc;
pub mod ce_ohem;
pub mod diou;
pub mod focal;
pub mod giou;
#[cfg(test)]
mod golden;
pub mod harmonic;
pub mod hiou;
pub mod iou;
pub mod l1;
pub mod l2;
pub mod ranking;
pub mod smooth_l1;
pub mod softmax;
#[cfg(test)]
pub(crate) mod testutil;
pub mod ugs;

use crate::spec::config::{ClsLossSpec, RegLossSpec};
use tch::{Kind, Tensor};

/// One batch as a classification loss sees it.
#[derive(Debug)]
pub struct ClsBatch<'a> {
    /// `[N, C]`, rows image-major (`images` blocks of `N / images` priors).
    pub logits: &'a Tensor,
    /// `[N]` int64.
    pub labels: &'a Tensor,
    /// Positives in the batch, ≥ 1 (the caller clamps it).
    pub num_pos: f64,
    pub images: i64,
}

/// What a classification loss returns.
#[derive(Debug)]
pub struct ClsOut {
    /// Scalar to back-propagate.
    pub backprop: Tensor,
    /// Scalar to log (and for ALWA to record).
    pub value: Tensor,
}

impl ClsOut {
    /// A loss that is a function: the same tensor is back-propagated and logged.
    pub fn same(loss: Tensor) -> ClsOut {
        ClsOut {
            value: loss.detach(),
            backprop: loss,
        }
    }
}

/// How a logit becomes a detection score (and a class probability for the harmonic coupling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    /// `σ(x_k)` per class (focal, AUC-, AP-loss).
    Sigmoid,
    /// `softmax([0, x_1 … x_C])_k`: a softmax over the classes and a background logit pinned
    /// at 0 (CE + OHEM; pinning one logit loses nothing, softmax is shift-invariant).
    Softmax,
}

impl Score {
    /// Probabilities `[.., C]` of `logits [.., C]`.
    pub fn probs(self, logits: &Tensor) -> Tensor {
        match self {
            Score::Sigmoid => logits.sigmoid(),
            Score::Softmax => {
                let z = with_background(logits);
                let last = z.size().len() as i64 - 1;
                let c = logits.size()[last as usize];
                z.softmax(last, z.kind()).narrow(last, 1, c)
            }
        }
    }

    /// `CE_i = −log p_i` of each positive's class: `logits [P, C]`, `class [P]` in `0..C`.
    pub fn positive_ce(self, logits: &Tensor, class: &Tensor) -> Tensor {
        let x = logits.gather(1, &class.unsqueeze(1), false).squeeze_dim(1);
        match self {
            // −log σ(x) = softplus(−x), stable for large |x|.
            Score::Sigmoid => x.neg().softplus(),
            Score::Softmax => with_background(logits).logsumexp([1], false) - x,
        }
    }
}

/// `[.., C]` → `[.., 1 + C]` with a zero background logit first.
pub fn with_background(logits: &Tensor) -> Tensor {
    let mut shape = logits.size();
    let last = shape.len() - 1;
    shape[last] = 1;
    let zero = Tensor::zeros(shape.as_slice(), (logits.kind(), logits.device()));
    Tensor::cat(&[&zero, logits], last as i64)
}

/// A classification loss over all (prior, class) pairs.
pub trait ClsLoss: std::fmt::Debug {
    fn name(&self) -> &'static str;
    fn loss(&self, batch: &ClsBatch) -> ClsOut;
    /// The score function the loss trains (used at inference).
    fn score(&self) -> Score {
        Score::Sigmoid
    }
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

/// The regression loss of a config.
#[derive(Debug)]
pub enum Reg {
    /// A function of the decoded prediction.
    Plain(Box<dyn RegLoss>),
    /// Classification-based localization over distributions (needs the head's logits).
    Ugs(ugs::Ugs),
}

/// `Σ w ℓ / max(Σ w, 1e-6)`; `weight_sum` is `Σ w`, known on the host.
pub fn reduce(per_box: &Tensor, weight: &Tensor, weight_sum: f64) -> Tensor {
    (per_box * weight).sum(per_box.kind()) / weight_sum.max(1e-6)
}

/// The classification loss of a spec.
pub fn build(spec: &ClsLossSpec) -> Box<dyn ClsLoss> {
    match *spec {
        ClsLossSpec::Softmax => Box::new(softmax::Softmax),
        ClsLossSpec::Focal { alpha, gamma } => Box::new(focal::Focal { alpha, gamma }),
        ClsLossSpec::CeOhem { neg_pos_ratio } => Box::new(ce_ohem::CeOhem { neg_pos_ratio }),
        ClsLossSpec::Auc { delta, minibatch } => Box::new(auc::AucLoss { delta, minibatch }),
        ClsLossSpec::Ap {
            delta,
            interpolate,
            minibatch,
        } => Box::new(ap::ApLoss {
            delta,
            interpolate,
            minibatch,
        }),
    }
}

/// The regression loss of a spec; `signed` targets (RetinaNet deltas) or non-negative ones
/// (FCOS distances) decide the range of UGS's grid.
pub fn build_reg(spec: &RegLossSpec, signed: bool) -> Reg {
    Reg::Plain(match spec {
        RegLossSpec::L1 => Box::new(l1::L1),
        RegLossSpec::SmoothL1 { beta } => Box::new(smooth_l1::SmoothL1 { beta: *beta }),
        RegLossSpec::L2 { normalize } => Box::new(l2::L2 {
            normalize: *normalize,
        }),
        RegLossSpec::Iou { form } => Box::new(iou::Iou { form: *form }),
        RegLossSpec::Giou => Box::new(giou::Giou),
        RegLossSpec::Diou => Box::new(diou::Diou),
        RegLossSpec::Ciou => Box::new(diou::Ciou),
        RegLossSpec::Hiou { gamma } => Box::new(hiou::Hiou { gamma: *gamma }),
        RegLossSpec::Ugs(u) => return Reg::Ugs(ugs::Ugs::new(u, signed)),
    })
}

/// A scalar tensor of `v` (host values logged as tensors).
pub fn scalar_tensor(v: f64, like: &Tensor) -> Tensor {
    Tensor::from(v)
        .to_kind(like.kind())
        .to_device(like.device())
}

/// `[N, C]` logits → host f64 values, row-major.
pub fn host_f64(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(
        t.detach()
            .to_device(tch::Device::Cpu)
            .to_kind(Kind::Double)
            .flatten(0, -1),
    )
    .expect("a float tensor")
}
