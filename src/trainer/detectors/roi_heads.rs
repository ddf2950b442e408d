//! Faster R-CNN's second stage as torchvision 0.26 builds it for `fasterrcnn_resnet50_fpn` (v1,
//! `models/detection/roi_heads.py`): in training, each image's ground-truth boxes are appended to
//! its proposals, every proposal takes its best box by IoU (`Matcher(0.5, 0.5)`, no low-quality
//! matches: label 0 below 0.5), a balanced sample of 512 per image at positive fraction 0.25 is
//! drawn ([`BalancedSampler`]), and the sampled proposals' regression targets are encoded with
//! the box coder's weights (10, 10, 5, 5). The pooled features of the sampled proposals (in eval:
//! of all proposals) go through the box head ([`BoxHead`]); the losses are in [`loss`], the
//! detections in [`postprocess`].
//!
//! The pooling (MultiScaleRoIAlign) is the caller's: a closure from the proposals of each image
//! to the pooled features `[R, C, S, S]` (rows image-major, in the order of the proposals).

pub mod loss;
pub mod postprocess;

#[cfg(test)]
mod golden;

use super::box_coder::BoxCoder;
use super::matcher::{Matcher, BELOW_LOW, BETWEEN};
use super::retinanet::{Detections, Target};
use super::sampler::{BalancedSampler, Draw};
use crate::trainer::box_ops::box_iou;
use crate::trainer::heads::box_head::{BoxHead, REPRESENTATION};
use crate::trainer::losses::RegLoss;
use loss::BoxClassLoss;
use tch::{nn, Kind, Tensor};

/// Everything that shapes torchvision's `RoIHeads` (box branch only).
#[derive(Debug, Clone, PartialEq)]
pub struct RoiHeadsConfig {
    /// Columns of the class logits, background (column 0) included (torchvision's
    /// `num_classes`).
    pub num_classes: i64,
    /// Channels of the pooled features (the FPN's).
    pub pooled_channels: i64,
    /// Side of the pooled features (MultiScaleRoIAlign's `output_size`).
    pub resolution: i64,
    pub representation: i64,
    pub fg_iou: f64,
    pub bg_iou: f64,
    pub batch_size_per_image: i64,
    pub positive_fraction: f64,
    pub box_coder_weights: [f64; 4],
    pub score_thresh: f64,
    pub nms_thresh: f64,
    pub detections_per_img: i64,
}

impl RoiHeadsConfig {
    /// `fasterrcnn_resnet50_fpn`'s defaults for `num_classes` (background included).
    pub fn torchvision(num_classes: i64) -> RoiHeadsConfig {
        RoiHeadsConfig {
            num_classes,
            pooled_channels: 256,
            resolution: 7,
            representation: REPRESENTATION,
            fg_iou: 0.5,
            bg_iou: 0.5,
            batch_size_per_image: 512,
            positive_fraction: 0.25,
            box_coder_weights: [10.0, 10.0, 5.0, 5.0],
            score_thresh: 0.05,
            nms_thresh: 0.5,
            detections_per_img: 100,
        }
    }
}

pub use super::Losses;

/// The sampled proposals of each image and what they are trained towards.
#[derive(Debug)]
pub struct TrainingSamples {
    /// Sampled proposals `[S_i, 4]`.
    pub proposals: Vec<Tensor>,
    /// Their indices among the image's proposals followed by its ground-truth boxes.
    pub indices: Vec<Tensor>,
    /// The matched ground-truth box of each (0 for background, as torchvision clamps it).
    pub matched_idxs: Vec<Tensor>,
    /// 0 background, `k ≥ 1` a class column.
    pub labels: Vec<Tensor>,
    /// The matched boxes `[S_i, 4]` (zeros in an image without objects).
    pub matched_gt_boxes: Vec<Tensor>,
    /// Encoded targets `[S_i, 4]` (only the positives' are used).
    pub regression_targets: Vec<Tensor>,
}

/// The box head's outputs over all pooled proposals (rows image-major).
#[derive(Debug)]
pub struct HeadOutput {
    /// `[R, K + 1]`.
    pub class_logits: Tensor,
    /// `[R, (K + 1)·4]`.
    pub box_regression: Tensor,
}

/// The training forward: what was sampled, the head's outputs on it, the two losses (unweighted:
/// the caller weights each).
#[derive(Debug)]
pub struct TrainOutput {
    pub samples: TrainingSamples,
    pub head: HeadOutput,
    pub losses: Losses,
}

/// torchvision's `RoIHeads` (box branch).
#[derive(Debug)]
pub struct RoiHeads {
    pub head: BoxHead,
    pub coder: BoxCoder,
    pub matcher: Matcher,
    pub sampler: BalancedSampler,
    pub cfg: RoiHeadsConfig,
}

impl RoiHeads {
    /// Registers the box head under `p` (the model's `roi_heads` path).
    pub fn new(p: &nn::Path, cfg: &RoiHeadsConfig) -> RoiHeads {
        RoiHeads {
            head: BoxHead::new(
                p,
                cfg.pooled_channels,
                cfg.resolution,
                cfg.representation,
                cfg.num_classes,
            ),
            coder: BoxCoder {
                weights: cfg.box_coder_weights,
                clip: (1000.0f64 / 16.0).ln(),
            },
            matcher: Matcher {
                high: cfg.fg_iou,
                low: cfg.bg_iou,
                allow_low_quality: false,
            },
            sampler: BalancedSampler {
                batch_size_per_image: cfg.batch_size_per_image,
                positive_fraction: cfg.positive_fraction,
            },
            cfg: cfg.clone(),
        }
    }

    /// torchvision's `assign_targets_to_proposals` for one image: the clamped matched box of
    /// each proposal and its label (0 background, −1 between the thresholds, else the box's).
    pub fn assign(&self, proposals: &Tensor, target: &Target) -> (Tensor, Tensor) {
        let n = proposals.size()[0];
        let opts = (Kind::Int64, proposals.device());
        if target.boxes.numel() == 0 {
            return (Tensor::zeros([n], opts), Tensor::zeros([n], opts));
        }
        let gt = target.boxes.to_kind(proposals.kind());
        let matched = self.matcher.assign(&box_iou(&gt, proposals));
        let clamped = matched.clamp_min(0);
        let labels = target
            .labels
            .to_kind(Kind::Int64)
            .index_select(0, &clamped)
            .masked_fill(&matched.eq(BELOW_LOW), 0)
            .masked_fill(&matched.eq(BETWEEN), -1);
        (clamped, labels)
    }

    /// torchvision's `select_training_samples`: ground truth appended to the proposals,
    /// matched, sampled with `draw`, and the sampled ones' regression targets encoded.
    pub fn select_training_samples(
        &self,
        proposals: &[Tensor],
        targets: &[Target],
        draw: &mut dyn Draw,
    ) -> TrainingSamples {
        let mut s = TrainingSamples {
            proposals: vec![],
            indices: vec![],
            matched_idxs: vec![],
            labels: vec![],
            matched_gt_boxes: vec![],
            regression_targets: vec![],
        };
        let assigned: Vec<(Tensor, Tensor, Tensor)> = proposals
            .iter()
            .zip(targets)
            .map(|(p, t)| {
                let all = Tensor::cat(&[p, &t.boxes.to_kind(p.kind())], 0);
                let (matched, labels) = self.assign(&all, t);
                (all, matched, labels)
            })
            .collect();
        let labels: Vec<Tensor> = assigned.iter().map(|a| a.2.shallow_clone()).collect();
        let sampled = self.sampler.sample(&labels, draw);
        for (((p, t), (all, matched, labels)), drawn) in
            proposals.iter().zip(targets).zip(assigned).zip(sampled)
        {
            let gt = t.boxes.to_kind(p.kind());
            let idx = drawn.indices();
            let sampled = all.index_select(0, &idx);
            let matched = matched.index_select(0, &idx);
            let gt = if gt.numel() == 0 {
                Tensor::zeros([1, 4], (p.kind(), p.device()))
            } else {
                gt
            };
            let matched_gt = gt.index_select(0, &matched);
            s.regression_targets
                .push(self.coder.encode(&matched_gt, &sampled));
            s.labels.push(labels.index_select(0, &idx));
            s.proposals.push(sampled);
            s.indices.push(idx);
            s.matched_idxs.push(matched);
            s.matched_gt_boxes.push(matched_gt);
        }
        s
    }

    /// The box head on pooled features `[R, C, S, S]`.
    pub fn forward_head(&self, pooled: &Tensor) -> HeadOutput {
        let (class_logits, box_regression) = self.head.forward(pooled);
        HeadOutput {
            class_logits,
            box_regression,
        }
    }

    /// The training forward: sample, pool the sampled proposals with `pool`, run the head, and
    /// compute the two losses with `cls` and `reg`. The targets' labels are class columns
    /// (`1..=K`; 0 is the background), their boxes in the proposals' pixels.
    pub fn forward_train(
        &self,
        pool: &dyn Fn(&[Tensor]) -> Tensor,
        proposals: &[Tensor],
        targets: &[Target],
        draw: &mut dyn Draw,
        cls: &BoxClassLoss,
        reg: &dyn RegLoss,
    ) -> TrainOutput {
        let samples = self.select_training_samples(proposals, targets, draw);
        let head = self.forward_head(&pool(&samples.proposals));
        let losses = self.losses(&head, &samples, cls, reg);
        TrainOutput {
            samples,
            head,
            losses,
        }
    }

    /// The eval forward: pool every proposal, run the head, post-process with the score
    /// function of the classification loss the head was trained with.
    pub fn forward_eval(
        &self,
        pool: &dyn Fn(&[Tensor]) -> Tensor,
        proposals: &[Tensor],
        image_sizes: &[(i64, i64)],
        cls: &BoxClassLoss,
    ) -> Vec<Detections> {
        let head = self.forward_head(&pool(proposals));
        self.postprocess(&head, proposals, image_sizes, cls.score())
    }
}
