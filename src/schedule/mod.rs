//! Scheduling a sweep's jobs: where they may run ([`hardware`]: NVML's GPUs, the CPU cores,
//! or Slurm; [`place`]: packing by memory), the dispatcher's loop ([`dispatch`]: start ready
//! jobs where they fit, hear executor events, record every transition in the journal before
//! acting on it, stop on SIGINT/SIGTERM) and what a job's end means ([`dispatch::retry`]).
//!
//! Decisions are made here, work happens in the executor, state lives in the journal: the
//! loop owns no process and no file other than through those two.

mod dispatch;
mod hardware;
pub mod nvml;
pub mod nvml_process;
pub mod peaks;
pub mod place;
mod progress;

use std::time::Duration;

use crate::execute::ExecError;
use crate::journal::JournalError;
pub use dispatch::run;
pub use hardware::{shape_of, Hardware};
pub use progress::Display;

/// Plain-line progress (for benchmarks and tests that drive [`run`] directly).
pub fn progress_mode_lines() -> progress::Mode {
    progress::Mode::Lines
}

pub struct RunOptions {
    /// Extra starts after a crash or a timeout (a bad config or a divergence is never retried;
    /// an out-of-memory failure is retried once with the GPU to itself).
    pub retries: u32,
    /// Wait before the first retry; doubled for each later one.
    pub backoff: Duration,
    pub job_timeout: Option<Duration>,
    /// Expected peak GPU memory of every job, when the spec gives it.
    pub gpu_memory_mib: Option<u64>,
    /// Time a stopped worker gets to checkpoint before it is killed.
    pub grace: Duration,
    /// Start what is ready (jobs that depend on others too, when the executor queues
    /// dependencies) and return without following: the executor's queue runs them.
    pub detach: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            retries: 2,
            backoff: Duration::from_secs(1),
            job_timeout: None,
            gpu_memory_mib: None,
            grace: Duration::from_secs(30),
            detach: false,
        }
    }
}

/// How a sweep run ended; destructured by the caller so no count is forgotten.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub already_done: usize,
    pub done: usize,
    pub diverged: usize,
    pub failed: usize,
    pub interrupted: bool,
    /// Jobs left queued or running in the executor's queue (`detach`).
    pub detached: usize,
}

/// Why a sweep could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A transition could not be saved: nothing more may be acted on.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The executor itself failed (Slurm refused a job or did not answer); every other job
    /// would fail the same way. Jobs already submitted stay in the cluster's queue.
    #[error(transparent)]
    Executor(#[from] ExecError),
    /// The sweep directory cannot be written (disk full, read-only, gone): the message says
    /// where, and how much room a job needs.
    #[error("{0}")]
    Storage(String),
    /// A job can never start as submitted (Slurm keeps it pending with a reason that never
    /// passes); what the sweep had in the queue was cancelled. The message names the setting.
    #[error("{0}")]
    Unservable(String),
}
