//! What a worker prints on stdout, one JSON object per line, and what its exit code means.
//! The orchestrator reads these; a Slurm job's output file holds the same lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerMessage {
    Started {
        threads: usize,
        device: String,
        resumed_from: Option<u64>,
        /// The GPUs this process was given (`CUDA_VISIBLE_DEVICES` as it saw it), so a run on
        /// a cluster says where it ran.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visible_gpus: Option<String>,
        /// `<id> on <node>` when Slurm runs the worker.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slurm_job: Option<String>,
    },
    Progress {
        iteration: u64,
        iterations: u64,
        lr: f64,
        losses: BTreeMap<String, f64>,
        weights: BTreeMap<String, f64>,
        images_per_sec: f64,
        /// Seconds since this worker started (for ETAs in `sweep status`).
        #[serde(default)]
        elapsed: f64,
        /// Peak GPU memory of this job so far, when the worker knows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        memory_mib: Option<u64>,
    },
    Finished {
        status: String,
        metrics: BTreeMap<String, f64>,
        seconds: f64,
    },
    Failed {
        cause: String,
        message: String,
    },
    /// A line for the person running the sweep (e.g. a checkpoint that did not load and where
    /// the run starts instead).
    Note {
        text: String,
    },
}

/// Documented worker exit codes; anything else is a crash.
pub mod exit {
    pub const DONE: i32 = 0;
    pub const CRASH: i32 = 1;
    /// The loss diverged; `result.json` records it.
    pub const DIVERGED: i32 = 3;
    /// The config cannot run (invalid, or not implemented by the trainer).
    pub const BAD_CONFIG: i32 = 4;
    pub const OUT_OF_MEMORY: i32 = 5;
    /// The job directory cannot be written: its disk is full, or it is read-only or gone.
    /// Not retried: the sweep stops launching until space is freed (`sweep resume`).
    pub const NO_STORAGE: i32 = 6;
    /// Stopped by SIGINT/SIGTERM after saving a checkpoint.
    pub const INTERRUPTED: i32 = 130;
}

impl WorkerMessage {
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("worker messages serialize")
    }
}
