//! What the journal stores: a job's state, its result, and the events log's lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, for timestamps in records.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Where a job stands. `done` and `diverged` also have a `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    /// `started` is the process's start time (clock ticks since boot, from /proc) so that a
    /// reused pid is not mistaken for our worker.
    Running {
        pid: u32,
        placement: String,
        #[serde(default)]
        started: Option<u64>,
    },
    Done,
    /// The loss became NaN/inf: a result, shown in the table, not retried.
    Diverged {
        iteration: u64,
    },
    Failed {
        cause: String,
        message: String,
    },
    /// The config asks for something the trainer cannot do yet.
    Unsupported {
        reason: String,
    },
    /// A seed added to a row by `sweep run --until-resolved` (round 1 follows the spec's own
    /// seeds): this job joined the sweep. Only ever an event, never a job's state.
    SeedAdded {
        row: String,
        seed: u64,
        round: u32,
    },
    /// A file of the job was damaged (torn, garbled, foreign): it was moved aside to `moved_to`
    /// and the job runs again. Only ever an event, never a job's state.
    Damaged {
        file: String,
        why: String,
        moved_to: String,
    },
    /// The executor's queue keeps the job pending with a reason that never passes (Slurm's
    /// `PartitionTimeLimit`, `BadConstraints`, ...): the sweep stopped and cancelled what it
    /// had submitted. Only ever an event, never a job's state.
    Unservable {
        reason: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    #[serde(flatten)]
    pub status: JobStatus,
    /// Starts so far (a resume after a crash is a new start).
    pub attempts: u32,
    /// Intra-op threads: fixed at the first start, reused on resume (CPU results depend on it).
    pub threads: usize,
    pub updated_at: f64,
    /// The worker process's largest GPU memory so far, as NVML saw it (absent on the CPU, or
    /// when NVML does not list the process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_gpu_memory_bytes: Option<u64>,
}

/// Start time of a process (clock ticks since boot), to tell a live worker from a reused pid.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `result.json`: what a finished job produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub id: String,
    /// "done" or "diverged".
    pub status: String,
    /// COCO summary: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl.
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub diverged_at: Option<u64>,
    pub iterations: u64,
    // What a result needs is its id, status and metrics; the rest describes the run, and a
    // result written by hand or by an older build without it is still a result.
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub threads: usize,
    #[serde(default)]
    pub parameters: i64,
    #[serde(default)]
    pub finished_at: f64,
    /// What the training loop counted over the whole run (absent in results of older builds
    /// and of scripted jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainRecord>,
    /// The worker process's largest GPU memory, sampled through NVML at each logged iteration
    /// and after the evaluation (absent on the CPU, or when NVML does not list the process).
    /// Placement learns a shape's memory from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_gpu_memory_bytes: Option<u64>,
    /// The val-image bootstrap of AP and AP50 (`val_bootstrap.json` beside the result, read
    /// with it; never part of `result.json`).
    #[serde(default, skip_serializing)]
    pub val_bootstrap: Option<crate::eval::coco::ImageBootstrap>,
    /// The val-set metrics at each point of `eval.at`, the last being the final ones; empty
    /// for results written before it (or by the fake kind).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub progress: Vec<EvalPoint>,
    /// Fields this build does not know (a newer build's): kept, so that they can be looked up
    /// by name ([`JobResult::field`]) and a rewrite loses nothing.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One evaluation of the val set during training (`result.json`'s `progress`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// Iterations completed when it was taken.
    pub iteration: u64,
    /// The 12 COCO values, named as in `metrics`.
    pub metrics: BTreeMap<String, f64>,
}

/// `result.json`'s `train`: how often gradient clipping acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainRecord {
    /// Iterations of the run.
    pub iterations: u64,
    /// Of them, those whose gradients `train.grad_clip` scaled (0 without a clip).
    pub clipped_iterations: u64,
}

impl JobResult {
    /// A metric as a score: only a `done` job's (a diverged job's metrics describe a broken
    /// model), and never COCO's `-1` ("no objects of that size").
    pub fn metric(&self, name: &str) -> Option<f64> {
        if self.status != "done" {
            return None;
        }
        let v = *self.metrics.get(name)?;
        (v.is_finite() && v >= 0.0).then_some(v)
    }
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: f64,
    pub job: String,
    #[serde(flatten)]
    pub status: JobStatus,
}
