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
pub mod backbones;
pub mod box_ops;
pub mod checkpoint;
pub mod data;
pub mod datasets;
pub mod detectors;
mod error;
pub mod fcos;
pub mod head;
pub mod heads;
pub mod interim;
pub mod job;
pub mod layers;
pub mod layout;
pub mod losses;
pub mod model;
pub mod necks;
pub mod objective;
pub mod optim;
pub mod perturb;
pub mod postprocess;
pub mod predict;
pub mod predict_job;
pub mod priors;
pub mod retina;
pub mod roi;
pub mod run;
pub mod synth;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_checkpoint;
#[cfg(test)]
mod tests_families;
#[cfg(test)]
mod tests_golden_detectors;
#[cfg(test)]
mod tests_golden_fcos_model;
#[cfg(test)]
mod tests_torchvision;
pub mod tiny_layers;
pub(crate) mod torchvision_golden;
pub mod transform;
pub mod tv_faster;
pub mod tv_session;
pub mod weights;

pub use error::TrainError;

use crate::eval::CocoSummary;
use crate::spec::config::{JobConfig, Perturbation};
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
    /// Lines for the person running the sweep (a checkpoint that did not load, and where the
    /// run starts instead); `None`: printed on stderr.
    pub notes: Option<std::sync::mpsc::Sender<String>>,
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
    /// with center-ness); the weighted total, the others unweighted. After them the objective's
    /// extra logged values (UGS's terms; the harmonic coupling's `harmonic_neg_multiplier`, a
    /// fraction of positives, not a loss).
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
    /// Iterations whose gradients `train.grad_clip` scaled, over the whole run (0 without it).
    pub clipped_iterations: u64,
    /// The val-set metrics at each point of `eval.at` ([`interim`]), the final ones last.
    pub progress: Vec<(u64, CocoSummary)>,
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

    /// [`TrainOutcome::progress`] as `result.json` records it: the 12 COCO names per point.
    pub fn progress_points(&self) -> Vec<crate::journal::EvalPoint> {
        self.progress
            .iter()
            .map(|(iteration, m)| crate::journal::EvalPoint {
                iteration: *iteration,
                metrics: CocoSummary::NAMES
                    .iter()
                    .map(|n| n.to_string())
                    .zip(m.values())
                    .collect(),
            })
            .collect()
    }
}

/// Number of CUDA devices libtorch sees.
pub fn cuda_device_count() -> usize {
    tch::Cuda::device_count().max(0) as usize
}

/// Trains (or resumes) the job of `cfg` in `job_dir`, then evaluates it on the val split.
pub fn train(
    cfg: &JobConfig,
    job_dir: &Path,
    opts: &TrainOptions,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<TrainOutcome, TrainError> {
    let device = run::resolve_device(opts.device)?;
    let name = run::device_name(device);
    let body = std::panic::AssertUnwindSafe(|| run::run(cfg, job_dir, opts, device, on_progress));
    std::panic::catch_unwind(body).unwrap_or_else(|p| Err(TrainError::from_panic(p, &name)))
}
