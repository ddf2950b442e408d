//! The dispatcher: a tokio loop that starts ready jobs where they fit, hears executor events,
//! records every transition in the journal before acting on it, retries what is worth
//! retrying, and on SIGINT/SIGTERM stops launching and lets running workers checkpoint.
//!
//! Decisions are made here, work happens in the executor, state lives in the journal: the
//! loop owns no process and no file other than through those two.

mod damage;
pub mod nvml;
pub mod place;
mod progress;
mod storage;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::execute::{ExecError, ExecEvent, Executor, FailureCause, Launch, Outcome, Recovery};
use crate::expand::Job;
use crate::journal::{records_now, Event, JobDir, JobState, JobStatus, JournalError, SweepDir};
use crate::launch::protocol::WorkerMessage;
use crate::launch::Placement;
use crate::plan::Plan;
use place::{Demand, GpuLoad, GpuState, Gpus, Policy};
pub use progress::Display;

/// Plain-line progress (for benchmarks and tests that drive [`run`] directly).
pub fn progress_mode_lines() -> progress::Mode {
    progress::Mode::Lines
}

/// Where the sweep's jobs may run.
pub enum Hardware {
    Cpu {
        concurrent: usize,
        threads: usize,
    },
    Gpu {
        gpus: Box<dyn Gpus>,
        threads: usize,
        policy: Policy,
    },
    /// A Slurm cluster: every ready job is submitted at once with this request, and Slurm
    /// decides where and when it runs. `describe` is the request in words.
    Slurm {
        gpus: u32,
        threads: usize,
        describe: String,
    },
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
}

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

impl Hardware {
    /// GPUs when there are any (else the cores split among `jobs` concurrent CPU jobs), and
    /// the notice to print when falling back to the CPU.
    pub fn detect(
        gpus_flag: Option<&[u32]>,
        policy: Policy,
        cores: usize,
        jobs: usize,
    ) -> (Hardware, Option<String>) {
        let (gpus, notice) = nvml::open(gpus_flag);
        match gpus {
            Some(gpus) => {
                let n = gpus.snapshot().map(|g| g.len()).unwrap_or(1).max(1);
                (
                    Hardware::Gpu {
                        gpus,
                        threads: (cores / n).max(1),
                        policy,
                    },
                    notice,
                )
            }
            None => {
                let (concurrent, threads) = place::cpu_split(cores, jobs);
                (
                    Hardware::Cpu {
                        concurrent,
                        threads,
                    },
                    notice,
                )
            }
        }
    }

    /// Where each of `ids` would go if all started now: for `sweep plan`.
    pub fn preview(&self, ids: &[String]) -> HashMap<String, Placement> {
        let slots: Vec<Placement> = match self {
            Hardware::Cpu { threads, .. } => vec![Placement::Cpu { threads: *threads }],
            Hardware::Gpu { gpus, threads, .. } => gpus
                .snapshot()
                .unwrap_or_default()
                .into_iter()
                .map(|g| Placement::Gpu {
                    index: g.index,
                    uuid: g.uuid,
                    threads: *threads,
                })
                .collect(),
            Hardware::Slurm { gpus, threads, .. } => vec![Placement::Slurm {
                gpus: *gpus,
                threads: *threads,
            }],
        };
        let slots = if slots.is_empty() {
            vec![Placement::Cpu { threads: 1 }]
        } else {
            slots
        };
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), slots[i % slots.len()].clone()))
            .collect()
    }

    pub fn describe(&self) -> String {
        match self {
            Hardware::Cpu {
                concurrent,
                threads,
            } => format!("{concurrent} at a time on the CPU, {threads} threads each"),
            Hardware::Gpu { gpus, policy, .. } => {
                let g = gpus.snapshot().unwrap_or_default();
                format!(
                    "{} GPU(s) ({}), up to {} jobs per GPU",
                    g.len(),
                    g.iter()
                        .map(|g| format!("{} {}, {} MiB free", g.index, g.name, g.free_mib))
                        .collect::<Vec<_>>()
                        .join("; "),
                    policy.max_per_gpu
                )
            }
            Hardware::Slurm { describe, .. } => describe.clone(),
        }
    }
}

/// The shape of a job for memory purposes: what decides its peak GPU memory.
pub fn shape_of(cfg: &crate::spec::JobConfig) -> String {
    let model = serde_json::to_string(&cfg.model).unwrap_or_default();
    let fake = cfg.fake.as_ref().map(|f| f.memory_mib).unwrap_or(0);
    // A dataset on disk also fixes the head's class count (COCO 80, VOC 20, ...).
    let data = match &cfg.dataset {
        crate::spec::config::DatasetSpec::Synthetic(_) => String::new(),
        d => format!("{}/", d.kind()),
    };
    format!(
        "{model}/{data}{}px/b{}/f{fake}",
        cfg.dataset.image_size(),
        cfg.train.batch_size
    )
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
    peaks: HashMap<String, u64>,
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
        peaks: HashMap::new(),
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
    }
    d.summary.interrupted = stopping.is_some();
    d.summary.detached = if d.opts.detach { d.running.len() } else { 0 };
    d.display.finish();
    let Dispatcher {
        events,
        summary,
        fatal,
        halt,
        ..
    } = d;
    events.close()?;
    match (fatal, halt) {
        (Some(e), _) => Err(e.into()),
        (None, Some(message)) => Err(ScheduleError::Storage(message)),
        (None, None) => Ok(summary),
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
        let peak_mib = self.peaks.get(&shape).copied().or(self.opts.gpu_memory_mib);
        Demand {
            shape,
            peak_mib,
            exclusive: q.exclusive,
        }
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
            } => {
                (self.cpu_busy < *concurrent).then(|| (Placement::Cpu { threads: *threads }, None))
            }
            // Slurm queues whatever is submitted.
            Hardware::Slurm { .. } => Some((self.nominal_placement(), None)),
            Hardware::Gpu {
                threads, policy, ..
            } => {
                for (load, g) in self.gpu_load.iter_mut().zip(snapshot) {
                    if load.shapes.is_empty() {
                        load.baseline_free_mib = g.free_mib;
                    }
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
                    load.reserved_mib += self
                        .peaks
                        .get(&shape)
                        .copied()
                        .or(self.opts.gpu_memory_mib)
                        .unwrap_or(0);
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
            let reserved = self
                .peaks
                .get(&r.shape)
                .copied()
                .or(self.opts.gpu_memory_mib)
                .unwrap_or(0);
            load.reserved_mib = load.reserved_mib.saturating_sub(reserved);
            if r.exclusive || load.shapes.is_empty() {
                load.exclusive = false;
            }
            if load.shapes.is_empty() {
                load.reserved_mib = 0;
            }
        }
        if learn && r.peak_mib > 0 {
            let peak = self.peaks.entry(r.shape.clone()).or_insert(0);
            *peak = (*peak).max(r.peak_mib);
        }
    }

    /// Handles a worker's exit; returns whether a result arrived (tables need refreshing).
    fn on_exit(
        &mut self,
        job: &str,
        outcome: Outcome,
        stderr_tail: Vec<String>,
        stopping: bool,
    ) -> Result<bool, JournalError> {
        let Some(r) = self.running.remove(job) else {
            return Ok(false);
        };
        let outcome = if r.timed_out && outcome != Outcome::Done {
            Outcome::Failed(FailureCause::Timeout)
        } else {
            outcome
        };
        self.release(&r, matches!(outcome, Outcome::Done));
        let dir = JobDir::new(self.sweep.job_dir(job));
        let row = format!("{} seed {}", r.job.row, r.job.seed);
        let secs = r.started.elapsed().as_secs_f64();
        match outcome {
            Outcome::Done | Outcome::Diverged => {
                let Some(result) = dir.read_result()? else {
                    // Success without result.json is a crash of the worker's last step.
                    self.retry_or_fail(
                        &r,
                        FailureCause::Crash {
                            code: Some(0),
                            signal: None,
                        },
                        vec!["the worker exited without result.json".into()],
                        stopping,
                    )?;
                    return Ok(false);
                };
                self.finished.insert(job.to_string());
                if result.status == "diverged" {
                    self.summary.diverged += 1;
                    let k = result.diverged_at.unwrap_or(0);
                    self.log(job, JobStatus::Diverged { iteration: k })?;
                    self.display
                        .finished(job, &format!("diverged {job}  {row}: diverged@{k}"));
                } else {
                    self.summary.done += 1;
                    self.log(job, JobStatus::Done)?;
                    let m = |k: &str| result.metrics.get(k).copied().unwrap_or(-1.0) * 100.0;
                    self.display.finished(
                        job,
                        &format!(
                            "done {job}  {row}: AP {:.1}  AP50 {:.1}  APs {:.1}  ({secs:.0} s)",
                            m("AP"),
                            m("AP50"),
                            m("APs")
                        ),
                    );
                }
                Ok(true)
            }
            Outcome::Interrupted => {
                self.log(job, JobStatus::Pending)?;
                self.display.paused(
                    job,
                    &format!(
                        "{job}  {row}: stopped after a checkpoint; it resumes on the next run"
                    ),
                );
                Ok(false)
            }
            Outcome::Failed(cause) => {
                // The worker's one line says it better than the end of its stderr (where a
                // library may have printed pages).
                let tail = match &r.failure {
                    Some(m) => vec![m.clone()],
                    None => stderr_tail,
                };
                if self.storage_failure(&r, &cause)? {
                    return Ok(false);
                }
                self.retry_or_fail(&r, cause, tail, stopping)?;
                Ok(false)
            }
        }
    }

    fn retry_or_fail(
        &mut self,
        r: &Running<'a>,
        cause: FailureCause,
        tail: Vec<String>,
        stopping: bool,
    ) -> Result<(), JournalError> {
        let message = tail.last().cloned().unwrap_or_default();
        if let FailureCause::NotShared { node } = &cause {
            self.log(&r.job.id, JobStatus::Pending)?;
            let slurm_id = crate::execute::slurm::record::read(&self.sweep.job_dir(&r.job.id))
                .ok()
                .flatten()
                .and_then(|rec| rec.slurm_id)
                .unwrap_or_default();
            self.fatal = Some(ExecError::NotShared {
                job: r.job.id.clone(),
                slurm_id,
                node: node.clone(),
                dir: self.sweep.job_dir(&r.job.id),
            });
            return Ok(());
        }
        if matches!(
            cause,
            FailureCause::DependencyFailed | FailureCause::Preempted
        ) && !stopping
        {
            // Not this job's doing: queued again as the same attempt. A dropped child goes
            // after its parent's next start (or fails with it, see deps_state).
            self.log(&r.job.id, JobStatus::Pending)?;
            self.display.paused(
                &r.job.id,
                &format!(
                    "{}  {} seed {}: {cause}; queued again",
                    r.job.id, r.job.row, r.job.seed
                ),
            );
            self.queue.push_front(Queued {
                job: r.job,
                attempt: r.attempt.saturating_sub(1),
                not_before: Instant::now(),
                exclusive: r.exclusive,
            });
            return Ok(());
        }
        self.log(
            &r.job.id,
            JobStatus::Failed {
                cause: cause.name().into(),
                message: cause.to_string(),
            },
        )?;
        let (retry, exclusive) = match &cause {
            // Bad input, or someone's decision to cancel: running it again changes nothing.
            FailureCause::BadConfig | FailureCause::Cancelled => (false, false),
            // Once more with the GPU to itself, and the shape's expected peak raised.
            FailureCause::OutOfMemory => (r.gpu.is_some() && !r.exclusive, true),
            _ => (r.attempt <= self.opts.retries, r.exclusive),
        };
        if retry && !stopping {
            if cause == FailureCause::OutOfMemory {
                let raised = self
                    .peaks
                    .get(&r.shape)
                    .map_or(r.peak_mib, |p| p * 3 / 2)
                    .max(r.peak_mib);
                self.peaks.insert(r.shape.clone(), raised);
            }
            // A detached run cannot wait: the retry goes to the queue at once.
            let wait = if self.opts.detach {
                Duration::ZERO
            } else {
                self.opts.backoff * 2u32.saturating_pow(r.attempt.saturating_sub(1))
            };
            self.display.paused(
                &r.job.id,
                &format!(
                    "{}  {} seed {}: {cause}; retrying in {:.0?}",
                    r.job.id, r.job.row, r.job.seed, wait
                ),
            );
            self.queue.push_front(Queued {
                job: r.job,
                attempt: r.attempt,
                not_before: Instant::now() + wait,
                exclusive,
            });
            return Ok(());
        }
        if stopping {
            self.display.paused(
                &r.job.id,
                &format!(
                    "{}  {} seed {}: {cause} while stopping: {message}",
                    r.job.id, r.job.row, r.job.seed
                ),
            );
            return Ok(());
        }
        self.fail_for_good(r.job, r.attempt, cause.name(), cause.to_string(), &tail)
    }

    fn fail_for_good(
        &mut self,
        job: &Job,
        attempts: u32,
        cause: &str,
        detail: String,
        tail: &[String],
    ) -> Result<(), JournalError> {
        let dir = JobDir::new(self.sweep.job_dir(&job.id));
        let message = if tail.is_empty() {
            detail.clone()
        } else {
            format!("{detail}: {}", tail.join("\n"))
        };
        let status = JobStatus::Failed {
            cause: cause.into(),
            message,
        };
        let threads = match self.hardware {
            Hardware::Cpu { threads, .. }
            | Hardware::Gpu { threads, .. }
            | Hardware::Slurm { threads, .. } => *threads,
        };
        dir.write_state(&JobState {
            status: status.clone(),
            attempts,
            threads,
            updated_at: records_now(),
        })?;
        self.log(&job.id, status)?;
        self.failed.insert(job.id.clone());
        self.summary.failed += 1;
        let mut text = format!("FAILED {}  {} seed {}: {detail}", job.id, job.row, job.seed);
        if let [line] = tail {
            text += &format!(": {line} (more in {})", dir.stderr_path().display());
        } else if !tail.is_empty() {
            text += &format!("; last lines of {}:", dir.stderr_path().display());
            for line in tail {
                text += &format!("\n    {line}");
            }
        }
        self.display.finished(&job.id, &text);
        Ok(())
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
