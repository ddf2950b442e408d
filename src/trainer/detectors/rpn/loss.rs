//! The RPN's training side, as torchvision's `assign_targets_to_anchors` and `compute_loss`:
//! each anchor is matched to its best ground-truth box (label 1 at IoU ≥ `fg_iou`, 0 below
//! `bg_iou`, −1 between; low-quality matches allowed; every anchor of an image without boxes is
//! negative), the balanced sampler picks anchors of each image, and
//! - objectness: binary cross-entropy with logits, averaged over the sampled anchors of the
//!   batch;
//! - box regression: the regression loss summed over the sampled positives, divided by the
//!   number of sampled anchors (torchvision: smooth L1 with β = 1/9 on the deltas,
//!   [`torchvision_box_loss`]; a registry loss in box space compares decoded boxes).

use super::{Rpn, RpnOutput};
use crate::trainer::box_ops::box_iou;
use crate::trainer::detectors::matcher::{BELOW_LOW, BETWEEN};
use crate::trainer::detectors::sampler::{Draw, Sampled};
use crate::trainer::losses::{smooth_l1::SmoothL1, RegLoss, Space};
use tch::{Kind, Reduction, Tensor};

/// torchvision's RPN box loss: smooth L1, β = 1/9.
pub fn torchvision_box_loss() -> SmoothL1 {
    SmoothL1 { beta: 1.0 / 9.0 }
}

/// The two RPN losses of a batch, and the anchors they were computed on.
#[derive(Debug)]
pub struct RpnLosses {
    /// torchvision's `loss_objectness`.
    pub objectness: Tensor,
    /// torchvision's `loss_rpn_box_reg`.
    pub box_reg: Tensor,
    /// The sampled anchors of each image (indices into the anchors).
    pub sampled: Vec<Sampled>,
}

/// One image's anchor labels (float: 1 positive, 0 negative, −1 ignored) and matched box
/// index per anchor (meaningful where the label is 1).
#[derive(Debug)]
pub struct Assigned {
    pub labels: Tensor,
    pub matched: Tensor,
}

impl Rpn {
    /// Labels and matches of `anchors [N, 4]` against one image's `gt [G, 4]`.
    pub fn assign(&self, anchors: &Tensor, gt: &Tensor) -> Assigned {
        let n = anchors.size()[0];
        let opts = (Kind::Float, anchors.device());
        if gt.numel() == 0 {
            return Assigned {
                labels: Tensor::zeros([n], opts),
                matched: Tensor::zeros([n], (Kind::Int64, anchors.device())),
            };
        }
        let matched = self.matcher.assign(&box_iou(gt, anchors));
        let mut labels = matched.ge(0).to_kind(Kind::Float);
        let _ = labels.masked_fill_(&matched.eq(BELOW_LOW), 0.0);
        let _ = labels.masked_fill_(&matched.eq(BETWEEN), -1.0);
        Assigned { labels, matched }
    }

    /// The losses of `out` against each image's ground-truth boxes `gt_boxes[b]` (`[G, 4]` in
    /// the batch's pixels), with the sampler's draws from `draw` and `reg` as the box loss
    /// ([`torchvision_box_loss`] for torchvision's).
    pub fn losses(
        &self,
        out: &RpnOutput,
        gt_boxes: &[Tensor],
        draw: &mut dyn Draw,
        reg: &dyn RegLoss,
    ) -> RpnLosses {
        let n = out.anchors.size()[0];
        let assigned: Vec<Assigned> = gt_boxes
            .iter()
            .map(|g| self.assign(&out.anchors, g))
            .collect();
        let labels: Vec<Tensor> = assigned.iter().map(|a| a.labels.shallow_clone()).collect();
        let sampled = self.sampler.sample(&labels, draw);
        // Global indices into the batch's anchors: every positive, then every negative.
        let global = |pick: fn(&Sampled) -> &Tensor| {
            let v: Vec<Tensor> = sampled
                .iter()
                .enumerate()
                .map(|(i, s)| pick(s) + i as i64 * n)
                .collect();
            Tensor::cat(&v, 0)
        };
        let pos = global(|s| &s.positives);
        let neg = global(|s| &s.negatives);
        let all = Tensor::cat(&[&pos, &neg], 0);
        let count = all.size()[0];

        let logits = out.objectness.reshape([-1]).index_select(0, &all);
        let target = Tensor::cat(&labels, 0).index_select(0, &all);
        let objectness = if count == 0 {
            out.objectness.sum(Kind::Float) * 0.0
        } else {
            logits.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, Reduction::Mean)
        };

        let pred = out.deltas.reshape([-1, 4]).index_select(0, &pos);
        let (gt, anchors): (Vec<Tensor>, Vec<Tensor>) = sampled
            .iter()
            .zip(&assigned)
            .zip(gt_boxes)
            .map(|((s, a), g)| {
                let p = &s.positives;
                let gt = if p.numel() == 0 {
                    Tensor::zeros([0, 4], (Kind::Float, out.anchors.device()))
                } else {
                    g.index_select(0, &a.matched.index_select(0, p))
                };
                (gt, out.anchors.index_select(0, p))
            })
            .unzip();
        let (gt, anchors) = (Tensor::cat(&gt, 0), Tensor::cat(&anchors, 0));
        let per_box = match reg.space() {
            Space::Encoded => reg.per_box(&pred, &self.coder.encode(&gt, &anchors)),
            Space::Boxes => reg.per_box(&self.coder.decode(&pred, &anchors), &gt),
        };
        let box_reg = per_box.sum(Kind::Float) / count.max(1) as f64;
        RpnLosses {
            objectness,
            box_reg,
            sampled,
        }
    }
}
