//! The resolved configuration of one job: what the trainer needs and nothing about sweeps.
//!
//! Every section fills its own defaults (`#[serde(default)]`), so a spec only writes what differs.
//! Every choice with its own hyperparameters is a closed enum tagged by `kind`: a typo in a kind
//! or a field is rejected at parse time with the allowed names, never at training time.
//! Changing a default here changes job ids: bump [`TRAINER_SCHEMA_VERSION`] when the meaning of
//! a field changes so old results are not silently reused.

mod dataset;
mod loss;
mod model;

use serde::{Deserialize, Serialize};

pub use dataset::*;
pub use loss::*;
pub use model::*;

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
    /// Fractions of `train.iterations` at which the val set is evaluated, increasing and
    /// ending at 1 (the final evaluation): `result.json` keeps each as an entry of `progress`,
    /// so a table can tell a row that still rose over its last quarter. Left out of the
    /// serialized config at its default, so the ids of jobs written before it do not change
    /// (an evaluation changes no training state: the final metrics are the same).
    #[serde(
        default = "default_eval_at",
        skip_serializing_if = "is_default_eval_at"
    )]
    pub at: Vec<f64>,
}

/// `eval.at`'s default: half-way, three quarters (the start of the last quarter, which the
/// convergence check compares with the end) and the end.
pub fn default_eval_at() -> Vec<f64> {
    vec![0.5, 0.75, 1.0]
}

fn is_default_eval_at(at: &[f64]) -> bool {
    at == default_eval_at().as_slice()
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
            at: default_eval_at(),
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
    /// Report AP as a normal draw instead of the checksum (for tests of claims over seeds);
    /// absent from the hash when unset, so other fake jobs keep their ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ap: Option<FakeMetric>,
}

/// A fake job's AP: `mean + sd · z`, z a standard normal drawn from the job's seed and these
/// two numbers (rows with different means draw differently on the same seed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeMetric {
    pub mean: f64,
    pub sd: f64,
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
            ap: None,
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
