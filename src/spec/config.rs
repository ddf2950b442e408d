//! The resolved configuration of one job: what the trainer needs and nothing about sweeps.
//!
//! Every section fills its own defaults (`#[serde(default)]`), so a spec only writes what differs.
//! Every choice with its own hyperparameters is a closed enum tagged by `kind`: a typo in a kind
//! or a field is rejected at parse time with the allowed names, never at training time.
//! Changing a default here changes job ids: bump [`TRAINER_SCHEMA_VERSION`] when the meaning of
//! a field changes so old results are not silently reused.

use serde::{Deserialize, Serialize};

/// Part of every job id; bump when the trainer's behaviour for the same config changes.
pub const TRAINER_SCHEMA_VERSION: u32 = 1;

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
}

impl Default for DatasetSpec {
    fn default() -> Self {
        DatasetSpec::Synthetic(SyntheticSpec::default())
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
    /// 1 − GIoU on decoded boxes.
    Giou,
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
        }
    }
}

/// Task weights: `loss = cls · L_cls + reg · L_reg` (+ the center-ness term for FCOS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightsSpec {
    pub cls: f64,
    pub reg: f64,
}

impl Default for WeightsSpec {
    fn default() -> Self {
        WeightsSpec { cls: 1.0, reg: 1.0 }
    }
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
}

impl Default for EvalSpec {
    fn default() -> Self {
        EvalSpec {
            score_threshold: 0.05,
            pre_nms_top_k: 1000,
            nms_iou: 0.6,
            max_detections: 100,
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
    pub fn center_sampling_radius() -> f64 {
        1.5
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
}
