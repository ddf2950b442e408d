//! `model:`: the detector and its backbone, the tiny ones of the quick scale and the
//! torchvision-layout ones of the papers' scale.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[allow(unused_imports)]
use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    pub detector: DetectorSpec,
    pub backbone: BackboneSpec,
    /// Channels of every FPN level and of the head's towers.
    pub fpn_channels: i64,
    /// Convolutions in each head tower (classification and regression).
    pub head_convs: u32,
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec {
            detector: DetectorSpec::default(),
            backbone: BackboneSpec::default(),
            fpn_channels: 64,
            head_convs: 2,
        }
    }
}

/// The one-stage head and its target assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DetectorSpec {
    /// Anchor-free, one point per feature cell, ltrb distances, center-ness branch.
    Fcos {
        /// Center sampling radius in strides (0 = whole box).
        #[serde(default = "defaults::center_sampling_radius")]
        center_sampling_radius: f64,
        #[serde(default = "defaults::yes")]
        centerness: bool,
    },
    /// Anchor-based, IoU assignment, (dx, dy, dw, dh) offsets.
    Retinanet {
        /// Anchor side on each level = anchor_scale × stride.
        #[serde(default = "defaults::anchor_scale")]
        anchor_scale: f64,
        #[serde(default = "defaults::scales_per_octave")]
        scales_per_octave: u32,
        #[serde(default = "defaults::aspect_ratios")]
        aspect_ratios: Vec<f64>,
        #[serde(default = "defaults::pos_iou")]
        pos_iou: f64,
        #[serde(default = "defaults::neg_iou")]
        neg_iou: f64,
    },
    /// RetinaNet exactly as torchvision 0.26 builds it (`retinanet_resnet50_fpn`, v1) on a
    /// `resnet` backbone: FPN P3–P7 with P6/P7 from P5, 4-conv towers without normalisation,
    /// anchors (32, 40, 50) … (512, 645, 812) × ratios (0.5, 1, 2), matcher 0.5 / 0.4 with
    /// low-quality matches, box coder weights (1, 1, 1, 1), `GeneralizedRCNNTransform` input
    /// (ImageNet mean/std, shorter side `min_size` capped at `max_size`, padded to 32), and its
    /// own post-processing (these fields; `eval.score_threshold`, `pre_nms_top_k`, `nms_iou`
    /// and `max_detections` are the tiny detectors').
    TorchvisionRetinanet(TorchvisionRetinanetSpec),
    /// FCOS exactly as torchvision 0.26 builds it (`fcos_resnet50_fpn`) on a `resnet` backbone:
    /// the same FPN P3–P7 as `torchvision_retinanet` (`LastLevelP6P7(256, 256)`, P6 from P5), a
    /// head of `num_convs` convs with GroupNorm(32), anchors of 8–128 px, its centre-sampling
    /// matcher, focal + GIoU + center-ness, `GeneralizedRCNNTransform` input and its
    /// post-processing. The thresholds here replace `eval`'s for this detector.
    TorchvisionFcos(TorchvisionFcosSpec),
    /// SSD300 exactly as torchvision 0.26 builds it (`ssd300_vgg16`) on a `vgg16` backbone:
    /// conv4_3 (L2-normalised, learnable scale) and fc6/fc7 plus four extra blocks, a 3×3 conv
    /// head per map, 8732 default boxes, the SSD matcher (IoU 0.5, every box forced onto its best
    /// default box), box coder weights (10, 10, 5, 5), input resized to 300×300 with the VGG
    /// mean and 0–255 pixels, and its post-processing (these fields). With `loss.cls` `ce_ohem`
    /// it trains torchvision's own loss (softmax with a background column, hard negatives at
    /// `neg_pos_ratio`); torchvision's regression loss is `smooth_l1` with `beta: 1`.
    TorchvisionSsd(TorchvisionSsdSpec),
    /// Faster R-CNN exactly as torchvision 0.26 builds it (`fasterrcnn_resnet50_fpn`, v1) on a
    /// `resnet` backbone: FPN P2–P5 plus a max-pooled P6, the RPN (anchors 32–512 × ratios
    /// (0.5, 1, 2), proposals filtered per level, its balanced sampler and losses),
    /// MultiScaleRoIAlign(['0', '1', '2', '3'], 7, 2), the two-MLP box head and predictor, box
    /// coder weights (10, 10, 5, 5), `GeneralizedRCNNTransform` input and its post-processing.
    /// `loss.cls`, `loss.reg` and `loss.weights` are the box head's; `loss.rpn` the RPN's.
    TorchvisionFasterRcnn(TorchvisionFasterRcnnSpec),
}

/// The settings of [`DetectorSpec::TorchvisionSsd`]; the defaults are torchvision's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TorchvisionSsdSpec {
    /// IoU at which a default box is matched to a ground-truth box (`iou_thresh`).
    pub iou_thresh: f64,
    pub score_thresh: f64,
    pub nms_thresh: f64,
    pub detections_per_img: u32,
    /// Candidates kept per class before NMS.
    pub topk_candidates: u32,
    /// A whole detector's state dict in safetensors (e.g. torchvision's COCO SSD300 after
    /// `scripts/convert-weights`); absent: the backbone's `weights` and fresh layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// SHA-256 of `weights`, filled in by sweep when it expands the spec (part of the job id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

impl Default for TorchvisionSsdSpec {
    fn default() -> Self {
        TorchvisionSsdSpec {
            iou_thresh: 0.5,
            score_thresh: 0.01,
            nms_thresh: 0.45,
            detections_per_img: 200,
            topk_candidates: 400,
            weights: None,
            weights_sha256: None,
        }
    }
}

/// The settings of [`DetectorSpec::TorchvisionRetinanet`]; the defaults are torchvision's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TorchvisionRetinanetSpec {
    /// Shorter side of the network input (torchvision's `min_size`).
    pub min_size: u32,
    /// Cap on the longer side (torchvision's `max_size`).
    pub max_size: u32,
    /// Channels of the FPN levels and the head's towers.
    pub fpn_channels: i64,
    pub score_thresh: f64,
    pub nms_thresh: f64,
    pub detections_per_img: u32,
    /// Candidates kept per level before NMS.
    pub topk_candidates: u32,
    /// A whole detector's state dict in safetensors (e.g. torchvision's COCO RetinaNet after
    /// `scripts/convert-weights`); absent: the backbone's `weights` and a fresh FPN and head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// SHA-256 of `weights`, filled in by sweep when it expands the spec (part of the job id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

impl Default for TorchvisionRetinanetSpec {
    fn default() -> Self {
        TorchvisionRetinanetSpec {
            min_size: 800,
            max_size: 1333,
            fpn_channels: 256,
            score_thresh: 0.05,
            nms_thresh: 0.5,
            detections_per_img: 300,
            topk_candidates: 1000,
            weights: None,
            weights_sha256: None,
        }
    }
}

/// The settings of [`DetectorSpec::TorchvisionFcos`]; the defaults are torchvision's
/// (`fcos_resnet50_fpn` and `FCOS`'s constructor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TorchvisionFcosSpec {
    /// Shorter side of the network input (torchvision's `min_size`).
    pub min_size: u32,
    /// Cap on the longer side (torchvision's `max_size`).
    pub max_size: u32,
    /// Channels of the FPN levels and the head's towers (a multiple of 32: GroupNorm(32)).
    pub fpn_channels: i64,
    /// Centre sampling radius in anchor sizes.
    pub center_sampling_radius: f64,
    /// Detections scoring at most this are dropped (`score_thresh`).
    pub score_thresh: f64,
    /// Class-wise NMS IoU threshold (`nms_thresh`).
    pub nms_thresh: f64,
    /// Detections kept per image (`detections_per_img`).
    pub detections_per_img: u32,
    /// Candidates kept per level before NMS (`topk_candidates`).
    pub topk_candidates: u32,
    /// Convolutions per head tower (`FCOSHead`'s `num_convs`).
    pub num_convs: u32,
    /// A whole detector's state dict in safetensors (e.g. torchvision's COCO FCOS after
    /// `scripts/convert-weights`); absent: the backbone's `weights` and a fresh FPN and head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// SHA-256 of `weights`, filled in by sweep when it expands the spec (part of the job id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

impl Default for TorchvisionFcosSpec {
    fn default() -> Self {
        TorchvisionFcosSpec {
            min_size: 800,
            max_size: 1333,
            fpn_channels: 256,
            center_sampling_radius: defaults::center_sampling_radius(),
            score_thresh: defaults::tv_fcos_score_thresh(),
            nms_thresh: defaults::tv_fcos_nms_thresh(),
            detections_per_img: defaults::tv_detections_per_img(),
            topk_candidates: defaults::tv_topk_candidates(),
            num_convs: defaults::tv_num_convs(),
            weights: None,
            weights_sha256: None,
        }
    }
}

/// The settings of [`DetectorSpec::TorchvisionFasterRcnn`]; names and defaults are
/// torchvision's `FasterRCNN` constructor arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TorchvisionFasterRcnnSpec {
    /// Shorter side of the network input (torchvision's `min_size`).
    pub min_size: u32,
    /// Cap on the longer side (torchvision's `max_size`).
    pub max_size: u32,
    /// Channels of the FPN levels (the RPN head's and the pooled features').
    pub fpn_channels: i64,
    /// Width of the box head's two fully connected layers (`TwoMLPHead`'s representation).
    pub representation_size: i64,
    /// Proposals kept per level before the RPN's NMS, in training and at test time.
    pub rpn_pre_nms_top_n_train: u32,
    pub rpn_pre_nms_top_n_test: u32,
    /// Proposals kept per image after the RPN's NMS.
    pub rpn_post_nms_top_n_train: u32,
    pub rpn_post_nms_top_n_test: u32,
    pub rpn_nms_thresh: f64,
    /// An anchor with IoU ≥ fg is an RPN positive, below bg a negative.
    pub rpn_fg_iou_thresh: f64,
    pub rpn_bg_iou_thresh: f64,
    /// Anchors sampled per image for the RPN's losses, and the positive share at most.
    pub rpn_batch_size_per_image: u32,
    pub rpn_positive_fraction: f64,
    /// Proposals with sigmoid(objectness) below are dropped.
    pub rpn_score_thresh: f64,
    /// Detections scoring at most this are dropped.
    pub box_score_thresh: f64,
    /// Class-wise NMS IoU threshold of the detections.
    pub box_nms_thresh: f64,
    pub box_detections_per_img: u32,
    /// A proposal with IoU ≥ fg is a box-head positive, below bg a background.
    pub box_fg_iou_thresh: f64,
    pub box_bg_iou_thresh: f64,
    /// Proposals sampled per image for the box head's losses, and the positive share at most.
    pub box_batch_size_per_image: u32,
    pub box_positive_fraction: f64,
    /// A whole detector's state dict in safetensors (e.g. torchvision's COCO Faster R-CNN after
    /// `scripts/convert-weights`); absent: the backbone's `weights` and a fresh FPN and heads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// SHA-256 of `weights`, filled in by sweep when it expands the spec (part of the job id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

impl Default for TorchvisionFasterRcnnSpec {
    fn default() -> Self {
        TorchvisionFasterRcnnSpec {
            min_size: 800,
            max_size: 1333,
            fpn_channels: 256,
            representation_size: 1024,
            rpn_pre_nms_top_n_train: 2000,
            rpn_pre_nms_top_n_test: 1000,
            rpn_post_nms_top_n_train: 2000,
            rpn_post_nms_top_n_test: 1000,
            rpn_nms_thresh: 0.7,
            rpn_fg_iou_thresh: 0.7,
            rpn_bg_iou_thresh: 0.3,
            rpn_batch_size_per_image: 256,
            rpn_positive_fraction: 0.5,
            rpn_score_thresh: 0.0,
            box_score_thresh: 0.05,
            box_nms_thresh: 0.5,
            box_detections_per_img: 100,
            box_fg_iou_thresh: 0.5,
            box_bg_iou_thresh: 0.5,
            box_batch_size_per_image: 512,
            box_positive_fraction: 0.25,
            weights: None,
            weights_sha256: None,
        }
    }
}

impl Default for DetectorSpec {
    fn default() -> Self {
        DetectorSpec::Fcos {
            center_sampling_radius: defaults::center_sampling_radius(),
            centerness: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackboneSpec {
    /// A compact ResNet: a stem and four stages of basic blocks (strides 4, 8, 16, 32).
    TinyResnet {
        /// Channels of the first stage; each later stage doubles them.
        #[serde(default = "defaults::width")]
        width: i64,
        /// Basic blocks per stage.
        #[serde(default = "defaults::blocks")]
        blocks: Vec<u32>,
    },
    /// torchvision's ResNet (18, 34, 50, 101, 152) with FrozenBatchNorm2d, for the
    /// `torchvision_*` detectors.
    Resnet(ResnetSpec),
    /// torchvision's VGG16 as SSD300 rearranges it, for `torchvision_ssd`.
    Vgg16(Vgg16Spec),
}

/// The settings of [`BackboneSpec::Vgg16`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Vgg16Spec {
    /// torchvision's `trainable_backbone_layers`: the last N of VGG's five stages train
    /// (fc6, fc7, the extras and the L2 scale always do).
    pub trainable_layers: u32,
    /// ImageNet weights as a safetensors state dict (torchvision's
    /// `vgg16_features-amdegroot-88682ab5.pth` after `scripts/convert-weights`); absent:
    /// torchvision's random initialisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// SHA-256 of `weights`, filled in by sweep when it expands the spec (part of the job id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

impl Default for Vgg16Spec {
    fn default() -> Self {
        Vgg16Spec {
            trainable_layers: 4,
            weights: None,
            weights_sha256: None,
        }
    }
}

/// The settings of [`BackboneSpec::Resnet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResnetSpec {
    pub depth: u32,
    /// torchvision's `trainable_backbone_layers`: the last N of conv1, layer1 … layer4 train.
    pub trainable_layers: u32,
    /// ImageNet weights as a safetensors state dict (torchvision's `resnet50-0676ba61.pth`
    /// after `scripts/convert-weights`); absent: torchvision's random initialisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// SHA-256 of `weights`, filled in by sweep when it expands the spec (part of the job id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

impl Default for ResnetSpec {
    fn default() -> Self {
        ResnetSpec {
            depth: 50,
            trainable_layers: 3,
            weights: None,
            weights_sha256: None,
        }
    }
}

impl Default for BackboneSpec {
    fn default() -> Self {
        BackboneSpec::TinyResnet {
            width: defaults::width(),
            blocks: defaults::blocks(),
        }
    }
}
