//! Softmax cross-entropy over the background and the classes, averaged over every non-ignored
//! entry: torchvision's `fastrcnn_loss` classification term. The registry's logits have no
//! background column: it is pinned at 0 (softmax is shift-invariant, so the box head's
//! `x_k − x_0` logits give torchvision's value exactly). The two-stage detector's box head runs
//! torchvision's own path on its `K + 1` logits; this arm is the same loss on the registry's
//! contract.

use super::{with_background, ClsBatch, ClsLoss, ClsOut, Score};

#[derive(Debug, Clone, Copy)]
pub struct Softmax;

impl ClsLoss for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn score(&self) -> Score {
        Score::Softmax
    }

    fn loss(&self, b: &ClsBatch) -> ClsOut {
        let kind = b.logits.kind();
        let z = with_background(b.logits);
        let y = b.labels.clamp_min(0).unsqueeze(1);
        let ce = z.logsumexp([1], false) - z.gather(1, &y, false).squeeze_dim(1);
        let kept = b.labels.ge(0).to_kind(kind);
        let count = kept.sum(kind).clamp_min(1.0);
        ClsOut::same((ce * kept).sum(kind) / count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Reduction, Tensor};

    #[test]
    fn equals_torch_cross_entropy_on_the_background_padded_logits() {
        tch::manual_seed(3);
        let logits = Tensor::randn([9, 4], (Kind::Double, tch::Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 1, 4, -1, 0, 2, 3, -1, 0]);
        let got = Softmax
            .loss(&ClsBatch {
                logits: &logits,
                labels: &labels,
                num_pos: 4.0,
                images: 1,
            })
            .value;
        let full = Tensor::cat(&[logits.zeros_like().narrow(1, 0, 1), logits], 1);
        let want = full.cross_entropy_loss::<Tensor>(&labels, None, Reduction::Mean, -1, 0.0);
        assert!(
            (got.double_value(&[]) - want.double_value(&[])).abs() < 1e-12,
            "{got:?} vs {want:?}"
        );
    }
}
