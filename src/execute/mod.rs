//! Executors run `sweep worker <job dir>` somewhere and report what happens as [`ExecEvent`]s
//! on one channel; the scheduler never holds a process. `local` runs child processes; a Slurm
//! executor submits the same command.

pub mod local;

use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;

use crate::schedule::place::Placement;
use crate::worker::protocol::{exit, WorkerMessage};

/// Why a job did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    Crash { code: Option<i32>, signal: Option<i32> },
    OutOfMemory,
    BadConfig,
    /// Ran past `--job-timeout`.
    Timeout,
}

impl FailureCause {
    /// The cause's name in `state.json`, events and tables.
    pub fn name(&self) -> &'static str {
        match self {
            FailureCause::Crash { .. } => "crash",
            FailureCause::OutOfMemory => "out_of_memory",
            FailureCause::BadConfig => "bad_config",
            FailureCause::Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for FailureCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureCause::Crash { signal: Some(s), .. } => write!(f, "crash (signal {s})"),
            FailureCause::Crash { code: Some(c), .. } => write!(f, "crash (exit code {c})"),
            FailureCause::Crash { .. } => write!(f, "crash"),
            FailureCause::OutOfMemory => write!(f, "out of memory"),
            FailureCause::BadConfig => write!(f, "bad config"),
            FailureCause::Timeout => write!(f, "timeout"),
        }
    }
}

/// How a worker process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Diverged,
    /// Stopped by a signal after checkpointing; it resumes on the next run.
    Interrupted,
    Failed(FailureCause),
}

impl Outcome {
    /// Types an exit status using the worker's documented exit codes.
    pub fn from_exit(code: Option<i32>, signal: Option<i32>) -> Outcome {
        match (code, signal) {
            (Some(exit::DONE), _) => Outcome::Done,
            (Some(exit::DIVERGED), _) => Outcome::Diverged,
            (Some(exit::INTERRUPTED), _) => Outcome::Interrupted,
            (Some(exit::OUT_OF_MEMORY), _) => Outcome::Failed(FailureCause::OutOfMemory),
            (Some(exit::BAD_CONFIG), _) => Outcome::Failed(FailureCause::BadConfig),
            (code, signal) => Outcome::Failed(FailureCause::Crash { code, signal }),
        }
    }
}

/// What the scheduler hears from an executor.
#[derive(Debug)]
pub enum ExecEvent {
    Started { job: String, pid: u32 },
    Message { job: String, message: WorkerMessage },
    Exited { job: String, outcome: Outcome, stderr_tail: Vec<String> },
}

/// One job to start.
#[derive(Debug, Clone)]
pub struct Launch {
    pub job: String,
    pub dir: PathBuf,
    pub placement: Placement,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot start the worker for job {job}: {source}")]
    Spawn { job: String, source: std::io::Error },
}

pub trait Executor {
    fn start(&self, launch: Launch, events: UnboundedSender<ExecEvent>) -> Result<(), ExecError>;
    /// Asks one running job to checkpoint and stop (SIGTERM).
    fn cancel(&self, job: &str);
    /// Asks every running job to checkpoint and stop.
    fn cancel_all(&self);
    /// Kills every running job at once (SIGKILL): a second Ctrl-C, or a grace period spent.
    fn kill_all(&self);
}
