//! The orchestrator's own cost, with jobs that cost nothing (an in-process executor that
//! "runs" a job by writing its result, as a worker would): per-job overhead over 10,000 jobs,
//! and the makespan of jobs of known length on a simulated 8-GPU set against the ideal.
//! `cargo bench --bench schedule` prints both, measured in the same run.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sweep::execute::{ExecError, ExecEvent, Executor, Launch, Outcome};
use sweep::journal::{JobDir, JobResult, SweepDir};
use sweep::schedule::{self, place, Display, Hardware, RunOptions};
use tokio::sync::mpsc::UnboundedSender;

/// Runs each job for `length` on a tokio timer, then writes its result.json like a worker.
struct SimExecutor {
    length: Duration,
    /// Seconds each job really took, its own result write included.
    busy: Arc<Mutex<Vec<f64>>>,
}

impl Executor for SimExecutor {
    fn start(&self, launch: Launch, events: UnboundedSender<ExecEvent>) -> Result<(), ExecError> {
        let length = self.length;
        let busy = Arc::clone(&self.busy);
        tokio::spawn(async move {
            let started = Instant::now();
            if !length.is_zero() {
                tokio::time::sleep(length).await;
            }
            let result = JobResult {
                id: launch.job.clone(),
                status: "done".into(),
                metrics: Default::default(),
                diverged_at: None,
                val_bootstrap: None,
                progress: Vec::new(),
                extra: Default::default(),
                iterations: 1,
                seconds: length.as_secs_f64(),
                device: launch.placement.to_string(),
                threads: 1,
                parameters: 0,
                finished_at: 0.0,
                train: None,
                peak_gpu_memory_bytes: None,
            };
            // A worker's own last step: its durable result.json, off the dispatcher's threads.
            let dir = launch.dir.clone();
            tokio::task::spawn_blocking(move || {
                JobDir::new(&dir)
                    .write_result(&result)
                    .expect("write result")
            })
            .await
            .expect("writer thread");
            busy.lock().unwrap().push(started.elapsed().as_secs_f64());
            let _ = events.send(ExecEvent::Exited {
                job: launch.job,
                outcome: Outcome::Done,
                stderr_tail: Vec::new(),
            });
        });
        Ok(())
    }
    fn cancel(&self, _: &str) {}
    fn cancel_all(&self) {}
    fn kill_all(&self) {}
}

fn sweep_of(dir: &Path, jobs: usize) -> (sweep::spec::Spec, sweep::plan::Plan, SweepDir) {
    let seeds: Vec<String> = (0..jobs).map(|i| i.to_string()).collect();
    let text = format!("name: bench\nbase: {{fake: {{iterations: 1, millis_per_iteration: 0}}}}\nresources: {{gpu_memory_mib: 1000}}\nseeds: [{}]\n", seeds.join(", "));
    let spec = sweep::spec::parse(&dir.join("bench.yaml"), text, None, &[]).expect("valid spec");
    let plan =
        sweep::plan::Plan::new(sweep::expand::expand(&spec).expect("expands")).expect("no cycles");
    let sweep_dir = SweepDir::new(dir.join("out"));
    sweep_dir.create().expect("create sweep dir");
    (spec, plan, sweep_dir)
}

/// Runs the sweep; returns (wall seconds, seconds of job work in all).
fn run(
    spec: &sweep::spec::Spec,
    plan: &sweep::plan::Plan,
    sweep_dir: &SweepDir,
    hardware: &Hardware,
    length: Duration,
) -> (f64, f64) {
    let executor = SimExecutor {
        length,
        busy: Arc::default(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let opts = RunOptions {
        gpu_memory_mib: Some(1000),
        ..RunOptions::default()
    };
    let display = Display::new(schedule::progress_mode_lines(), Duration::from_secs(3600));
    let t = Instant::now();
    let summary = rt
        .block_on(schedule::run(
            sweep_dir,
            spec,
            plan,
            hardware,
            &executor,
            &opts,
            display,
            &mut || {},
        ))
        .expect("sweep runs");
    assert_eq!(summary.done, plan.distinct_jobs());
    let work: f64 = executor.busy.lock().unwrap().iter().sum();
    (t.elapsed().as_secs_f64(), work)
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("sweep-bench-{}", std::process::id()));

    // 1. Overhead: 10,000 jobs that take no time, 8 at a time.
    let n = 10_000;
    let dir = tmp.join("overhead");
    std::fs::create_dir_all(&dir).unwrap();
    let (spec, plan, sweep_dir) = sweep_of(&dir, n);
    let hardware = Hardware::Cpu {
        concurrent: 8,
        threads: 1,
    };
    let (wall, _) = run(&spec, &plan, &sweep_dir, &hardware, Duration::ZERO);
    println!("overhead: {n} no-op jobs in {wall:.2} s = {:.3} ms per job (goal < 5 ms; includes creating each job dir and fsync'd journal writes)", wall * 1e3 / n as f64);

    // 2. Makespan: 96 jobs of 100 ms on 8 simulated GPUs, one job per GPU: ideal 12 × 100 ms.
    let (jobs, length) = (96, Duration::from_millis(100));
    let dir = tmp.join("makespan");
    std::fs::create_dir_all(&dir).unwrap();
    let (spec, plan, sweep_dir) = sweep_of(&dir, jobs);
    let gpus = place::SimGpus::parse("8x1500").expect("sim spec");
    let policy = place::Policy {
        max_per_gpu: 1,
        margin_mib: 100,
    };
    let hardware = Hardware::Gpu {
        gpus: Box::new(gpus),
        threads: 2,
        policy,
    };
    let (wall, work) = run(&spec, &plan, &sweep_dir, &hardware, length);
    // Ideal: the jobs' own time (sleep plus their durable result write) spread evenly over the
    // 8 GPUs with no gap between jobs.
    let ideal = work / 8.0;
    println!("makespan: {jobs} jobs × {} ms on 8 simulated GPUs: {wall:.3} s vs ideal {ideal:.3} s (job time / 8) = {:.3}× (goal ≤ 1.05×)", length.as_millis(), wall / ideal);
    let _ = std::fs::remove_dir_all(&tmp);
}
