//! The box head's two losses. torchvision's `fastrcnn_loss` is the default: softmax
//! cross-entropy over the `K + 1` logits averaged over every sampled proposal, and smooth L1
//! (β = 1/9) between each positive's deltas for its own class and its encoded target, summed and
//! divided by the number of sampled proposals.
//!
//! Both can come from the loss registry instead ([`crate::trainer::losses`]):
//! - classification: a registry loss sees the foreground logits relative to the background
//!   logit, `x_k − x_0` (softmax is shift-invariant, so its softmax scores are torchvision's),
//!   with the registry's labels (0 background, `k` column `k − 1`); it is called once per image
//!   (images may have different sample counts) with the batch's positives as normaliser, and the
//!   per-image values are summed;
//! - regression: any [`RegLoss`] on the positives' deltas for their class: in [`Space::Encoded`]
//!   against the encoded targets (L1, smooth L1, L2), in [`Space::Boxes`] on the decoded boxes
//!   against the matched ground truth (the IoU family); summed and divided by the number of
//!   sampled proposals, as torchvision's.
//!
//! The two losses come back unweighted: the caller weights each.

use super::Losses;
use super::{HeadOutput, RoiHeads, TrainingSamples};
use crate::trainer::losses::{ClsBatch, ClsLoss, RegLoss, Score, Space};
use tch::{Reduction, Tensor};

/// The box head's classification loss.
#[derive(Debug, Clone, Copy)]
pub enum BoxClassLoss<'a> {
    /// torchvision's `F.cross_entropy` over the `K + 1` logits (mean over the samples).
    Softmax,
    /// A registry loss on the logits relative to the background logit.
    Registry(&'a dyn ClsLoss),
}

impl BoxClassLoss<'_> {
    /// How a logit becomes a detection score.
    pub fn score(&self) -> Score {
        match self {
            BoxClassLoss::Softmax => Score::Softmax,
            BoxClassLoss::Registry(l) => l.score(),
        }
    }
}

/// `[R, K + 1]` → `[R, K]`: each class logit minus the background logit.
pub fn foreground_logits(class_logits: &Tensor) -> Tensor {
    let k = class_logits.size()[1] - 1;
    class_logits.narrow(1, 1, k) - class_logits.narrow(1, 0, 1)
}

impl RoiHeads {
    /// The classification and regression losses of the head's outputs on `samples`.
    pub fn losses(
        &self,
        out: &HeadOutput,
        samples: &TrainingSamples,
        cls: &BoxClassLoss,
        reg: &dyn RegLoss,
    ) -> Losses {
        let labels = Tensor::cat(&samples.labels, 0);
        let logits = &out.class_logits;
        let kind = logits.kind();
        let n = labels.size()[0];
        let pos = labels.gt(0).nonzero().squeeze_dim(1);
        let num_pos = pos.size()[0];
        let (cls_backprop, cls_value) = match cls {
            BoxClassLoss::Softmax => {
                let l =
                    logits.cross_entropy_loss::<Tensor>(&labels, None, Reduction::Mean, -100, 0.0);
                (l.shallow_clone(), l.detach())
            }
            BoxClassLoss::Registry(loss) => {
                let fg = foreground_logits(logits);
                let (mut backprop, mut value) =
                    (fg.sum(kind) * 0.0, Tensor::zeros([], (kind, fg.device())));
                let mut start = 0;
                for l in &samples.labels {
                    let rows = l.size()[0];
                    if rows > 0 {
                        let o = loss.loss(&ClsBatch {
                            logits: &fg.narrow(0, start, rows),
                            labels: l,
                            num_pos: num_pos.max(1) as f64,
                            images: 1,
                        });
                        backprop += o.backprop;
                        value += o.value;
                    }
                    start += rows;
                }
                (backprop, value.detach())
            }
        };
        let k1 = logits.size()[1];
        let class = labels.index_select(0, &pos);
        let pred = out
            .box_regression
            .reshape([n, k1, 4])
            .index_select(0, &pos)
            .gather(1, &class.view([-1, 1, 1]).expand([-1, 1, 4], false), false)
            .squeeze_dim(1);
        let per_box = match reg.space() {
            Space::Encoded => {
                let targets = Tensor::cat(&samples.regression_targets, 0).index_select(0, &pos);
                reg.per_box(&pred, &targets)
            }
            Space::Boxes => {
                let proposals = Tensor::cat(&samples.proposals, 0).index_select(0, &pos);
                let gt = Tensor::cat(&samples.matched_gt_boxes, 0).index_select(0, &pos);
                reg.per_box(&self.coder.decode(&pred, &proposals), &gt)
            }
        };
        Losses {
            cls_backprop,
            cls: cls_value,
            reg: per_box.sum(kind) / n.max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RoiHeadsConfig, TrainingSamples};
    use super::*;
    use crate::trainer::losses::{focal::Focal, giou::Giou, smooth_l1::SmoothL1};
    use tch::{nn, Device, Kind};

    fn heads() -> (nn::VarStore, RoiHeads) {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut cfg = RoiHeadsConfig::torchvision(4);
        (cfg.pooled_channels, cfg.representation) = (2, 8);
        let h = RoiHeads::new(&(vs.root() / "roi_heads"), &cfg);
        (vs, h)
    }

    /// Four samples in two images; positives of class 2 and 3.
    fn samples(h: &RoiHeads) -> TrainingSamples {
        let p = Tensor::from_slice(&[
            0f32, 0., 10., 10., 5., 5., 25., 30., 2., 4., 12., 16., 8., 8., 20., 18.,
        ])
        .view([4, 4]);
        let gt = Tensor::from_slice(&[
            1f32, 1., 11., 12., 5., 5., 25., 30., 3., 2., 13., 17., 0., 0., 1., 1.,
        ])
        .view([4, 4]);
        let t = h.coder.encode(&gt, &p);
        TrainingSamples {
            proposals: vec![p.narrow(0, 0, 3), p.narrow(0, 3, 1)],
            indices: vec![],
            matched_idxs: vec![],
            labels: vec![
                Tensor::from_slice(&[2i64, 0, 3]),
                Tensor::from_slice(&[0i64]),
            ],
            matched_gt_boxes: vec![gt.narrow(0, 0, 3), gt.narrow(0, 3, 1)],
            regression_targets: vec![t.narrow(0, 0, 3), t.narrow(0, 3, 1)],
        }
    }

    fn outputs() -> HeadOutput {
        tch::manual_seed(1);
        HeadOutput {
            class_logits: Tensor::randn([4, 4], (Kind::Float, Device::Cpu)),
            box_regression: Tensor::randn([4, 16], (Kind::Float, Device::Cpu)) * 0.3,
        }
    }

    #[test]
    fn the_default_is_cross_entropy_and_smooth_l1_on_the_positives_own_class() {
        let (_vs, h) = heads();
        let (s, o) = (samples(&h), outputs());
        let l = h.losses(
            &o,
            &s,
            &BoxClassLoss::Softmax,
            &SmoothL1 { beta: 1.0 / 9.0 },
        );
        // By hand: −log softmax at the label, averaged; smooth L1 of rows 0 (class 2), 2 (class 3).
        let lsm = o.class_logits.log_softmax(1, Kind::Float);
        let want_cls = -(lsm.double_value(&[0, 2])
            + lsm.double_value(&[1, 0])
            + lsm.double_value(&[2, 3])
            + lsm.double_value(&[3, 0]))
            / 4.0;
        let t = Tensor::cat(&s.regression_targets, 0);
        let sl1 = |d: f64| {
            if d.abs() < 1.0 / 9.0 {
                4.5 * d * d
            } else {
                d.abs() - 1.0 / 18.0
            }
        };
        let want_reg: f64 = [(0i64, 2i64), (2, 3)]
            .iter()
            .map(|&(r, c)| {
                (0..4)
                    .map(|j| {
                        sl1(o.box_regression.double_value(&[r, c * 4 + j])
                            - t.double_value(&[r, j]))
                    })
                    .sum::<f64>()
            })
            .sum::<f64>()
            / 4.0;
        assert!((l.cls.double_value(&[]) - want_cls).abs() < 1e-5);
        assert!((l.reg.double_value(&[]) - want_reg).abs() < 1e-5);
    }

    #[test]
    fn registry_losses_see_background_relative_logits_and_decoded_boxes() {
        let (_vs, h) = heads();
        let (s, o) = (samples(&h), outputs());
        let focal = Focal {
            alpha: 0.25,
            gamma: 2.0,
        };
        let l = h.losses(&o, &s, &BoxClassLoss::Registry(&focal), &Giou);
        let fg = foreground_logits(&o.class_logits);
        let labels = Tensor::cat(&s.labels, 0);
        let want = focal.value(&fg, &labels, 2.0).double_value(&[]);
        assert!((l.cls.double_value(&[]) - want).abs() < 1e-5);
        let rows = Tensor::from_slice(&[0i64, 2]);
        let d = o.box_regression.view([4, 4, 4]).index_select(0, &rows);
        let pred = Tensor::stack(&[d.get(0).get(2), d.get(1).get(3)], 0);
        let boxes = h
            .coder
            .decode(&pred, &Tensor::cat(&s.proposals, 0).index_select(0, &rows));
        let gt = Tensor::cat(&s.matched_gt_boxes, 0).index_select(0, &rows);
        let want = Giou.per_box(&boxes, &gt).sum(Kind::Float).double_value(&[]) / 4.0;
        assert!((l.reg.double_value(&[]) - want).abs() < 1e-5);
        assert_eq!(BoxClassLoss::Registry(&focal).score(), Score::Sigmoid);
    }
}
