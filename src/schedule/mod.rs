//! The dispatcher: a tokio loop that starts ready jobs on free slots, hears executor events,
//! records every transition in the journal before acting on it, retries crashes, and on
//! SIGINT/SIGTERM stops launching and lets running workers checkpoint and exit.

pub mod nvml;
pub mod place;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::execute::{ExecEvent, Executor, FailureCause, Launch, Outcome};
use crate::journal::{records_now, Event, JobDir, JobState, JobStatus, JournalError, SweepDir};
use crate::plan::Plan;
use crate::worker::protocol::WorkerMessage;
use place::Placement;

pub struct RunOptions {
    /// Extra starts after a crash (a bad config or a divergence is never retried).
    pub max_retries: u32,
    /// Seconds between progress lines of one job.
    pub progress_every: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_retries: 1,
            progress_every: Duration::from_secs(15),
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
    pub unsupported: usize,
    pub interrupted: bool,
}

struct Running {
    slot: usize,
    row: String,
    started: Instant,
    last_print: Instant,
}

fn event(sweep: &SweepDir, job: &str, status: JobStatus) -> Result<(), JournalError> {
    sweep.append_event(&Event {
        at: records_now(),
        job: job.into(),
        status,
    })
}

/// Runs every job of `plan` that has no result yet. `on_result` is called after each job that
/// finishes (to refresh tables). Journal errors stop scheduling: a transition that cannot be
/// saved must not be acted on.
pub async fn run(
    sweep: &SweepDir,
    plan: &Plan,
    slots: &[Placement],
    executor: &dyn Executor,
    opts: &RunOptions,
    supported: &dyn Fn(&crate::spec::JobConfig) -> Result<(), String>,
    on_result: &mut dyn FnMut(),
) -> Result<Summary, JournalError> {
    let mut summary = Summary::default();
    let mut queue: VecDeque<(&crate::expand::Job, u32)> = VecDeque::new();
    let order = plan.order().expect("the plan was checked for cycles when built");
    let total = order.len();
    let mut not_run: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for job in order {
        let dir = JobDir::new(sweep.job_dir(&job.id));
        dir.prepare(&crate::spec::config_to_yaml(&job.config))?;
        if dir.read_result()?.is_some() {
            summary.already_done += 1;
            continue;
        }
        if let Err(reason) = supported(&job.config) {
            let status = JobStatus::Unsupported { reason: reason.clone() };
            dir.write_state(&JobState { status: status.clone(), attempts: 0, threads: 0, updated_at: records_now() })?;
            event(sweep, &job.id, status)?;
            let rows = not_run.entry(reason).or_default();
            if !rows.contains(&job.row) {
                rows.push(job.row.clone());
            }
            summary.unsupported += 1;
            continue;
        }
        queue.push_back((job, 0));
    }
    for (reason, rows) in &not_run {
        eprintln!("sweep: not run ({reason}): {}", rows.join("; "));
    }
    if summary.already_done > 0 {
        eprintln!("sweep: {} of {total} jobs already done, skipped", summary.already_done);
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut free: Vec<usize> = (0..slots.len()).rev().collect();
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut attempts: HashMap<String, u32> = HashMap::new();
    let mut finished = summary.already_done;
    let mut stopping = false;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| JournalError::Io { action: "listen for", path: "SIGTERM".into(), source: e })?;

    loop {
        while !stopping && !queue.is_empty() && !free.is_empty() {
            let (job, tries) = queue.pop_front().expect("checked non-empty");
            let slot = free.pop().expect("checked non-empty");
            let placement = slots[slot].clone();
            event(sweep, &job.id, JobStatus::Running { pid: 0, placement: placement.to_string() })?;
            let launch = Launch { job: job.id.clone(), dir: sweep.job_dir(&job.id), placement };
            match executor.start(launch, tx.clone()) {
                Ok(()) => {
                    attempts.insert(job.id.clone(), tries + 1);
                    let now = Instant::now();
                    running.insert(job.id.clone(), Running { slot, row: format!("{} seed {}", job.row, job.seed), started: now, last_print: now });
                }
                Err(e) => {
                    free.push(slot);
                    let status = JobStatus::Failed { cause: "spawn".into(), message: e.to_string() };
                    event(sweep, &job.id, status)?;
                    eprintln!("sweep: {e}");
                    summary.failed += 1;
                }
            }
        }
        if running.is_empty() {
            break;
        }
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = tokio::signal::ctrl_c(), if !stopping => { stop(&mut stopping, executor); continue }
            _ = sigterm.recv(), if !stopping => { stop(&mut stopping, executor); continue }
        };
        let Some(ev) = ev else { break };
        match ev {
            ExecEvent::Started { .. } => {}
            ExecEvent::Message { job, message } => {
                if let (Some(r), WorkerMessage::Progress { iteration, iterations, losses, images_per_sec, .. }) = (running.get_mut(&job), &message) {
                    if r.last_print.elapsed() >= opts.progress_every {
                        r.last_print = Instant::now();
                        let loss = losses.get("total").copied().unwrap_or(f64::NAN);
                        eprintln!("         {job}  {}: iteration {iteration}/{iterations}, loss {loss:.4}, {images_per_sec:.0} images/s", r.row);
                    }
                }
            }
            ExecEvent::Exited { job, outcome, stderr_tail } => {
                let r = running.remove(&job).expect("exits only for started jobs");
                free.push(r.slot);
                let secs = r.started.elapsed().as_secs_f64();
                let dir = JobDir::new(sweep.job_dir(&job));
                match outcome {
                    Outcome::Done | Outcome::Diverged => {
                        let result = dir.read_result()?;
                        let Some(result) = result else {
                            // An exit code of success without result.json is a crash.
                            summary.failed += 1;
                            event(sweep, &job, JobStatus::Failed { cause: "crash".into(), message: "worker exited without result.json".into() })?;
                            continue;
                        };
                        finished += 1;
                        if result.status == "diverged" {
                            summary.diverged += 1;
                            event(sweep, &job, JobStatus::Diverged { iteration: result.diverged_at.unwrap_or(0) })?;
                            eprintln!("[{finished:>3}/{total}] diverged {job}  {} at iteration {}", r.row, result.diverged_at.unwrap_or(0));
                        } else {
                            summary.done += 1;
                            event(sweep, &job, JobStatus::Done)?;
                            let m = |k: &str| result.metrics.get(k).copied().unwrap_or(-1.0) * 100.0;
                            eprintln!("[{finished:>3}/{total}] done {job}  {}: AP {:.1}  AP50 {:.1}  APs {:.1}  ({secs:.0} s)", r.row, m("AP"), m("AP50"), m("APs"));
                        }
                        on_result();
                    }
                    Outcome::Interrupted => {
                        event(sweep, &job, JobStatus::Pending)?;
                        eprintln!("         {job}  {}: stopped after a checkpoint; it resumes on the next run", r.row);
                    }
                    Outcome::Failed(cause) => {
                        let tries = attempts.get(&job).copied().unwrap_or(1);
                        let retry = !stopping && cause != FailureCause::BadConfig && tries <= opts.max_retries;
                        let status = JobStatus::Failed { cause: cause.to_string(), message: stderr_tail.last().cloned().unwrap_or_default() };
                        event(sweep, &job, status.clone())?;
                        if retry {
                            eprintln!("         {job}  {}: {cause}; retrying ({tries}/{})", r.row, opts.max_retries);
                            let entry = plan.entries.iter().find(|j| j.id == job).expect("job is in the plan");
                            queue.push_front((entry, tries));
                        } else {
                            finished += 1;
                            summary.failed += 1;
                            dir.write_state(&JobState { status, attempts: tries, threads: slots[r.slot].threads(), updated_at: records_now() })?;
                            eprintln!("[{finished:>3}/{total}] FAILED {job}  {}: {cause}; last lines of {}:", r.row, dir.stderr_path().display());
                            for line in &stderr_tail {
                                eprintln!("    {line}");
                            }
                        }
                    }
                }
            }
        }
    }
    summary.interrupted = stopping;
    Ok(summary)
}

fn stop(stopping: &mut bool, executor: &dyn Executor) {
    *stopping = true;
    eprintln!("sweep: stopping: no new jobs; running jobs save a checkpoint and exit (run again to resume)");
    executor.cancel_all();
}
