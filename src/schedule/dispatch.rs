//! The dispatcher: a tokio loop that starts ready jobs where they fit (in DAG order, after the
//! jobs they start from), hears executor events and worker messages, records every transition
//! in the journal before acting on it, times jobs out, and on SIGINT/SIGTERM stops launching
//! and lets running workers checkpoint. What a job's end means is in [`retry`].

mod damage;
mod retry;
mod storage;
mod unservable;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::peaks::{recorded_peak_mib, Peaks};
use super::place::{self, Demand, GpuLoad, GpuState};
use super::{shape_of, Display, Hardware, RunOptions, ScheduleError, Summary};
use crate::execute::{ExecError, ExecEvent, Executor, Launch, Recovery};
use crate::expand::Job;
use crate::journal::{records_now, Event, JobDir, JobState, JobStatus, JournalError, SweepDir};
use crate::launch::protocol::WorkerMessage;
use crate::launch::Placement;
use crate::plan::Plan;

struct Queued<'a> {
    job: &'a Job,
    attempt: u32,
    not_before: Instant,
    exclusive: bool,
}

struct Running<'a> {
    job: &'a Job,
    attempt: u32,
    exclusive: bool,
    gpu: Option<usize>,
    cpu: bool,
    shape: String,
    started: Instant,
    peak_mib: u64,
    timed_out: bool,
    progress: Option<(u64, u64)>,
    /// The message of the worker's `failed` line, when it sent one.
    failure: Option<String>,
}

struct Dispatcher<'a> {
    sweep: &'a SweepDir,
    spec: &'a crate::spec::Spec,
    plan: &'a Plan,
    opts: &'a RunOptions,
    hardware: &'a Hardware,
    queue: VecDeque<Queued<'a>>,
    running: HashMap<String, Running<'a>>,
    /// Ids whose result exists (done or diverged) and ids that failed for good.
    finished: HashSet<String>,
    failed: HashSet<String>,
    cpu_busy: usize,
    gpu_load: Vec<GpuLoad>,
    /// The largest measured peak of each shape (from finished jobs, this run's and earlier).
    peaks: Peaks,
    summary: Summary,
    total: usize,
    display: Display,
    events: crate::journal::EventLog,
    /// Shape of each job (what its GPU memory depends on), computed once.
    shapes: HashMap<String, String>,
    /// The executor holds a job back until the jobs it starts from succeed (Slurm's
    /// afterok), so it may be started as soon as they are.
    submit_ahead: bool,
    /// An executor failure that stops the sweep.
    fatal: Option<ExecError>,
    /// The sweep directory cannot be written: nothing more is launched; the message is the
    /// sweep's error once the running jobs have ended.
    halt: Option<String>,
    /// A job can never start as submitted (see [`unservable`]): the sweep's error once what
    /// it had in the executor's queue is cancelled.
    unservable: Option<String>,
}

/// Runs every job of `plan` that has no result yet. `on_result` runs after each job that
/// finishes (to refresh tables). A journal error stops scheduling: a transition that cannot
/// be saved must not be acted on.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    sweep: &SweepDir,
    spec: &crate::spec::Spec,
    plan: &Plan,
    hardware: &Hardware,
    executor: &dyn Executor,
    opts: &RunOptions,
    display: Display,
    on_result: &mut dyn FnMut(),
) -> Result<Summary, ScheduleError> {
    let ran = run_jobs(
        sweep, spec, plan, hardware, executor, opts, display, on_result,
    );
    ran.await.map_err(|e| storage::explain_error(sweep, e))
}

#[allow(clippy::too_many_arguments)]
async fn run_jobs(
    sweep: &SweepDir,
    spec: &crate::spec::Spec,
    plan: &Plan,
    hardware: &Hardware,
    executor: &dyn Executor,
    opts: &RunOptions,
    display: Display,
    on_result: &mut dyn FnMut(),
) -> Result<Summary, ScheduleError> {
    let order = plan
        .order()
        .expect("the plan was checked for cycles when built");
    let gpu_count = match hardware {
        Hardware::Gpu { gpus, .. } => gpus.snapshot().map(|g| g.len()).unwrap_or(0),
        Hardware::Cpu { .. } | Hardware::Slurm { .. } => 0,
    };
    let jobs = order
        .iter()
        .map(|j| (j.id.as_str(), j.row.as_str(), &j.config));
    let peaks = Peaks::from_results(sweep, jobs);
    let mut d = Dispatcher {
        sweep,
        spec,
        plan,
        opts,
        hardware,
        queue: VecDeque::new(),
        running: HashMap::new(),
        finished: HashSet::new(),
        failed: HashSet::new(),
        cpu_busy: 0,
        gpu_load: vec![GpuLoad::default(); gpu_count],
        peaks,
        summary: Summary::default(),
        total: order.len(),
        display,
        events: sweep.events()?,
        shapes: order
            .iter()
            .map(|j| (j.id.clone(), shape_of(&j.config)))
            .collect(),
        submit_ahead: executor.queues_dependencies(),
        fatal: None,
        halt: None,
        unservable: None,
    };
    // Listening before anything starts: a Ctrl-C that comes while jobs are being started
    // (submitted) is then handled, not fatal to an orchestrator that has work out.
    let listen = |kind, name: &str| {
        tokio::signal::unix::signal(kind).map_err(|e| JournalError::Io {
            action: "listen for",
            path: name.into(),
            source: e,
        })
    };
    let mut sigint = listen(tokio::signal::unix::SignalKind::interrupt(), "SIGINT")?;
    let mut sigterm = listen(tokio::signal::unix::SignalKind::terminate(), "SIGTERM")?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    d.admit_jobs(order, executor, &tx)?;
    d.display.start(d.total, d.summary.already_done);

    let mut stopping: Option<Instant> = None;
    let mut killed = false;
    let tick = Duration::from_millis(200);

    loop {
        if stopping.is_none() && d.fatal.is_none() && d.halt.is_none() {
            d.launch_ready(executor, &tx)?;
        }
        let over = stopping.is_some() || d.queue.is_empty() || d.halt.is_some();
        if d.fatal.is_some() || (d.running.is_empty() && over) {
            break;
        }
        if d.opts.detach && stopping.is_none() {
            // Nothing is followed: handle what has already arrived (ends found while
            // recovering), start what that made ready, and leave the rest to the queue.
            match rx.try_recv() {
                Ok(ev) => {
                    if d.on_event(ev, false)? {
                        on_result();
                    }
                    continue;
                }
                Err(_) => break,
            }
        }
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = sigint.recv() => { d.stop(&mut stopping, &mut killed, executor); continue }
            _ = sigterm.recv() => { d.stop(&mut stopping, &mut killed, executor); continue }
            _ = tokio::time::sleep(tick) => {
                d.check_timeouts(executor);
                if let Some(since) = stopping {
                    if !killed && since.elapsed() > d.opts.grace {
                        killed = true;
                        executor.kill_all();
                    }
                }
                continue
            }
        };
        let Some(ev) = ev else { break };
        if d.on_event(ev, stopping.is_some())? {
            on_result();
        }
        if stopping.is_none() && d.unservable.is_some() {
            stopping = Some(Instant::now());
            d.cancel_unservable(executor);
        }
    }
    d.summary.interrupted = stopping.is_some();
    d.summary.detached = if d.opts.detach { d.running.len() } else { 0 };
    d.display.finish();
    let Dispatcher {
        events,
        summary,
        fatal,
        halt,
        unservable,
        ..
    } = d;
    events.close()?;
    match (fatal, halt, unservable) {
        (Some(e), _, _) => Err(e.into()),
        (None, Some(message), _) => Err(ScheduleError::Storage(message)),
        (None, None, Some(message)) => Err(ScheduleError::Unservable(message)),
        (None, None, None) => Ok(summary),
    }
}

impl<'a> Dispatcher<'a> {
    fn log(&self, job: &str, status: JobStatus) -> Result<(), JournalError> {
        self.events.append(&Event {
            at: records_now(),
            job: job.into(),
            status,
        })
    }

    /// Sorts the plan's jobs into done (skipped), still running from an earlier orchestrator
    /// (adopted, as the executor finds them), and queued.
    fn admit_jobs(
        &mut self,
        order: Vec<&'a Job>,
        executor: &dyn Executor,
        tx: &mpsc::UnboundedSender<ExecEvent>,
    ) -> Result<(), ScheduleError> {
        let now = Instant::now();
        for job in order {
            let dir = JobDir::new(self.sweep.job_dir(&job.id));
            let yaml = crate::spec::config_to_yaml(&job.config);
            self.repair_job(job, &dir, &yaml)?;
            dir.prepare(&yaml, &job.meta(self.spec))?;
            if dir.read_result()?.is_some() {
                self.summary.already_done += 1;
                self.finished.insert(job.id.clone());
                continue;
            }
            let launch = Launch {
                job: job.id.clone(),
                dir: dir.path.clone(),
                placement: self.nominal_placement(),
                attempt: 0,
                after: Vec::new(),
            };
            match executor.recover(&launch, self.opts.grace, tx)? {
                Recovery::Start { note } => {
                    if let Some(note) = note {
                        self.display.line(&format!("sweep: {note}"));
                    }
                    self.queue.push_back(Queued {
                        job,
                        attempt: 0,
                        not_before: now,
                        exclusive: false,
                    });
                }
                Recovery::Adopted { attempt, note } => {
                    self.display.line(&format!("sweep: {note}"));
                    self.display.started(
                        &job.id,
                        &format!("{} seed {}", job.row, job.seed),
                        &format!("{} (adopted)", self.nominal_placement()),
                    );
                    let shape = self.shapes[&job.id].clone();
                    let r = Running {
                        job,
                        attempt,
                        exclusive: false,
                        gpu: None,
                        cpu: false,
                        shape,
                        started: Instant::now(),
                        peak_mib: 0,
                        timed_out: false,
                        progress: None,
                        failure: None,
                    };
                    self.running.insert(job.id.clone(), r);
                }
            }
        }
        if self.summary.already_done > 0 {
            self.display.line(&format!(
                "sweep: {} of {} jobs already done, skipped",
                self.summary.already_done, self.total
            ));
        }
        Ok(())
    }

    /// Where a job would go, for an executor that asks before anything is placed.
    fn nominal_placement(&self) -> Placement {
        match self.hardware {
            Hardware::Slurm { gpus, threads, .. } => Placement::Slurm {
                gpus: *gpus,
                threads: *threads,
            },
            Hardware::Cpu { threads, .. } | Hardware::Gpu { threads, .. } => {
                Placement::Cpu { threads: *threads }
            }
        }
    }

    fn demand(&self, q: &Queued) -> Demand {
        let shape = self.shapes[&q.job.id].clone();
        let peak_mib = self.estimate_mib(&shape);
        Demand {
            shape,
            peak_mib,
            exclusive: q.exclusive,
        }
    }

    /// What one job of `shape` is expected to take: measured, else the spec's estimate.
    fn estimate_mib(&self, shape: &str) -> Option<u64> {
        self.peaks.estimate(shape, self.opts.gpu_memory_mib).mib
    }

    /// Where the job at `q` could start now: a placement and the GPU it takes, if any.
    fn place(
        &mut self,
        demand: &Demand,
        snapshot: &[GpuState],
    ) -> Option<(Placement, Option<usize>)> {
        match self.hardware {
            Hardware::Cpu {
                concurrent,
                threads,
            } => (self.cpu_busy < *concurrent)
                .then_some((Placement::Cpu { threads: *threads }, None)),
            // Slurm queues whatever is submitted.
            Hardware::Slurm { .. } => Some((self.nominal_placement(), None)),
            Hardware::Gpu {
                threads, policy, ..
            } => {
                // Running jobs count at their shape's current figure: a peak learned since they
                // started holds for them too.
                let reserved: Vec<u64> = (self.gpu_load.iter())
                    .map(|l| l.shapes.iter().filter_map(|s| self.estimate_mib(s)).sum())
                    .collect();
                for ((load, g), r) in self.gpu_load.iter_mut().zip(snapshot).zip(reserved) {
                    if load.shapes.is_empty() {
                        load.baseline_free_mib = g.free_mib;
                    }
                    load.reserved_mib = r;
                }
                let i = place::admit(snapshot, &self.gpu_load, demand, policy)?;
                let g = &snapshot[i];
                Some((
                    Placement::Gpu {
                        index: g.index,
                        uuid: g.uuid.clone(),
                        threads: *threads,
                    },
                    Some(i),
                ))
            }
        }
    }

    /// Whether a job can start, and the jobs it must then wait for (started, not finished:
    /// only when the executor queues dependencies).
    fn deps_state(&self, job: &Job) -> (DepState, Vec<String>) {
        let deps = self.plan.depends_on(&job.id);
        if deps.iter().any(|d| self.failed.contains(d)) {
            (DepState::Failed, Vec::new())
        } else if deps.iter().all(|d| self.finished.contains(d)) {
            (DepState::Ready, Vec::new())
        } else if self.submit_ahead
            && deps
                .iter()
                .all(|d| self.finished.contains(d) || self.running.contains_key(d))
        {
            (
                DepState::Ready,
                deps.into_iter()
                    .filter(|d| self.running.contains_key(d))
                    .collect(),
            )
        } else {
            (DepState::Waiting, Vec::new())
        }
    }

    /// Starts every queued job that is ready and fits, in queue order (a job that does not fit
    /// does not hold back smaller ones behind it).
    fn launch_ready(
        &mut self,
        executor: &dyn Executor,
        tx: &mpsc::UnboundedSender<ExecEvent>,
    ) -> Result<(), ScheduleError> {
        if self.queue.is_empty() {
            return Ok(());
        }
        let snapshot = match self.hardware {
            Hardware::Gpu { gpus, .. } => gpus.snapshot().unwrap_or_default(),
            Hardware::Cpu { .. } | Hardware::Slurm { .. } => Vec::new(),
        };
        let now = Instant::now();
        // A demand that did not fit once in this pass will not fit later in it either.
        let mut refused: HashSet<(String, bool)> = HashSet::new();
        let mut i = 0;
        while i < self.queue.len() {
            if let Hardware::Cpu { concurrent, .. } = self.hardware {
                if self.cpu_busy >= *concurrent {
                    break;
                }
            }
            let q = &self.queue[i];
            if q.not_before > now {
                i += 1;
                continue;
            }
            let (deps, after) = self.deps_state(q.job);
            match deps {
                DepState::Waiting => {
                    i += 1;
                    continue;
                }
                DepState::Failed => {
                    let q = self.queue.remove(i).expect("index in range");
                    self.fail_for_good(
                        q.job,
                        q.attempt,
                        "dependency_failed",
                        "a job this one starts from failed".into(),
                        &[],
                    )?;
                    continue;
                }
                DepState::Ready => {}
            }
            let demand = self.demand(&self.queue[i]);
            let key = (demand.shape.clone(), demand.exclusive);
            if refused.contains(&key) {
                i += 1;
                continue;
            }
            let Some((placement, gpu)) = self.place(&demand, &snapshot) else {
                refused.insert(key);
                i += 1;
                continue;
            };
            let q = self.queue.remove(i).expect("index in range");
            let shape = self.shapes[&q.job.id].clone();
            // A job that already ran keeps its thread count: CPU results depend on it.
            let placement = match (
                placement,
                JobDir::new(self.sweep.job_dir(&q.job.id)).read_state(),
            ) {
                (Placement::Cpu { .. }, Ok(Some(JobState { threads, .. }))) if threads > 0 => {
                    Placement::Cpu { threads }
                }
                (p, _) => p,
            };
            self.log(
                &q.job.id,
                JobStatus::Running {
                    pid: 0,
                    placement: placement.to_string(),
                    started: None,
                },
            )?;
            let launch = Launch {
                job: q.job.id.clone(),
                dir: self.sweep.job_dir(&q.job.id),
                placement: placement.clone(),
                attempt: q.attempt + 1,
                after,
            };
            if let Err(e) = executor.start(launch, tx.clone()) {
                if e.is_fatal() {
                    // The job was not started: it stays pending for the next run.
                    self.log(&q.job.id, JobStatus::Pending)?;
                    self.fatal = Some(e);
                    return Ok(());
                }
                self.fail_for_good(q.job, q.attempt + 1, "crash", e.to_string(), &[])?;
                continue;
            }
            match gpu {
                Some(g) => {
                    let load = &mut self.gpu_load[g];
                    load.shapes.push(shape.clone());
                    load.exclusive |= q.exclusive;
                }
                None => self.cpu_busy += 1,
            }
            self.display.started(
                &q.job.id,
                &format!("{} seed {}", q.job.row, q.job.seed),
                &placement.to_string(),
            );
            self.running.insert(
                q.job.id.clone(),
                Running {
                    job: q.job,
                    attempt: q.attempt + 1,
                    exclusive: q.exclusive,
                    gpu,
                    cpu: gpu.is_none(),
                    shape,
                    started: Instant::now(),
                    peak_mib: 0,
                    timed_out: false,
                    progress: None,
                    failure: None,
                },
            );
        }
        Ok(())
    }

    /// Handles one executor event; returns whether a result arrived.
    fn on_event(&mut self, ev: ExecEvent, stopping: bool) -> Result<bool, JournalError> {
        match ev {
            ExecEvent::Started { job, .. } => {
                // Timeouts and durations count from the start of the work, not from a place
                // in a queue.
                if let Some(r) = self.running.get_mut(&job) {
                    r.started = Instant::now();
                }
                Ok(false)
            }
            ExecEvent::Message { job, message } => {
                self.on_message(&job, message);
                Ok(false)
            }
            ExecEvent::Notice { text, .. } => {
                self.display.line(&text);
                Ok(false)
            }
            ExecEvent::Exited {
                job,
                outcome,
                stderr_tail,
            } => self.on_exit(&job, outcome, stderr_tail, stopping),
            ExecEvent::Damaged {
                job,
                file,
                why,
                moved_to,
                then,
            } => {
                self.executor_damage(&job, file, why, moved_to, &then)?;
                Ok(false)
            }
            ExecEvent::Unservable {
                job,
                reason,
                message,
            } => {
                self.on_unservable(&job, reason, message)?;
                Ok(false)
            }
        }
    }

    fn on_message(&mut self, job: &str, message: WorkerMessage) {
        let Some(r) = self.running.get_mut(job) else {
            return;
        };
        match &message {
            WorkerMessage::Note { text } => {
                let line = format!("sweep: {job}  {} seed {}: {text}", r.job.row, r.job.seed);
                self.display.line(&line);
                return;
            }
            // The worker's own one-line account: what a failure shows (stderr.log has the rest).
            WorkerMessage::Failed { message, .. } => r.failure = Some(message.clone()),
            _ => {}
        }
        if let WorkerMessage::Progress {
            iteration,
            iterations,
            losses,
            images_per_sec,
            memory_mib,
            ..
        } = &message
        {
            r.progress = Some((*iteration, *iterations));
            if let Some(m) = memory_mib {
                r.peak_mib = r.peak_mib.max(*m);
            }
            let loss = losses.get("total").copied().unwrap_or(f64::NAN);
            self.display
                .progress(job, *iteration, *iterations, loss, *images_per_sec);
        }
    }

    /// Releases what a job held; learns its shape's peak memory when it ran to the end.
    fn release(&mut self, r: &Running, learn: bool) {
        if r.cpu {
            self.cpu_busy -= 1;
        }
        if let Some(g) = r.gpu {
            let load = &mut self.gpu_load[g];
            if let Some(pos) = load.shapes.iter().position(|s| *s == r.shape) {
                load.shapes.remove(pos);
            }
            if r.exclusive || load.shapes.is_empty() {
                load.exclusive = false;
            }
        }
        if learn {
            // The worker's own record first (NVML's peak of its process), else what it
            // reported while running.
            let dir = JobDir::new(self.sweep.job_dir(&r.job.id));
            let peak = recorded_peak_mib(&dir).unwrap_or(r.peak_mib);
            let before = self.peaks.estimate(&r.shape, self.opts.gpu_memory_mib);
            self.peaks.learn(&r.shape, peak, &r.job.id);
            let after = self.peaks.estimate(&r.shape, self.opts.gpu_memory_mib);
            if r.gpu.is_some() && after != before {
                self.display.line(&format!(
                    "sweep: GPU memory per job of {}'s shape: {}",
                    r.job.row,
                    after.describe()
                ));
            }
        }
    }

    fn check_timeouts(&mut self, executor: &dyn Executor) {
        let Some(limit) = self.opts.job_timeout else {
            return;
        };
        for (id, r) in self.running.iter_mut() {
            if !r.timed_out && r.started.elapsed() > limit {
                r.timed_out = true;
                executor.cancel(id);
            }
        }
    }

    fn stop(&mut self, stopping: &mut Option<Instant>, killed: &mut bool, executor: &dyn Executor) {
        if stopping.is_some() {
            // A second Ctrl-C: no more waiting for checkpoints.
            *killed = true;
            self.display.line("sweep: killing the running jobs now");
            executor.kill_all();
            return;
        }
        *stopping = Some(Instant::now());
        self.display.line("sweep: stopping: no new jobs; running jobs save a checkpoint and exit (Ctrl-C again to kill them; run again to resume)");
        executor.cancel_all();
    }
}

enum DepState {
    Ready,
    Waiting,
    Failed,
}
