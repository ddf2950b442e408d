//! FCOS as torchvision 0.26 builds it (`fcos_resnet50_fpn`), whole: a ResNet body
//! ([`crate::trainer::backbones::ResNet`], `backbone.body`), the FPN with P6/P7 from P5
//! ([`crate::trainer::necks::Fpn`], `backbone.fpn`, the same `LastLevelP6P7(256, 256)` as
//! RetinaNet v1), and the head with its matching, losses and post-processing
//! ([`super::fcos::FcosDetector`], `head`). Parameter names are torchvision's state-dict names,
//! so `fcos_resnet50_fpn_coco` loads unchanged after `scripts/convert-weights`.

use super::fcos::{FcosDetector, FcosParams};
use crate::trainer::backbones::{resnet_fpn, ResNet};
use crate::trainer::head::HeadOutput;
use crate::trainer::losses::Score;
use crate::trainer::necks::Fpn;
use crate::trainer::objective::{Objective, Terms};
use crate::trainer::postprocess::Det;
use crate::trainer::synth::Object;
use crate::trainer::TrainError;
use tch::{nn, Tensor};

/// Everything that shapes a torchvision FCOS.
#[derive(Debug, Clone, PartialEq)]
pub struct FcosModelConfig {
    /// ResNet depth (18, 34, 50, 101, 152).
    pub depth: u32,
    /// torchvision's `trainable_backbone_layers` (0 to 5).
    pub trainable_layers: u32,
    /// Columns of the class logits (torchvision's `num_classes`).
    pub num_classes: i64,
    pub fpn_channels: i64,
    /// Convolutions per head tower.
    pub num_convs: i64,
    pub params: FcosParams,
    /// The points of a distribution regression (UGS); `None`: torchvision's distances.
    pub grid: Option<Vec<f64>>,
}

impl FcosModelConfig {
    /// `fcos_resnet50_fpn`'s defaults for a depth and a class count.
    pub fn torchvision(depth: u32, num_classes: i64) -> FcosModelConfig {
        FcosModelConfig {
            depth,
            trainable_layers: 3,
            num_classes,
            fpn_channels: 256,
            num_convs: 4,
            params: FcosParams::default(),
            grid: None,
        }
    }
}

/// torchvision's FCOS.
#[derive(Debug)]
pub struct FcosModel {
    pub body: ResNet,
    pub fpn: Fpn,
    pub detector: FcosDetector,
}

impl FcosModel {
    /// Registers the parameters under `root` with torchvision's names.
    pub fn new(root: &nn::Path, cfg: &FcosModelConfig) -> FcosModel {
        let (body, fpn) = resnet_fpn(root, cfg.depth, cfg.trainable_layers, cfg.fpn_channels);
        let detector = FcosDetector::new(
            root,
            cfg.fpn_channels,
            cfg.num_classes,
            cfg.num_convs,
            cfg.params.clone(),
            cfg.grid.as_deref(),
        );
        FcosModel {
            body,
            fpn,
            detector,
        }
    }

    /// FPN levels P3–P7 of a padded, normalised batch `[B, 3, H, W]`.
    pub fn features(&self, images: &Tensor) -> Vec<Tensor> {
        let c = self.body.forward(images);
        self.fpn.forward(&c[1..])
    }

    /// The head's outputs flattened over (level, y, x) (see [`crate::trainer::heads::fcos`]).
    pub fn head_outputs(&self, images: &Tensor) -> HeadOutput {
        self.detector.head.forward(&self.features(images))
    }

    /// The loss terms of a batch against `objects[b]` (image `b`'s boxes in the batch's pixels).
    pub fn train_terms(
        &self,
        objective: &Objective,
        images: &Tensor,
        objects: &[&[Object]],
    ) -> Result<Terms, TrainError> {
        let s = images.size();
        self.detector
            .train_terms(objective, &self.features(images), [s[2], s[3]], objects)
    }

    /// Detections of each image in the batch's pixels, clipped to `image_sizes[b]` (`[h, w]`
    /// before padding).
    pub fn detect(
        &self,
        images: &Tensor,
        image_sizes: &[[i64; 2]],
        score: Score,
    ) -> Result<Vec<Vec<Det>>, TrainError> {
        let _guard = tch::no_grad_guard();
        let s = images.size();
        self.detector
            .detect_levels(&self.features(images), [s[2], s[3]], image_sizes, score)
    }
}
