//! The resolved configuration of one job: what the trainer needs and nothing about sweeps.
//!
//! Every section fills its own defaults (`#[serde(default)]`), so a spec only writes what differs.
//! Every choice with its own hyperparameters is a closed enum tagged by `kind`: a typo in a kind
//! or a field is rejected at parse time with the allowed names, never at training time.
//! Changing a default here changes job ids: bump [`TRAINER_SCHEMA_VERSION`] when the meaning of
//! a field changes so old results are not silently reused.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Part of every job id; bump when the trainer's behaviour for the same config changes.
/// 2: each parameter is initialised from (train.seed, its name).
pub const TRAINER_SCHEMA_VERSION: u32 = 2;

/// A fully resolved job configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct JobConfig {
    pub dataset: DatasetSpec,
    pub model: ModelSpec,
    pub train: TrainSpec,
    pub loss: LossSpec,
    pub eval: EvalSpec,
    /// Test-only: a scripted job that trains nothing (scheduler tests and benchmarks). Absent
    /// from normal configs and from their hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fake: Option<FakeSpec>,
}

// ---------------------------------------------------------------- dataset

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DatasetSpec {
    /// Embedded, generated from a seed: no files needed.
    Synthetic(SyntheticSpec),
    /// COCO detection JSON (`instances_*.json`) and directories of images.
    Coco(CocoSpec),
    /// Pascal VOC's layout: `Annotations/*.xml`, `ImageSets/Main/*.txt`, `JPEGImages/`.
    Voc(VocSpec),
    /// VisDrone2019-DET's layout: `images/` and `annotations/*.txt` per split.
    Visdrone(VisdroneSpec),
}

impl Default for DatasetSpec {
    fn default() -> Self {
        DatasetSpec::Synthetic(SyntheticSpec::default())
    }
}

impl DatasetSpec {
    /// The value of `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            DatasetSpec::Synthetic(_) => "synthetic",
            DatasetSpec::Coco(_) => "coco",
            DatasetSpec::Voc(_) => "voc",
            DatasetSpec::Visdrone(_) => "visdrone",
        }
    }

    /// Side of the square network input in pixels.
    pub fn image_size(&self) -> u32 {
        match self {
            DatasetSpec::Synthetic(s) => s.image_size,
            DatasetSpec::Coco(c) => c.image_size,
            DatasetSpec::Voc(v) => v.image_size,
            DatasetSpec::Visdrone(v) => v.image_size,
        }
    }

    /// The input pipeline of a dataset read from disk (none for the synthetic one).
    pub fn pipeline(&self) -> Option<Pipeline> {
        match self {
            DatasetSpec::Synthetic(_) => None,
            DatasetSpec::Coco(c) => Some(c.pipeline()),
            DatasetSpec::Voc(v) => Some(v.pipeline()),
            DatasetSpec::Visdrone(v) => Some(v.pipeline()),
        }
    }
}

/// Textured shapes on cluttered backgrounds; many small objects plus medium and large ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticSpec {
    /// Seed of the images (the same for every training seed of a sweep).
    pub seed: u64,
    /// Square image side in pixels.
    pub image_size: u32,
    pub train_images: u32,
    pub val_images: u32,
    /// Shape classes (at most 4: square, disc, triangle, cross).
    pub num_classes: u32,
    pub min_objects: u32,
    pub max_objects: u32,
    /// Object side range in pixels (sampled log-uniformly, so small objects dominate).
    pub min_object_size: f64,
    pub max_object_size: f64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            seed: 0,
            image_size: 128,
            train_images: 4096,
            val_images: 256,
            num_classes: 4,
            min_objects: 1,
            max_objects: 8,
            min_object_size: 6.0,
            max_object_size: 78.0,
        }
    }
}

/// The input pipeline of a dataset read from disk. Its fields are written inline in each kind
/// (`image_size`, `flip`, `multi_scale`, `max_train_images`, `max_val_images`).
///
/// Each image is resized keeping its aspect ratio so that its longer side is `image_size` (with
/// `multi_scale`, a side drawn per training image), then padded at the right and bottom to
/// `image_size` × `image_size`; boxes follow, and detections are mapped back to the original
/// image's pixels before evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipeline {
    /// Side of the square network input in pixels (a multiple of 32).
    pub image_size: u32,
    /// Random horizontal flip of training images (probability ½).
    pub flip: bool,
    /// `[min, max]`: the longer side of a training image is drawn uniformly from this range of
    /// pixels (at most `image_size`; the rest is padding); absent: always `image_size`.
    pub multi_scale: Option<[u32; 2]>,
    /// Train on the first N images of the training list only (absent: all).
    pub max_train_images: Option<u32>,
    /// Evaluate on the first N val images only (absent: all).
    pub max_val_images: Option<u32>,
}

/// What becomes of the boxes a format marks as special (COCO `iscrowd`, VOC `difficult`,
/// VisDrone's category 11 "others") in training. Evaluation sees crowd and difficult boxes as
/// the protocol says (they stay in the ground truth with their flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoxHandling {
    /// An ignore region: anchors and points inside it take no loss.
    Ignore,
    /// Left out: its pixels train as background.
    Drop,
    /// An ordinary object of its class (VisDrone: "others" becomes an 11th class, evaluated too).
    Train,
}

/// COCO detection JSON. `file_name`s are relative to `images` (train) and `val_images` (val);
/// category ids become contiguous labels in id order, and go back into the results JSON.
/// Paths are used as written: absolute, or relative to the directory sweep runs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CocoSpec {
    /// Directory of the training images.
    pub images: PathBuf,
    /// Directory of the val images (absent: `images`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_images: Option<PathBuf>,
    /// Training annotation file.
    pub train: PathBuf,
    /// Val annotation file: also the evaluation's ground truth, as it is.
    pub val: PathBuf,
    /// `iscrowd` boxes in training.
    #[serde(default = "defaults::ignore")]
    pub crowd: BoxHandling,
    #[serde(default = "defaults::real_image_size")]
    pub image_size: u32,
    #[serde(default = "defaults::yes")]
    pub flip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_scale: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_images: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_val_images: Option<u32>,
}

/// Pascal VOC (or any dataset in its layout). A set `YEAR/NAME` is the list
/// `root/YEAR/ImageSets/Main/NAME.txt`, its annotations `root/YEAR/Annotations/ID.xml` and images
/// `root/YEAR/JPEGImages/ID.jpg`. Class `k` of `classes` has label `k` and category id `k + 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocSpec {
    /// The `VOCdevkit` directory.
    pub root: PathBuf,
    #[serde(default = "defaults::voc_train")]
    pub train: Vec<String>,
    #[serde(default = "defaults::voc_val")]
    pub val: String,
    /// Class names in label order (default: VOC's 20); `[]`: the names found in the
    /// annotations, sorted. Another name in an annotation is an error.
    #[serde(default = "defaults::voc_classes")]
    pub classes: Vec<String>,
    /// `difficult` objects in training (evaluation keeps them, flagged, as VOC's metric says).
    #[serde(default = "defaults::ignore")]
    pub difficult: BoxHandling,
    #[serde(default = "defaults::real_image_size")]
    pub image_size: u32,
    #[serde(default = "defaults::yes")]
    pub flip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_scale: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_images: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_val_images: Option<u32>,
}

/// VisDrone2019-DET: `root/SPLIT/images/NAME.jpg` and `root/SPLIT/annotations/NAME.txt`, lines
/// `left,top,width,height,score,category,truncation,occlusion`. Category 0 ("ignored regions")
/// and score 0 are ignore regions: no loss inside in training, and detections mostly inside are
/// dropped before evaluation. Categories 1–10 are the classes (pedestrian, people, bicycle, car,
/// van, truck, tricycle, awning-tricycle, bus, motor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisdroneSpec {
    /// The directory holding the split directories.
    pub root: PathBuf,
    #[serde(default = "defaults::visdrone_train")]
    pub train: String,
    #[serde(default = "defaults::visdrone_val")]
    pub val: String,
    /// Category 11 ("others"): `ignore` (an ignore region, also at evaluation), `drop`, or
    /// `train` (an 11th class).
    #[serde(default = "defaults::ignore")]
    pub others: BoxHandling,
    #[serde(default = "defaults::visdrone_image_size")]
    pub image_size: u32,
    #[serde(default = "defaults::yes")]
    pub flip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_scale: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_images: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_val_images: Option<u32>,
}

macro_rules! pipeline_of {
    ($($spec:ty),*) => {$(
        impl $spec {
            /// Its pipeline keys.
            pub fn pipeline(&self) -> Pipeline {
                Pipeline {
                    image_size: self.image_size,
                    flip: self.flip,
                    multi_scale: self.multi_scale,
                    max_train_images: self.max_train_images,
                    max_val_images: self.max_val_images,
                }
            }
        }
    )*};
}
pipeline_of!(CocoSpec, VocSpec, VisdroneSpec);

// ---------------------------------------------------------------- model

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

// ---------------------------------------------------------------- training

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSpec {
    /// Seed of initialisation and data order (the sweep's `seeds` set it).
    pub seed: u64,
    pub iterations: u64,
    pub batch_size: u32,
    /// SGD with momentum.
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Linear warm-up from lr × warmup_factor over this many iterations.
    pub warmup_iterations: u64,
    pub warmup_factor: f64,
    /// Step decay at these fractions of `iterations`, each multiplying lr by `lr_decay`.
    pub lr_steps: Vec<f64>,
    pub lr_decay: f64,
    /// Clip the global gradient norm (none = no clipping).
    pub grad_clip: Option<f64>,
    /// Save a checkpoint every this many iterations (and at the end).
    pub checkpoint_every: u64,
    /// Report progress every this many iterations.
    pub log_every: u64,
    /// Id of the job whose final weights start this one. Set by the sweep from a variant's
    /// `init_from` (never written by hand); absent otherwise, and then absent from the hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            seed: 0,
            iterations: 800,
            batch_size: 8,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 1e-4,
            warmup_iterations: 100,
            warmup_factor: 0.001,
            lr_steps: vec![0.75, 0.9],
            lr_decay: 0.1,
            grad_clip: Some(10.0),
            checkpoint_every: 200,
            log_every: 20,
            init_from: None,
        }
    }
}

// ---------------------------------------------------------------- losses

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LossSpec {
    pub cls: ClsLossSpec,
    pub reg: RegLossSpec,
    pub weights: WeightsSpec,
    /// A joint term coupling classification and regression (absent: none). Absent from the
    /// serialized config (and the job id) when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupling: Option<CouplingSpec>,
}

/// Classification losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClsLossSpec {
    /// Sigmoid focal loss (Lin et al.), normalised by the number of positives.
    Focal {
        #[serde(default = "defaults::focal_alpha")]
        alpha: f64,
        #[serde(default = "defaults::focal_gamma")]
        gamma: f64,
    },
    /// Softmax cross-entropy with online hard example mining (SSD's hard negative mining):
    /// per image, all positives and the `neg_pos_ratio × positives` negatives of highest loss.
    CeOhem {
        #[serde(default = "defaults::neg_pos_ratio")]
        neg_pos_ratio: f64,
    },
    /// AUC-loss (AP-loss paper, Eq. 7): the error-driven ranking update with `H(x)/|N|`.
    Auc {
        /// Half-width of the piecewise step function (Eq. 21).
        #[serde(default = "defaults::ranking_delta")]
        delta: f64,
        /// Rank the whole batch together (else per image, averaged).
        #[serde(default = "defaults::yes")]
        minibatch: bool,
    },
    /// AP-loss (Chen et al., AP-loss paper, Section 3 and Algorithm 1).
    Ap {
        /// Half-width of the piecewise step function (Eq. 21).
        #[serde(default = "defaults::ranking_delta")]
        delta: f64,
        /// Interpolated AP (Section 3.4.3).
        #[serde(default = "defaults::yes")]
        interpolate: bool,
        /// Rank the whole batch together (Section 3.4.1; else per image, averaged).
        #[serde(default = "defaults::yes")]
        minibatch: bool,
    },
}

/// Joint classification–regression terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CouplingSpec {
    /// Harmonic loss (Wang & Zhang, supplementary Eq. 1): per positive
    /// `(1 + β_r)·CE + (1 + β_c)·L_reg`, `β_r = e^(−L_reg)`, `β_c = e^(−CE)`.
    Harmonic {
        /// Stop the gradient through β_r and β_c (the paper differentiates through them).
        #[serde(default)]
        detach: bool,
    },
}

impl Default for ClsLossSpec {
    fn default() -> Self {
        ClsLossSpec::Focal {
            alpha: defaults::focal_alpha(),
            gamma: defaults::focal_gamma(),
        }
    }
}

/// Localization losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegLossSpec {
    /// |d| on the encoded targets.
    L1,
    /// Huber-style: 0.5 d²/β below β, |d| − 0.5 β above.
    SmoothL1 {
        #[serde(default = "defaults::smooth_l1_beta")]
        beta: f64,
    },
    /// d² on the encoded targets.
    L2,
    /// IoU loss on decoded boxes: `−ln IoU` (UnitBox) or `1 − IoU`.
    Iou {
        #[serde(default)]
        form: IouForm,
    },
    /// 1 − GIoU on decoded boxes.
    Giou,
    /// DIoU loss on decoded boxes: `1 − IoU + ρ²/c²`.
    Diou,
    /// CIoU loss on decoded boxes: DIoU + `α·v` (aspect-ratio term).
    Ciou,
    /// Harmonic IoU loss (Harmonic loss supplementary Eq. 11): `(1 + IoU)^γ (1 − IoU)`,
    /// `0 < γ ≤ 1`.
    Hiou {
        #[serde(default = "defaults::hiou_gamma")]
        gamma: f64,
    },
    /// Uncertainty-guided gradient stabilization (UGS summary): classification-based
    /// localization with optional interval non-uniform labels, uncertainty minimization (λ)
    /// and uncertainty-guided refinement (γ, ρ).
    Ugs(UgsSpec),
}

impl Default for RegLossSpec {
    fn default() -> Self {
        RegLossSpec::Giou
    }
}

/// The form of the plain IoU loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IouForm {
    /// `−ln IoU` (UnitBox; the IoU clamped at 1e-6 so disjoint boxes stay finite).
    #[default]
    Log,
    /// `1 − IoU`.
    Linear,
}

/// What the UGS refinement term `L^ur` measures at the perturbed features (the summary does not
/// define it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UrLoss {
    /// The classification-based localization loss `L_CE` (two-hot cross-entropy).
    #[default]
    Ce,
    /// `L_CE + λ·L_UM`, the whole localization objective.
    CeUm,
    /// `L_UM` alone: the literal min-max of the entropy.
    Um,
}

/// UGS hyperparameters. α, β and n are not given by the paper ("require manual tuning").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UgsSpec {
    /// Bins per box side (the distribution has n + 1 grid points).
    pub n: u32,
    /// Half-width of the target range [−α, α] (in strides).
    pub alpha: f64,
    /// Non-uniformity of the IN grid: larger packs points denser near zero.
    pub beta: f64,
    /// Interval non-uniform labels on (else a uniform grid).
    pub in_labels: bool,
    /// Weight of the uncertainty-minimization (entropy) term; 0 turns it off.
    pub lambda: f64,
    /// Weight of the uncertainty-guided refinement term; 0 turns it off.
    pub gamma: f64,
    /// Radius of the feature perturbation of the refinement step.
    pub rho: f64,
    /// What `L^ur` is at the perturbed features.
    pub ur_loss: UrLoss,
}

impl Default for UgsSpec {
    fn default() -> Self {
        UgsSpec {
            n: 16,
            alpha: 8.0,
            beta: 0.5,
            in_labels: false,
            lambda: 0.0,
            gamma: 0.0,
            rho: 0.5,
            ur_loss: UrLoss::Ce,
        }
    }
}

/// Task weights: `loss = cls · L_cls + reg · L_reg` (+ the center-ness term for FCOS); with
/// `adapt`, `cls` and `reg` are the initial weights and the rule changes them while training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightsSpec {
    pub cls: f64,
    pub reg: f64,
    /// Adaptive weighting (absent: fixed weights). Absent from the serialized config (and the
    /// job id) when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapt: Option<AdaptSpec>,
}

impl Default for WeightsSpec {
    fn default() -> Self {
        WeightsSpec {
            cls: 1.0,
            reg: 1.0,
            adapt: None,
        }
    }
}

/// Rules that change the task weights while training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdaptSpec {
    /// Adaptive Loss Weight Adjustment (ALWA paper, Algorithm 1).
    Alwa {
        /// 1: standard = mean + std of the window (ALWA_1); 2: std only (ALWA_2).
        #[serde(default = "defaults::alwa_variant")]
        variant: u8,
        /// C: iterations per window.
        #[serde(default = "defaults::alwa_window")]
        window: u64,
        /// Which losses the window records.
        #[serde(default)]
        record: AlwaRecord,
        /// Divisor of the window's standard deviation.
        #[serde(default)]
        std: StdKind,
    },
}

/// The losses ALWA records per iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlwaRecord {
    /// `λ·L`, as Algorithm 1 lines 6–7 say.
    #[default]
    Weighted,
    /// `L` before weighting.
    Raw,
}

/// Standard deviation divisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StdKind {
    /// `n − 1` (Bessel's correction).
    #[default]
    Sample,
    /// `n`.
    Population,
}

// ---------------------------------------------------------------- evaluation

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSpec {
    /// Detections below this score are dropped before NMS.
    pub score_threshold: f64,
    /// Candidates kept per level before NMS.
    pub pre_nms_top_k: u32,
    /// Class-wise NMS IoU threshold.
    pub nms_iou: f64,
    /// Detections kept per image (COCO's maxDets is 100).
    pub max_detections: u32,
    /// Robustness evaluations (AP-loss paper, Table 3): after the normal evaluation, the same
    /// model is evaluated on a perturbed copy of the val set per entry, and its 12 COCO metrics
    /// are added as `<metric>@<perturbation>` (e.g. `AP50@black_patch`). Left out of the
    /// serialized config when empty, so the ids of jobs without it do not change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perturbations: Vec<Perturbation>,
}

/// A perturbation of the val images for the robustness evaluation (see
/// `trainer::perturb` for the exact definitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Perturbation {
    /// A black patch (raw pixel value 0) over the centre half of every ground-truth box.
    BlackPatch,
    /// The centre half of every box replaced by a same-sized region from outside every box.
    RandomPatch,
    /// The centre half of every box flipped left/right, top/bottom or both, at random.
    FlipPatch,
    /// Zero-mean Gaussian noise of variance 0.01 added to every value of the normalised image.
    GaussianNoise,
}

impl Perturbation {
    pub const ALL: [Perturbation; 4] = [
        Perturbation::BlackPatch,
        Perturbation::RandomPatch,
        Perturbation::FlipPatch,
        Perturbation::GaussianNoise,
    ];

    /// The config spelling, also the suffix of its metric keys (`AP50@black_patch`).
    pub fn name(self) -> &'static str {
        match self {
            Perturbation::BlackPatch => "black_patch",
            Perturbation::RandomPatch => "random_patch",
            Perturbation::FlipPatch => "flip_patch",
            Perturbation::GaussianNoise => "gaussian_noise",
        }
    }

    /// The key of a COCO metric measured under this perturbation: `<metric>@<name>`.
    pub fn metric_key(self, metric: &str) -> String {
        format!("{metric}@{}", self.name())
    }
}

impl Default for EvalSpec {
    fn default() -> Self {
        EvalSpec {
            score_threshold: 0.05,
            pre_nms_top_k: 1000,
            nms_iou: 0.6,
            max_detections: 100,
            perturbations: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------- test-only job

/// A scripted job: sleeps through its iterations, checkpoints each one, and ends as told.
/// Its "metrics" are a checksum of the iterations it ran, so a resume that skipped or repeated
/// work shows up as a different result. Never meant for tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FakeSpec {
    pub iterations: u64,
    pub millis_per_iteration: u64,
    pub outcome: FakeOutcome,
    /// Iteration at which a non-ok outcome happens.
    pub at_iteration: u64,
    /// Apply the outcome only on the first N starts (then succeed); 0 = on every start.
    pub fail_attempts: u32,
    /// GPU memory the job reports as its peak.
    pub memory_mib: u64,
}

impl Default for FakeSpec {
    fn default() -> Self {
        FakeSpec {
            iterations: 10,
            millis_per_iteration: 5,
            outcome: FakeOutcome::Ok,
            at_iteration: 5,
            fail_attempts: 0,
            memory_mib: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FakeOutcome {
    Ok,
    /// Exit with code 1 and a message on stderr.
    Crash,
    /// Exit with the out-of-memory code.
    Oom,
    /// Kill itself with SIGKILL.
    Signal,
    /// Report a NaN loss.
    Diverge,
    /// Stop making progress (for timeouts).
    Hang,
}

mod defaults {
    pub fn yes() -> bool {
        true
    }
    pub fn ignore() -> super::BoxHandling {
        super::BoxHandling::Ignore
    }
    /// VOC's images are about 500 × 375: 512 keeps them near their own size.
    pub fn real_image_size() -> u32 {
        512
    }
    /// VisDrone's images are about 2000 × 1500 with most objects under 50 px.
    pub fn visdrone_image_size() -> u32 {
        1024
    }
    pub fn voc_train() -> Vec<String> {
        vec!["VOC2007/trainval".into(), "VOC2012/trainval".into()]
    }
    pub fn voc_val() -> String {
        "VOC2007/test".into()
    }
    pub fn voc_classes() -> Vec<String> {
        [
            "aeroplane",
            "bicycle",
            "bird",
            "boat",
            "bottle",
            "bus",
            "car",
            "cat",
            "chair",
            "cow",
            "diningtable",
            "dog",
            "horse",
            "motorbike",
            "person",
            "pottedplant",
            "sheep",
            "sofa",
            "train",
            "tvmonitor",
        ]
        .map(String::from)
        .to_vec()
    }
    pub fn visdrone_train() -> String {
        "VisDrone2019-DET-train".into()
    }
    pub fn visdrone_val() -> String {
        "VisDrone2019-DET-val".into()
    }
    pub fn center_sampling_radius() -> f64 {
        1.5
    }
    pub fn tv_fcos_score_thresh() -> f64 {
        0.2
    }
    pub fn tv_fcos_nms_thresh() -> f64 {
        0.6
    }
    pub fn tv_detections_per_img() -> u32 {
        100
    }
    pub fn tv_topk_candidates() -> u32 {
        1000
    }
    pub fn tv_num_convs() -> u32 {
        4
    }
    /// 2 strides: the synthetic objects are 6–78 px (4 gave APs 0.06, 2 gave 0.16).
    pub fn anchor_scale() -> f64 {
        2.0
    }
    pub fn scales_per_octave() -> u32 {
        3
    }
    pub fn aspect_ratios() -> Vec<f64> {
        vec![0.5, 1.0, 2.0]
    }
    pub fn pos_iou() -> f64 {
        0.5
    }
    pub fn neg_iou() -> f64 {
        0.4
    }
    pub fn width() -> i64 {
        32
    }
    pub fn blocks() -> Vec<u32> {
        vec![1, 1, 1, 1]
    }
    pub fn focal_alpha() -> f64 {
        0.25
    }
    pub fn focal_gamma() -> f64 {
        2.0
    }
    pub fn smooth_l1_beta() -> f64 {
        1.0 / 9.0
    }
    /// SSD's 3:1.
    pub fn neg_pos_ratio() -> f64 {
        3.0
    }
    /// The AP-loss paper's choice (Table 1, Section 4.1.1).
    pub fn ranking_delta() -> f64 {
        1.0
    }
    /// Not given in our copy of the Harmonic loss paper: the middle of (0, 1].
    pub fn hiou_gamma() -> f64 {
        0.5
    }
    /// ALWA_2: the paper's choice for one-stage detectors.
    pub fn alwa_variant() -> u8 {
        2
    }
    /// The paper's C.
    pub fn alwa_window() -> u64 {
        100
    }
}
