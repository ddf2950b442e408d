//! Faster R-CNN as torchvision 0.26 assembles it (`GeneralizedRCNN` / `FasterRCNN`,
//! `fasterrcnn_resnet50_fpn` v1): a ResNet body and an FPN on C2–C5 with a max-pooled P6
//! (`backbone.body`, `backbone.fpn`), the RPN on all five levels (`rpn`, [`super::rpn`]),
//! MultiScaleRoIAlign(['0', '1', '2', '3'], 7, 2) on P2–P5 ([`crate::trainer::roi`]) and the
//! box branch of `RoIHeads` (`roi_heads`, [`super::roi_heads`]). Parameter names are
//! torchvision's state dict's, so its checkpoints load after `scripts/convert-weights`.
//!
//! Training returns the four losses unweighted (the caller weights each stage, fixed or ALWA);
//! both samplers draw through an injectable [`Draw`] (a training run: [`super::sampler::Seeded`]
//! keyed by the job's seed, the iteration and the stage). The input transform is the caller's
//! (`GeneralizedRCNNTransform`, [`crate::trainer::transform`]). Labels here are logit columns
//! `0..K` as the other detectors' ([`Target`]); the box head's columns are those plus one
//! (column 0 is the background).

use super::retinanet::{Detections, Target};
use super::roi_heads::loss::BoxClassLoss;
use super::roi_heads::{RoiHeads, RoiHeadsConfig};
use super::rpn::{Rpn, RpnConfig};
use super::sampler::Draw;
use crate::trainer::backbones::{resnet_fpn_maxpool, ResNet};
use crate::trainer::losses::RegLoss;
use crate::trainer::necks::fpn::Fpn;
use crate::trainer::roi::pooler::MultiScaleRoIAlign;
use tch::{nn, Tensor};

/// FPN levels the box head pools from (torchvision's `featmap_names=['0', '1', '2', '3']`).
const POOLED_LEVELS: usize = 4;

/// Everything that shapes the detector.
#[derive(Debug, Clone, PartialEq)]
pub struct FasterRcnnConfig {
    pub depth: u32,
    pub trainable_layers: u32,
    pub fpn_channels: i64,
    pub rpn: RpnConfig,
    /// The box branch; its `num_classes` counts the background.
    pub roi: RoiHeadsConfig,
}

impl FasterRcnnConfig {
    /// `fasterrcnn_resnet50_fpn`'s settings on a ResNet of `depth` for `num_classes` object
    /// classes (background not counted).
    pub fn torchvision(depth: u32, num_classes: i64) -> FasterRcnnConfig {
        FasterRcnnConfig {
            depth,
            trainable_layers: 3,
            fpn_channels: 256,
            rpn: RpnConfig::torchvision(),
            roi: RoiHeadsConfig::torchvision(num_classes + 1),
        }
    }
}

/// The four training losses, unweighted (torchvision's `loss_objectness`, `loss_rpn_box_reg`,
/// `loss_classifier`, `loss_box_reg`).
#[derive(Debug)]
pub struct FasterRcnnLosses {
    pub rpn_cls: Tensor,
    pub rpn_reg: Tensor,
    /// What the box head's classification back-propagates (AP-/AUC-loss: a surrogate).
    pub cls_backprop: Tensor,
    /// The box head's logged classification value (detached).
    pub cls: Tensor,
    pub reg: Tensor,
}

/// How each stage's losses are computed and sampled.
pub struct StageLosses<'a> {
    pub rpn_reg: &'a dyn RegLoss,
    pub rpn_draw: &'a mut dyn Draw,
    pub cls: BoxClassLoss<'a>,
    pub reg: &'a dyn RegLoss,
    pub roi_draw: &'a mut dyn Draw,
}

/// torchvision's `FasterRCNN`.
#[derive(Debug)]
pub struct FasterRcnn {
    pub body: ResNet,
    pub fpn: Fpn,
    pub rpn: Rpn,
    pub pooler: MultiScaleRoIAlign,
    pub roi_heads: RoiHeads,
    pub cfg: FasterRcnnConfig,
}

impl FasterRcnn {
    pub fn new(root: &nn::Path, cfg: &FasterRcnnConfig) -> FasterRcnn {
        let (body, fpn) =
            resnet_fpn_maxpool(root, cfg.depth, cfg.trainable_layers, cfg.fpn_channels);
        let rpn = Rpn::new(&(root / "rpn"), cfg.fpn_channels, &cfg.rpn);
        let mut roi = cfg.roi.clone();
        roi.pooled_channels = cfg.fpn_channels;
        let roi_heads = RoiHeads::new(&(root / "roi_heads"), &roi);
        FasterRcnn {
            body,
            fpn,
            rpn,
            pooler: MultiScaleRoIAlign::new(roi.resolution, 2),
            roi_heads,
            cfg: FasterRcnnConfig { roi, ..cfg.clone() },
        }
    }

    /// The five FPN levels (P2–P5 and the pooled P6) of a padded, normalised batch.
    pub fn features(&self, images: &Tensor) -> Vec<Tensor> {
        self.fpn.forward(&self.body.forward(images))
    }

    /// The proposals of each image, in the batch's pixels (detached, as torchvision's).
    fn proposals(
        &self,
        features: &[Tensor],
        images: &Tensor,
        image_sizes: &[(i64, i64)],
        training: bool,
    ) -> (super::rpn::RpnOutput, Vec<Tensor>) {
        let s = images.size();
        let out = self
            .rpn
            .forward(features, (s[2], s[3]), image_sizes, training);
        let boxes = out
            .proposals
            .iter()
            .map(|p| p.boxes.shallow_clone())
            .collect();
        (out, boxes)
    }

    /// The losses of a batch against `targets` (labels `0..K`, boxes in the batch's pixels).
    pub fn losses(
        &self,
        images: &Tensor,
        image_sizes: &[(i64, i64)],
        targets: &[Target],
        stage: StageLosses,
    ) -> FasterRcnnLosses {
        let features = self.features(images);
        let (out, proposals) = self.proposals(&features, images, image_sizes, true);
        let gt: Vec<Tensor> = targets.iter().map(|t| t.boxes.shallow_clone()).collect();
        let rpn = self.rpn.losses(&out, &gt, stage.rpn_draw, stage.rpn_reg);
        let box_targets: Vec<Target> = targets
            .iter()
            .map(|t| Target {
                boxes: t.boxes.shallow_clone(),
                labels: &t.labels + 1,
            })
            .collect();
        let pool = |boxes: &[Tensor]| {
            self.pooler
                .forward(&features[..POOLED_LEVELS], boxes, image_sizes)
        };
        let heads = self.roi_heads.forward_train(
            &pool,
            &proposals,
            &box_targets,
            stage.roi_draw,
            &stage.cls,
            stage.reg,
        );
        FasterRcnnLosses {
            rpn_cls: rpn.objectness,
            rpn_reg: rpn.box_reg,
            cls_backprop: heads.losses.cls_backprop,
            cls: heads.losses.cls,
            reg: heads.losses.reg,
        }
    }

    /// Detections of each image in its resized pixels, labels `0..K`; `cls` decides how a
    /// logit becomes a score (the loss the box head was trained with).
    pub fn detect(
        &self,
        images: &Tensor,
        image_sizes: &[(i64, i64)],
        cls: &BoxClassLoss,
    ) -> Vec<Detections> {
        let features = self.features(images);
        let (_, proposals) = self.proposals(&features, images, image_sizes, false);
        let pool = |boxes: &[Tensor]| {
            self.pooler
                .forward(&features[..POOLED_LEVELS], boxes, image_sizes)
        };
        self.roi_heads
            .forward_eval(&pool, &proposals, image_sizes, cls)
            .into_iter()
            .map(|d| Detections {
                labels: d.labels - 1,
                ..d
            })
            .collect()
    }
}
