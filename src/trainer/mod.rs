//! The embedded detector trainer: the only module of sweep that uses tch (libtorch).
//!
//! [`train`] runs one job: it builds a TinyResnet + FPN + one-stage head ([`model`]) with an FCOS
//! or RetinaNet target assignment ([`fcos`], [`retina`], [`layout`]), trains it on the embedded
//! synthetic dataset ([`data`], [`synth`]) or on COCO, VOC or VisDrone from disk ([`datasets`])
//! with the configured losses ([`losses`], assembled by
//! [`objective`]) and task weights ([`alwa`]: fixed or ALWA) and our own SGD ([`optim`]),
//! checkpoints and resumes ([`checkpoint`]), then detects on the val split
//! ([`postprocess`]) and scores the detections with the COCO protocol (`crate::eval`).
//!
//! Files written in the job directory, and nothing else: `checkpoint/latest.{ot,json}` (atomic),
//! `curves.csv` (one row per log step) and `detections.json` (the val detections as a COCO
//! results list). A job directory that holds a checkpoint is resumed from it; on the CPU the
//! result is bit-identical to an uninterrupted run with the same thread count, because the model,
//! the momentum buffers, ALWA's weights and window, and the iteration are all the state there is
//! (the data order is a pure
//! function of the seed and the position, and no op draws random numbers after initialisation).
//!
//! Determinism: each parameter drawn from (train.seed, its name) (see [`model`]), `threads` intra-op
//! threads, one inter-op thread, parameters visited in name order, targets computed on the host.

pub mod alwa;
pub mod checkpoint;
pub mod data;
pub mod datasets;
mod error;
pub mod fcos;
pub mod head;
pub mod layout;
pub mod losses;
pub mod model;
pub mod objective;
pub mod optim;
pub mod perturb;
pub mod postprocess;
pub mod retina;
pub mod run;
pub mod synth;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_families;

pub use error::TrainError;

use crate::eval::CocoSummary;
use crate::spec::config::{BackboneSpec, DatasetSpec, DetectorSpec, JobConfig, Perturbation};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Where to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda(usize),
    /// The first CUDA device when there is one, else the CPU.
    Auto,
}

/// How to run (not part of the job's identity).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Intra-op threads (`tch::set_num_threads`).
    pub threads: usize,
    pub device: DeviceChoice,
    /// Set on SIGTERM: the trainer checkpoints at the next iteration and returns
    /// [`TrainError::Interrupted`].
    pub stop: Arc<AtomicBool>,
}

/// One progress report, every `log_every` iterations.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Completed iterations.
    pub iteration: u64,
    pub iterations: u64,
    /// Learning rate of the last iteration.
    pub lr: f64,
    /// Means over the iterations since the last report: "total", "cls", "reg" (+ "ctr" for FCOS
    /// with center-ness); the weighted total, the others unweighted.
    pub losses: Vec<(String, f64)>,
    /// Loss weights in force.
    pub weights: Vec<(String, f64)>,
    /// Training images per second over the same window (data generation included).
    pub images_per_sec: f64,
}

/// The result of a finished job.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    pub metrics: CocoSummary,
    /// The metrics on each perturbed val set of `eval.perturbations`, in its order.
    pub perturbed: Vec<(Perturbation, CocoSummary)>,
    pub iterations: u64,
    /// Wall-clock seconds of this call (training since the resume point, plus evaluation).
    pub seconds: f64,
    /// Trainable scalars.
    pub parameters: i64,
    /// "cpu" or "cuda:N".
    pub device: String,
    pub threads: usize,
    /// The checkpoint's iteration when the run resumed.
    pub resumed_from: Option<u64>,
}

impl TrainOutcome {
    /// The metrics as `result.json` records them: the 12 COCO names ([`CocoSummary::NAMES`])
    /// for the val set, and `<name>@<perturbation>` (e.g. `AP50@black_patch`) for each perturbed
    /// copy of it.
    pub fn metric_map(&self) -> BTreeMap<String, f64> {
        let mut m: BTreeMap<String, f64> = CocoSummary::NAMES
            .iter()
            .map(|n| n.to_string())
            .zip(self.metrics.values())
            .collect();
        for (kind, summary) in &self.perturbed {
            for (n, v) in CocoSummary::NAMES.iter().zip(summary.values()) {
                m.insert(kind.metric_key(n), v);
            }
        }
        m
    }
}

/// Number of CUDA devices libtorch sees.
pub fn cuda_device_count() -> usize {
    tch::Cuda::device_count().max(0) as usize
}

fn invalid(field: &'static str, value: impl std::fmt::Debug, allowed: &'static str) -> TrainError {
    TrainError::Invalid {
        field,
        value: format!("{value:?}"),
        allowed,
    }
}

/// Cheap checks of what this trainer can run; no tch work.
pub fn validate(cfg: &JobConfig) -> Result<(), TrainError> {
    let check = |ok: bool, e: TrainError| if ok { Ok(()) } else { Err(e) };
    let ds = match &cfg.dataset {
        DatasetSpec::Synthetic(ds) => ds,
        other => {
            let p = other.pipeline().expect("a dataset on disk has a pipeline");
            check(
                p.image_size >= 32 && p.image_size % 32 == 0,
                invalid(
                    "dataset.image_size",
                    p.image_size,
                    "a multiple of 32, at least 32",
                ),
            )?;
            check(
                p.multi_scale
                    .is_none_or(|[lo, hi]| 1 <= lo && lo <= hi && hi <= p.image_size),
                invalid(
                    "dataset.multi_scale",
                    p.multi_scale,
                    "[min, max] with 1 <= min <= max <= image_size",
                ),
            )?;
            return validate_model_and_training(cfg);
        }
    };
    check(
        ds.image_size >= 32 && ds.image_size % 32 == 0,
        invalid(
            "dataset.image_size",
            ds.image_size,
            "a multiple of 32, at least 32",
        ),
    )?;
    check(
        (1..=4).contains(&ds.num_classes),
        invalid("dataset.num_classes", ds.num_classes, "1 to 4"),
    )?;
    check(
        ds.train_images >= 1,
        invalid("dataset.train_images", ds.train_images, "at least 1"),
    )?;
    check(
        ds.val_images >= 1,
        invalid("dataset.val_images", ds.val_images, "at least 1"),
    )?;
    check(
        ds.min_objects >= 1 && ds.max_objects >= ds.min_objects && ds.max_objects <= 64,
        invalid(
            "dataset.max_objects",
            (ds.min_objects, ds.max_objects),
            "1 <= min_objects <= max_objects <= 64",
        ),
    )?;
    let max_side = ds.image_size as f64 - 1.0;
    check(
        ds.min_object_size >= 2.0
            && ds.max_object_size >= ds.min_object_size
            && ds.max_object_size <= max_side,
        invalid(
            "dataset.max_object_size",
            (ds.min_object_size, ds.max_object_size),
            "2 <= min_object_size <= max_object_size <= image_size - 1",
        ),
    )?;
    validate_model_and_training(cfg)
}

/// The checks of [`validate`] that do not depend on the dataset.
fn validate_model_and_training(cfg: &JobConfig) -> Result<(), TrainError> {
    let check = |ok: bool, e: TrainError| if ok { Ok(()) } else { Err(e) };
    let BackboneSpec::TinyResnet { width, blocks } = &cfg.model.backbone;
    check(
        *width >= 1 && *width <= 512,
        invalid("model.backbone.width", width, "1 to 512"),
    )?;
    check(
        blocks.len() == 4 && blocks.iter().all(|&b| (1..=8).contains(&b)),
        invalid(
            "model.backbone.blocks",
            blocks,
            "four stages of 1 to 8 blocks",
        ),
    )?;
    check(
        (1..=1024).contains(&cfg.model.fpn_channels),
        invalid("model.fpn_channels", cfg.model.fpn_channels, "1 to 1024"),
    )?;
    check(
        cfg.model.head_convs <= 8,
        invalid("model.head_convs", cfg.model.head_convs, "0 to 8"),
    )?;
    match &cfg.model.detector {
        DetectorSpec::Fcos {
            center_sampling_radius,
            ..
        } => check(
            *center_sampling_radius >= 0.0,
            invalid(
                "model.detector.center_sampling_radius",
                center_sampling_radius,
                "at least 0",
            ),
        )?,
        DetectorSpec::Retinanet {
            anchor_scale,
            scales_per_octave,
            aspect_ratios,
            pos_iou,
            neg_iou,
        } => {
            check(
                *anchor_scale > 0.0,
                invalid("model.detector.anchor_scale", anchor_scale, "positive"),
            )?;
            check(
                (1..=8).contains(scales_per_octave),
                invalid(
                    "model.detector.scales_per_octave",
                    scales_per_octave,
                    "1 to 8",
                ),
            )?;
            check(
                !aspect_ratios.is_empty() && aspect_ratios.iter().all(|r| *r > 0.0),
                invalid(
                    "model.detector.aspect_ratios",
                    aspect_ratios,
                    "one or more positive ratios",
                ),
            )?;
            check(
                0.0 < *neg_iou && neg_iou <= pos_iou && *pos_iou <= 1.0,
                invalid(
                    "model.detector.pos_iou",
                    (neg_iou, pos_iou),
                    "0 < neg_iou <= pos_iou <= 1",
                ),
            )?;
        }
    }
    let t = &cfg.train;
    check(
        t.iterations >= 1,
        invalid("train.iterations", t.iterations, "at least 1"),
    )?;
    check(
        t.batch_size >= 1,
        invalid("train.batch_size", t.batch_size, "at least 1"),
    )?;
    check(
        t.lr > 0.0 && t.lr.is_finite(),
        invalid("train.lr", t.lr, "positive"),
    )?;
    check(
        (0.0..1.0).contains(&t.momentum),
        invalid("train.momentum", t.momentum, "in [0, 1)"),
    )?;
    check(
        t.weight_decay >= 0.0,
        invalid("train.weight_decay", t.weight_decay, "at least 0"),
    )?;
    check(
        t.lr_steps.iter().all(|f| (0.0..=1.0).contains(f)),
        invalid("train.lr_steps", &t.lr_steps, "fractions in [0, 1]"),
    )?;
    check(
        t.grad_clip.is_none_or(|c| c > 0.0),
        invalid("train.grad_clip", t.grad_clip, "positive or none"),
    )?;
    check(
        t.checkpoint_every >= 1,
        invalid("train.checkpoint_every", t.checkpoint_every, "at least 1"),
    )?;
    check(
        t.log_every >= 1,
        invalid("train.log_every", t.log_every, "at least 1"),
    )?;
    losses::validate(cfg)?;
    let e = &cfg.eval;
    check(
        (0.0..=1.0).contains(&e.nms_iou),
        invalid("eval.nms_iou", e.nms_iou, "in [0, 1]"),
    )?;
    check(
        e.max_detections >= 1 && e.pre_nms_top_k >= 1,
        invalid(
            "eval.max_detections",
            (e.pre_nms_top_k, e.max_detections),
            "pre_nms_top_k and max_detections at least 1",
        ),
    )?;
    Ok(())
}

/// Trains (or resumes) the job of `cfg` in `job_dir`, then evaluates it on the val split.
pub fn train(
    cfg: &JobConfig,
    job_dir: &Path,
    opts: &TrainOptions,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<TrainOutcome, TrainError> {
    validate(cfg)?;
    let device = run::resolve_device(opts.device)?;
    let name = run::device_name(device);
    let body = std::panic::AssertUnwindSafe(|| run::run(cfg, job_dir, opts, device, on_progress));
    std::panic::catch_unwind(body).unwrap_or_else(|p| Err(TrainError::from_panic(p, &name)))
}
