//! Faster R-CNN's region proposal network as torchvision 0.26 builds it
//! (`models/detection/rpn.py`, `fasterrcnn_resnet50_fpn` v1): the head
//! ([`crate::trainer::heads::rpn::RpnHead`], `rpn.head`) on every FPN level (P2–P5 and the
//! max-pooled P6), anchors of one size per level (32 … 512) and ratios (0.5, 1, 2), the box
//! coder with weights (1, 1, 1, 1), proposal filtering ([`proposals`]), and in training the
//! matcher (0.7, 0.3, low-quality matches allowed), the balanced sampler
//! ([`super::sampler`]) and the two losses ([`loss`]).
//!
//! The proposals are decoded from detached deltas and filtered on detached objectness, so no
//! gradient reaches the RPN through the second stage, as in torchvision.

#[cfg(test)]
mod golden;
pub mod loss;
pub mod proposals;

use super::anchors::AnchorGenerator;
use super::box_coder::BoxCoder;
use super::matcher::Matcher;
use super::sampler::BalancedSampler;
use crate::trainer::heads::rpn::{flatten_level, RpnHead, RpnLevel};
use tch::{nn, Tensor};

pub use proposals::Proposals;

/// Everything that shapes torchvision's RPN; [`RpnConfig::torchvision`] gives
/// `fasterrcnn_resnet50_fpn`'s defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RpnConfig {
    /// Anchor sizes of each level (`rpn_anchor_generator`'s sizes).
    pub anchor_sizes: Vec<Vec<f64>>,
    /// Aspect ratios (h / w), the same on every level.
    pub aspect_ratios: Vec<f64>,
    /// Proposals kept per level before NMS, in training and at test time.
    pub pre_nms_top_n_train: i64,
    pub pre_nms_top_n_test: i64,
    /// Proposals kept per image after NMS.
    pub post_nms_top_n_train: i64,
    pub post_nms_top_n_test: i64,
    /// IoU of the NMS run per level.
    pub nms_thresh: f64,
    /// An anchor with IoU ≥ `fg_iou` is positive, < `bg_iou` negative, between ignored.
    pub fg_iou: f64,
    pub bg_iou: f64,
    /// Anchors sampled per image for the losses, and the positive share at most.
    pub batch_size_per_image: i64,
    pub positive_fraction: f64,
    /// Proposals with sigmoid(objectness) below are dropped (torchvision keeps `>=`).
    pub score_thresh: f64,
    /// Proposals with a side below are dropped (torchvision's fixed `min_size = 1e-3`).
    pub min_size: f64,
}

impl RpnConfig {
    /// `fasterrcnn_resnet50_fpn`'s RPN.
    pub fn torchvision() -> RpnConfig {
        RpnConfig {
            anchor_sizes: [32.0, 64.0, 128.0, 256.0, 512.0]
                .iter()
                .map(|&s| vec![s])
                .collect(),
            aspect_ratios: vec![0.5, 1.0, 2.0],
            pre_nms_top_n_train: 2000,
            pre_nms_top_n_test: 1000,
            post_nms_top_n_train: 2000,
            post_nms_top_n_test: 1000,
            nms_thresh: 0.7,
            fg_iou: 0.7,
            bg_iou: 0.3,
            batch_size_per_image: 256,
            positive_fraction: 0.5,
            score_thresh: 0.0,
            min_size: 1e-3,
        }
    }

    /// `(pre_nms_top_n, post_nms_top_n)` of a mode.
    pub fn top_n(&self, training: bool) -> (i64, i64) {
        if training {
            (self.pre_nms_top_n_train, self.post_nms_top_n_train)
        } else {
            (self.pre_nms_top_n_test, self.post_nms_top_n_test)
        }
    }
}

/// What the RPN computes for a batch.
#[derive(Debug)]
pub struct RpnOutput {
    /// The head's raw outputs per level (`[B, A, H, W]`, `[B, 4·A, H, W]`).
    pub levels: Vec<RpnLevel>,
    /// Objectness logits `[B, N]` over all levels (level, location, anchor order).
    pub objectness: Tensor,
    /// Deltas `[B, N, 4]` in the same order.
    pub deltas: Tensor,
    /// The anchors `[N, 4]` (the same for every image of the padded batch).
    pub anchors: Tensor,
    /// Anchors per level.
    pub per_level: Vec<i64>,
    /// The proposals of each image, in the batch's pixels (detached).
    pub proposals: Vec<Proposals>,
}

/// torchvision's `RegionProposalNetwork`.
#[derive(Debug)]
pub struct Rpn {
    pub head: RpnHead,
    pub anchor_generator: AnchorGenerator,
    pub coder: BoxCoder,
    pub matcher: Matcher,
    pub sampler: BalancedSampler,
    pub cfg: RpnConfig,
}

impl Rpn {
    /// Registers the head under `p` (torchvision's `rpn`, so `rpn.head.conv.0.0.weight`, ...)
    /// for FPN levels of `in_channels` channels.
    pub fn new(p: &nn::Path, in_channels: i64, cfg: &RpnConfig) -> Rpn {
        let anchor_generator = AnchorGenerator::new(&cfg.anchor_sizes, &cfg.aspect_ratios);
        let head = RpnHead::new(&(p / "head"), in_channels, anchor_generator.per_location());
        Rpn {
            head,
            anchor_generator,
            // torchvision's BoxCoder(weights=(1, 1, 1, 1)): RetinaNet's coder.
            coder: BoxCoder::retinanet(),
            matcher: Matcher {
                high: cfg.fg_iou,
                low: cfg.bg_iou,
                allow_low_quality: true,
            },
            sampler: BalancedSampler {
                batch_size_per_image: cfg.batch_size_per_image,
                positive_fraction: cfg.positive_fraction,
            },
            cfg: cfg.clone(),
        }
    }

    /// The head, the anchors and the filtered proposals of FPN levels `features` (finest
    /// first) of a padded batch of `batch_hw` whose images are `image_sizes` (`(h, w)` before
    /// padding). `training` picks the top-n counts.
    pub fn forward(
        &self,
        features: &[Tensor],
        batch_hw: (i64, i64),
        image_sizes: &[(i64, i64)],
        training: bool,
    ) -> RpnOutput {
        let levels = self.head.forward(features);
        let grids: Vec<(i64, i64)> = features
            .iter()
            .map(|f| (f.size()[2], f.size()[3]))
            .collect();
        let device = features[0].device();
        let per_level_anchors = self.anchor_generator.grid_anchors(batch_hw, &grids, device);
        let per_level: Vec<i64> = per_level_anchors.iter().map(|a| a.size()[0]).collect();
        let anchors = Tensor::cat(&per_level_anchors, 0);
        let obj: Vec<Tensor> = levels
            .iter()
            .map(|l| flatten_level(&l.objectness, 1))
            .collect();
        let del: Vec<Tensor> = levels.iter().map(|l| flatten_level(&l.deltas, 4)).collect();
        let objectness = Tensor::cat(&obj, 1).squeeze_dim(2);
        let deltas = Tensor::cat(&del, 1);
        let b = deltas.size()[0];
        let n = anchors.size()[0];
        let boxes = {
            let d = deltas.detach().reshape([-1, 4]);
            let a = anchors.repeat([b, 1]);
            self.coder.decode(&d, &a).view([b, n, 4])
        };
        let (pre, post) = self.cfg.top_n(training);
        let proposals = proposals::filter(
            &boxes,
            &objectness.detach(),
            &per_level,
            image_sizes,
            &proposals::Filter {
                pre_nms_top_n: pre,
                post_nms_top_n: post,
                nms_thresh: self.cfg.nms_thresh,
                score_thresh: self.cfg.score_thresh,
                min_size: self.cfg.min_size,
            },
        );
        RpnOutput {
            levels,
            objectness,
            deltas,
            anchors,
            per_level,
            proposals,
        }
    }
}
