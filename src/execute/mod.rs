//! Executors run `sweep-worker <job dir>` somewhere and report what happens as [`ExecEvent`]s
//! on one channel; the scheduler never holds a process. `local` runs child processes; `slurm`
//! submits the same command with sbatch.

pub mod local;
pub mod slurm;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::launch::protocol::{exit, WorkerMessage};
use crate::launch::Placement;

/// Why a job did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    Crash {
        code: Option<i32>,
        signal: Option<i32>,
    },
    OutOfMemory,
    BadConfig,
    /// Ran past `--job-timeout`, or past Slurm's time limit (`--time`).
    Timeout,
    /// Slurm lost the node (NODE_FAIL, BOOT_FAIL): not the job's fault, retried.
    NodeFailure,
    /// Slurm preempted the job (or stopped it with a signal we did not send): retried without
    /// counting as an attempt, since it resumes from its checkpoint.
    Preempted,
    /// Cancelled outside this sweep (someone ran scancel): not retried; a rerun starts it again.
    Cancelled,
    /// A job it starts from failed, so Slurm dropped it (afterok never satisfied): queued
    /// again without counting as an attempt, and submitted after its parent's next start.
    DependencyFailed,
    /// Slurm no longer knows the job and it left no result: retried (from its checkpoint).
    Lost,
    /// Its directory cannot be written (disk full, read-only, gone): not retried, and the
    /// sweep stops launching.
    Storage,
    /// The job could not see its directory on its node: the sweep directory is not on a
    /// filesystem the Slurm nodes share. Stops the sweep.
    NotShared {
        node: String,
    },
}

impl FailureCause {
    /// The cause's name in `state.json`, events and tables.
    pub fn name(&self) -> &'static str {
        match self {
            FailureCause::Crash { .. } => "crash",
            FailureCause::OutOfMemory => "out_of_memory",
            FailureCause::BadConfig => "bad_config",
            FailureCause::Timeout => "timeout",
            FailureCause::NodeFailure => "node_failure",
            FailureCause::Preempted => "preempted",
            FailureCause::Cancelled => "cancelled",
            FailureCause::DependencyFailed => "dependency_failed",
            FailureCause::Lost => "lost",
            FailureCause::Storage => "storage",
            FailureCause::NotShared { .. } => "not_shared",
        }
    }
}

impl std::fmt::Display for FailureCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureCause::Crash {
                signal: Some(s), ..
            } => write!(f, "crash (signal {s})"),
            FailureCause::Crash { code: Some(c), .. } => write!(f, "crash (exit code {c})"),
            FailureCause::Crash { .. } => write!(f, "crash"),
            FailureCause::OutOfMemory => write!(f, "out of memory"),
            FailureCause::BadConfig => write!(f, "bad config"),
            FailureCause::Timeout => write!(f, "timeout"),
            FailureCause::NodeFailure => write!(f, "node failure"),
            FailureCause::Preempted => write!(f, "preempted"),
            FailureCause::Cancelled => write!(f, "cancelled outside the sweep (scancel)"),
            FailureCause::DependencyFailed => write!(f, "the job it starts from failed"),
            FailureCause::Lost => write!(f, "lost by Slurm without a result"),
            FailureCause::Storage => write!(f, "its directory cannot be written"),
            FailureCause::NotShared { node } => {
                write!(f, "its directory is not visible on node {node}")
            }
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
            (Some(exit::NO_STORAGE), _) => Outcome::Failed(FailureCause::Storage),
            (code, signal) => Outcome::Failed(FailureCause::Crash { code, signal }),
        }
    }
}

/// What the scheduler hears from an executor.
#[derive(Debug)]
pub enum ExecEvent {
    /// The worker began running (a local child at once; a Slurm job when it leaves the queue):
    /// timeouts count from here. `pid` is the Slurm job id for Slurm.
    Started {
        job: String,
        pid: u32,
    },
    Message {
        job: String,
        message: WorkerMessage,
    },
    /// Something the user should read about a job that is not a transition (a Slurm job held
    /// in the queue for an unusual reason, Slurm not answering).
    Notice {
        job: String,
        text: String,
    },
    Exited {
        job: String,
        outcome: Outcome,
        stderr_tail: Vec<String>,
    },
    /// A file the executor keeps in the job dir (Slurm's `slurm.json`) was damaged or lost:
    /// moved aside to `moved_to` (empty when it was missing); `then` says what follows.
    Damaged {
        job: String,
        file: String,
        why: String,
        moved_to: String,
        then: String,
    },
    /// The job can never start as submitted (Slurm keeps it pending with a reason that never
    /// passes, such as `PartitionTimeLimit`): the sweep stops. `message` names the setting to
    /// change; the job itself is still queued until the sweep cancels it.
    Unservable {
        job: String,
        reason: String,
        message: String,
    },
}

/// One job to start.
#[derive(Debug, Clone)]
pub struct Launch {
    pub job: String,
    pub dir: PathBuf,
    pub placement: Placement,
    /// Which start of the job this is (1 = first).
    pub attempt: u32,
    /// Jobs it starts from that were started but have not finished: an executor that
    /// [queues dependencies](Executor::queues_dependencies) runs this one after they succeed.
    pub after: Vec<String>,
}

/// What an executor found of a job an earlier orchestrator may have left running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing of it runs now: start it (it resumes from its checkpoint, if any).
    Start { note: Option<String> },
    /// Still queued or running, or ended while no orchestrator watched: its events follow on
    /// the channel as if it had been started now, as start number `attempt`.
    Adopted { attempt: u32, note: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot start the worker for job {job}: {source}")]
    Spawn { job: String, source: std::io::Error },
    /// Slurm refused or failed (sbatch rejected a request, the controller did not answer).
    #[error("{command} failed{}: {message}", job.as_ref().map(|j| format!(" for job {j}")).unwrap_or_default())]
    Slurm {
        command: &'static str,
        job: Option<String>,
        message: String,
    },
    #[error("cannot run {program} (is Slurm installed on this machine?): {source}")]
    SlurmMissing {
        program: &'static str,
        source: std::io::Error,
    },
    /// A path the executor cannot pass on as it is (Slurm and a line break); names the path.
    #[error("{message}")]
    Unrepresentable { message: String },
    /// The executor's own record in a job dir (Slurm's `slurm.json`) could not be kept.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error("slurm job {slurm_id} (job {job}) could not use {dir} on node {node}: the sweep directory (and the sweep binary) must be on a filesystem the Slurm nodes share")]
    NotShared {
        job: String,
        slurm_id: String,
        node: String,
        dir: PathBuf,
    },
}

impl ExecError {
    /// Whether the sweep must stop: the cluster itself failed or refused, so every other job
    /// would fail the same way. A local worker that cannot start fails only its own job.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ExecError::Spawn { .. })
    }
}

pub trait Executor {
    fn start(&self, launch: Launch, events: UnboundedSender<ExecEvent>) -> Result<(), ExecError>;
    /// Called once for each unfinished job before scheduling starts, so that a job an earlier
    /// orchestrator started is never started twice. The default starts everything afresh.
    fn recover(
        &self,
        launch: &Launch,
        grace: Duration,
        events: &UnboundedSender<ExecEvent>,
    ) -> Result<Recovery, ExecError> {
        let _ = (launch, grace, events);
        Ok(Recovery::Start { note: None })
    }
    /// Whether a job may be started while the jobs it depends on are still running (the
    /// executor then holds it back until they succeed, as Slurm's `--dependency=afterok`).
    fn queues_dependencies(&self) -> bool {
        false
    }
    /// Asks one running job to checkpoint and stop (SIGTERM).
    fn cancel(&self, job: &str);
    /// Asks every running job to checkpoint and stop.
    fn cancel_all(&self);
    /// Kills every running job at once (SIGKILL): a second Ctrl-C, or a grace period spent.
    fn kill_all(&self);
}
