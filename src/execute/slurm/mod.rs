//! Slurm: each job is one `sbatch` of the same `sweep-worker <job dir>` a local run starts.
//! Slurm is the engine (queue, placement, GPUs, time limits); this file only submits, follows
//! and cancels. What a job asks for comes from the sweep's options, not from a GPU probe here
//! (the orchestrator may run on a login node without GPUs):
//!
//! | option           | sbatch                      | worker                 |
//! |------------------|-----------------------------|------------------------|
//! | `gpus_per_job` N | `--gres=gpu:N` (none if 0)  | `--device cuda` (`cpu`) |
//! | `cpus_per_job` C | `--cpus-per-task=C`         | `--threads C`          |
//! | `mem`            | `--mem`                     |                        |
//!
//! The job dir must be on a filesystem the nodes share: the batch script checks that it sees
//! this submission's `slurm.json` (see [`record`]) before it starts the worker. The job dir's
//! files stay the truth; Slurm's view only says whether a job is queued, running or how it
//! ended. Jobs that start from another are submitted right after it with
//! `--dependency=afterok:`, so a detached sweep still runs in order.

mod command;
pub mod fit;
mod hopeless;
mod queue;
mod reconcile;
pub mod record;
mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::{ExecError, ExecEvent, Executor, Launch, Recovery};
pub use command::unrepresentable;
use command::Failure;
use record::SlurmRecord;
use watch::{Shared, Tracked};

/// What every job of the sweep asks Slurm for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: Option<String>,
    pub qos: Option<String>,
    pub gpus: u32,
    pub cpus: u32,
    pub mem: Option<String>,
    pub sbatch_args: Vec<String>,
}

impl SlurmOptions {
    pub const DEFAULT_GPUS: u32 = 1;
    pub const DEFAULT_CPUS: u32 = 4;

    pub fn from_spec(e: &crate::spec::ExecutorSpec) -> SlurmOptions {
        SlurmOptions {
            partition: e.partition.clone(),
            account: e.account.clone(),
            time: e.time.clone(),
            qos: e.qos.clone(),
            gpus: e.gpus_per_job.unwrap_or(Self::DEFAULT_GPUS),
            cpus: e.cpus_per_job.unwrap_or(Self::DEFAULT_CPUS).max(1),
            mem: e.mem.clone(),
            sbatch_args: e.sbatch_args.clone(),
        }
    }

    /// How the scheduler describes where the jobs go.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{} GPU and {} CPU per job", self.gpus, self.cpus)];
        for (name, value) in [
            ("partition", &self.partition),
            ("account", &self.account),
            ("time", &self.time),
            ("qos", &self.qos),
            ("mem", &self.mem),
        ] {
            if let Some(v) = value {
                parts.push(format!("{name} {v}"));
            }
        }
        format!("Slurm ({})", parts.join(", "))
    }
}

pub struct SlurmExecutor {
    exe: PathBuf,
    opts: SlurmOptions,
    shared: Arc<Mutex<Shared>>,
    /// New jobs for the watcher thread (started with the first job).
    watcher: Mutex<Option<mpsc::Sender<Tracked>>>,
    stop: Arc<AtomicBool>,
    /// This user's jobs in Slurm's queue, asked once when a job's record is lost.
    active: reconcile::ActiveJobs,
}

impl SlurmExecutor {
    /// `exe`: the `sweep-worker` binary the nodes run (it must be on the shared filesystem too).
    pub fn new(exe: PathBuf, opts: SlurmOptions) -> SlurmExecutor {
        SlurmExecutor {
            exe,
            opts,
            shared: Arc::default(),
            watcher: Mutex::new(None),
            stop: Arc::default(),
            active: reconcile::ActiveJobs::default(),
        }
    }

    fn track(&self, t: Tracked) {
        self.shared
            .lock()
            .expect("lock not poisoned")
            .ids
            .insert(t.job.clone(), t.slurm_id.clone());
        let mut watcher = self.watcher.lock().expect("lock not poisoned");
        let tx = watcher.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel();
            let (shared, stop) = (Arc::clone(&self.shared), Arc::clone(&self.stop));
            std::thread::spawn(move || watch::follow(rx, shared, stop));
            tx
        });
        // The watcher lives as long as this executor; a send fails only after it stopped.
        let _ = tx.send(t);
    }

    fn scancel(&self, jobs: &[String], signal: Option<&str>) {
        let ids: Vec<String> = {
            let mut shared = self.shared.lock().expect("lock not poisoned");
            shared.cancelled.extend(jobs.iter().cloned());
            jobs.iter()
                .filter_map(|j| shared.ids.get(j).cloned())
                .collect()
        };
        if ids.is_empty() {
            return;
        }
        let mut args: Vec<String> = signal
            .map(|s| vec![format!("--signal={s}")])
            .unwrap_or_default();
        args.extend(ids);
        if let Err(e) = command::run("scancel", &args, command::QUERY_TIMEOUT) {
            eprintln!("sweep: scancel {} failed: {}", args.join(" "), e.message());
        }
    }

    /// A job without a record (never submitted, or its record damaged or deleted): a
    /// submission of it still queued or running in Slurm (same name, same directory) is
    /// followed, with its record rebuilt from it; otherwise the job is started.
    fn recover_lost(
        &self,
        launch: &Launch,
        dir: &Path,
        events: &UnboundedSender<ExecEvent>,
    ) -> Result<Recovery, ExecError> {
        let found = self
            .active
            .find(&launch.job, dir)
            .map_err(|f| slurm_error("squeue", Some(&launch.job), f))?;
        let attempt = crate::journal::JobDir::new(dir)
            .read_state()
            .ok()
            .flatten()
            .map_or(1, |s| s.attempts.max(1));
        let Some((q, rec)) =
            found.and_then(|q| Some((q.clone(), record::rebuilt(&q.id, &q.comment, attempt)?)))
        else {
            return Ok(Recovery::Start { note: None });
        };
        record::write(dir, &rec)?;
        let note = format!(
            "{}: its slurm.json was lost; slurm job {} (found by its name and directory) is {}; following it",
            launch.job,
            q.id,
            q.state.to_lowercase()
        );
        self.track(Tracked::new(
            &launch.job,
            dir.to_path_buf(),
            rec,
            events.clone(),
            true,
        ));
        Ok(Recovery::Adopted { attempt, note })
    }

    fn all_jobs(&self) -> Vec<String> {
        self.shared
            .lock()
            .expect("lock not poisoned")
            .ids
            .keys()
            .cloned()
            .collect()
    }
}

impl Drop for SlurmExecutor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn slurm_error(command: &'static str, job: Option<&str>, failure: Failure) -> ExecError {
    match failure {
        Failure::Missing(source) => ExecError::SlurmMissing {
            program: command,
            source,
        },
        other => ExecError::Slurm {
            command,
            job: job.map(str::to_string),
            message: other.message(),
        },
    }
}

impl Executor for SlurmExecutor {
    /// Records the intent, submits, records Slurm's id, and only then reports success: a
    /// submission is never unknown to the job dir.
    fn start(
        &self,
        mut launch: Launch,
        events: UnboundedSender<ExecEvent>,
    ) -> Result<(), ExecError> {
        // The node starts in its own working directory: every path it is given is absolute.
        launch.dir = std::path::absolute(&launch.dir).map_err(|e| ExecError::Slurm {
            command: "sbatch",
            job: Some(launch.job.clone()),
            message: format!("cannot make {} absolute: {e}", launch.dir.display()),
        })?;
        if let Some(why) = command::unrepresentable(&[&launch.dir, &self.exe]) {
            return Err(ExecError::Unrepresentable { message: why });
        }
        let previous = reconcile::read_or_set_aside(
            &launch.job,
            &launch.dir,
            &events,
            "its history of earlier submissions is lost",
        )?;
        let mut rec = SlurmRecord::intent(previous, launch.attempt);
        record::write(&launch.dir, &rec)?;
        let after: Vec<String> = {
            let shared = self.shared.lock().expect("lock not poisoned");
            launch
                .after
                .iter()
                .filter_map(|j| shared.ids.get(j).cloned())
                .collect()
        };
        let args = command::sbatch_args(
            &self.opts,
            &self.exe,
            &launch,
            &rec.comment(),
            &rec.token,
            &after,
        );
        let answer = match command::run("sbatch", &args, command::SUBMIT_TIMEOUT) {
            Ok(answer) => answer,
            Err(failure) => {
                // A refusal submitted nothing; after a timeout the job may exist, and the
                // unsettled intent lets the next run find it by its token.
                if !matches!(failure, Failure::TimedOut(_)) {
                    rec.settled = true;
                    let _ = record::write(&launch.dir, &rec);
                }
                return Err(slurm_error("sbatch", Some(&launch.job), failure));
            }
        };
        let Some(id) = command::parse_submitted(&answer) else {
            return Err(ExecError::Slurm {
                command: "sbatch",
                job: Some(launch.job),
                message: format!("unexpected answer {:?}", answer.trim()),
            });
        };
        rec.slurm_id = Some(id.clone());
        if let Err(e) = record::write(&launch.dir, &rec) {
            // Unrecorded, the job could run twice: take it back.
            let _ = command::run("scancel", std::slice::from_ref(&id), command::QUERY_TIMEOUT);
            return Err(e.into());
        }
        self.track(Tracked::new(&launch.job, launch.dir, rec, events, false));
        Ok(())
    }

    /// An unsettled `slurm.json` is a submission no orchestrator saw end: still queued or
    /// running, it is adopted; ended, its end is reported now; forgotten by Slurm without a
    /// result, it is started again (from its checkpoint).
    fn recover(
        &self,
        launch: &Launch,
        _grace: Duration,
        events: &UnboundedSender<ExecEvent>,
    ) -> Result<Recovery, ExecError> {
        let dir = &std::path::absolute(&launch.dir).unwrap_or_else(|_| launch.dir.clone());
        let then = "the job is looked for in Slurm's queue by its name and directory";
        let mut rec = match reconcile::read_or_set_aside(&launch.job, dir, events, then)? {
            Some(rec) => rec,
            None => return self.recover_lost(launch, dir, events),
        };
        if rec.settled {
            return Ok(Recovery::Start { note: None });
        }
        let id = match rec.slurm_id.clone() {
            Some(id) => id,
            None => {
                // Killed while sbatch ran: the job, if it reached Slurm, carries our token.
                let found = queue::by_name(&format!("sweep-{}", launch.job))
                    .map_err(|f| slurm_error("squeue", Some(&launch.job), f))?;
                match found.into_iter().find(|q| q.comment == rec.comment()) {
                    Some(q) => {
                        rec.slurm_id = Some(q.id.clone());
                        record::write(dir, &rec)?;
                        q.id
                    }
                    None => {
                        record::settle(dir)?;
                        return Ok(Recovery::Start { note: None });
                    }
                }
            }
        };
        let shown = queue::show(&id).map_err(|f| slurm_error("scontrol", Some(&launch.job), f))?;
        let mut tracked = Tracked::new(&launch.job, dir.clone(), rec.clone(), events.clone(), true);
        match &shown {
            None => {
                record::settle(dir)?;
                Ok(Recovery::Start { note: Some(format!("{}: slurm job {id} is gone without a result; submitting it again (it resumes from its checkpoint)", launch.job)) })
            }
            Some(s) if queue::phase(&s.state) == queue::Phase::Ended => {
                let lost = watch::marker_lost(dir, &rec.token);
                let outcome = watch::judge(dir, &id, shown.as_ref(), false, lost);
                watch::finish(&mut tracked, outcome, &self.shared);
                Ok(Recovery::Adopted {
                    attempt: rec.attempt,
                    note: format!(
                        "{}: slurm job {id} ended ({}) while no sweep watched it",
                        launch.job, s.state
                    ),
                })
            }
            Some(s) => {
                let note = format!(
                    "{}: slurm job {id} is {}; following it",
                    launch.job,
                    s.state.to_lowercase()
                );
                self.track(tracked);
                Ok(Recovery::Adopted {
                    attempt: rec.attempt,
                    note,
                })
            }
        }
    }

    fn queues_dependencies(&self) -> bool {
        true
    }

    fn cancel(&self, job: &str) {
        self.scancel(&[job.to_string()], None);
    }

    fn cancel_all(&self) {
        self.scancel(&self.all_jobs(), None);
    }

    fn kill_all(&self) {
        self.scancel(&self.all_jobs(), Some("KILL"));
    }
}

/// What Slurm says now about a job of a sweep (for `sweep status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmView {
    pub slurm_id: String,
    pub state: String,
    pub reason: String,
    pub node: String,
}

impl SlurmView {
    /// In the sweep's words: `queued`, `running`, `ended` (not yet handled by a sweep) or
    /// `gone` (Slurm forgot it).
    pub fn stage(&self) -> &'static str {
        if self.state == "GONE" {
            return "gone";
        }
        match queue::phase(&self.state) {
            queue::Phase::Queued => "queued",
            queue::Phase::Running => "running",
            queue::Phase::Ended => "ended",
        }
    }
}

/// Jobs whose last submission no orchestrator saw end, with its Slurm id (None while the
/// id was never saved). Reads only the job dirs.
pub fn unsettled(jobs: &[(String, PathBuf)]) -> Vec<(String, Option<String>)> {
    jobs.iter()
        .filter_map(|(job, dir)| match record::read(dir) {
            Ok(Some(r)) if !r.settled => Some((job.clone(), r.slurm_id)),
            _ => None,
        })
        .collect()
}

/// Slurm's view of every unsettled job among `jobs`, in one squeue call. A job missing from
/// the answer is one Slurm forgot.
pub fn survey(jobs: &[(String, PathBuf)]) -> Result<BTreeMap<String, SlurmView>, ExecError> {
    let ids: Vec<(String, String)> = unsettled(jobs)
        .into_iter()
        .filter_map(|(j, id)| Some((j, id?)))
        .collect();
    let seen = queue::squeue(&ids.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>())
        .map_err(|f| slurm_error("squeue", None, f))?;
    Ok(ids
        .into_iter()
        .map(|(job, id)| {
            let view = match seen.get(&id) {
                Some(q) => SlurmView {
                    slurm_id: id,
                    state: q.state.clone(),
                    reason: q.reason.clone(),
                    node: q.node.clone(),
                },
                None => SlurmView {
                    slurm_id: id,
                    state: "GONE".into(),
                    reason: String::new(),
                    node: String::new(),
                },
            };
            (job, view)
        })
        .collect())
}

/// Whether `dir` holds a record of a Slurm submission (a sweep that ran on Slurm).
pub fn has_record(dir: &Path) -> bool {
    record::path(dir).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{is_slurm_memory, is_slurm_time, ExecutorKind, ExecutorSpec};

    #[test]
    fn the_command_line_wins_over_the_spec_and_defaults_fill_the_rest() {
        let spec = ExecutorSpec {
            kind: Some(ExecutorKind::Slurm),
            partition: Some("gpu".into()),
            time: Some("60".into()),
            sbatch_args: vec!["--constraint=v100".into()],
            ..ExecutorSpec::default()
        };
        let cli = ExecutorSpec {
            time: Some("2:00:00".into()),
            cpus_per_job: Some(2),
            sbatch_args: vec!["--constraint=a100".into()],
            ..ExecutorSpec::default()
        };
        let o = SlurmOptions::from_spec(&spec.overridden_by(&cli));
        assert_eq!(o.partition.as_deref(), Some("gpu"));
        assert_eq!(o.time.as_deref(), Some("2:00:00"));
        assert_eq!((o.gpus, o.cpus), (SlurmOptions::DEFAULT_GPUS, 2));
        // Both kept, the command line's last: sbatch takes the last of a repeated option.
        assert_eq!(o.sbatch_args, ["--constraint=v100", "--constraint=a100"]);
        assert_eq!(
            o.describe(),
            "Slurm (1 GPU and 2 CPU per job, partition gpu, time 2:00:00)"
        );
    }

    #[test]
    fn slurm_times_and_sizes_are_checked_as_sbatch_would() {
        for ok in [
            "90",
            "90:30",
            "4:00:00",
            "1-12",
            "1-12:30",
            "2-0:0:0",
            "UNLIMITED",
        ] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in ["", "1:2:3:4", "1h", "-5", "1-", "4:00:"] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
        for ok in ["100", "16G", "512M", "2t"] {
            assert!(is_slurm_memory(ok), "{ok}");
        }
        for bad in ["", "G", "16GB", "1.5G", "lots"] {
            assert!(!is_slurm_memory(bad), "{bad}");
        }
        let bad = ExecutorSpec {
            time: Some("soon".into()),
            ..ExecutorSpec::default()
        };
        assert!(bad
            .check()
            .unwrap_err()
            .contains("--time soon is not a Slurm time"));
    }
}
