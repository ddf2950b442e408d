//! `sweep-worker <job dir>`: runs one job in its own process (crashes and GPU memory stay in
//! one unit), printing [`WorkerMessage`] lines and writing only its own job dir: `state.json`
//! while it runs, `result.json` last when it finishes. It is the only program that links
//! libtorch; `sweep` starts it (locally, or as the body of a Slurm job).

pub mod fake;
mod gpu_peak;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Parser, ValueEnum};

use crate::journal::{
    process_start, records_now, JobDir, JobResult, JobState, JobStatus, TrainRecord,
};
use crate::launch::protocol::{exit, WorkerMessage};
use crate::trainer::{self, DeviceChoice, Progress, TrainError, TrainOptions};

/// The worker's command line: `run` takes the arguments [`crate::launch::WorkerCommand`]
/// builds; `predict` is `sweep predict`, which forwards its arguments here.
#[derive(Parser, Debug)]
#[command(
    name = "sweep-worker",
    version,
    about = "The trainer's process, started by `sweep`: runs one job, or a model on images"
)]
enum Args {
    /// Train and evaluate the job in a job directory (its config.yaml says what)
    Run {
        /// The job directory
        job_dir: PathBuf,
        /// Intra-op threads
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Where to train
        #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
        device: DeviceArg,
        /// Progress for a person on stderr instead of protocol lines on stdout
        #[arg(long)]
        interactive: bool,
    },
    /// Run a finished job's model, or a torchvision-layout RetinaNet, FCOS or SSD300 from a weights file, on images; write COCO results
    #[command(
        name = "predict",
        bin_name = "sweep predict",
        after_help = "Examples:\n  sweep predict --job results/ablation_ugs/jobs/<id> --coco val.json --images val --out dt.json\n  sweep predict --weights retinanet_coco.safetensors --coco instances_val2017.json --images val2017 --out dt.json\n  sweep eval --gt instances_val2017.json --dt dt.json\n\nWeights: scripts/convert-weights turns torchvision's .pth into safetensors. --labels direct\n(torchvision's COCO models: the logit column is the category id) or sorted (column k is\nthe k-th category id)."
    )]
    Predict(PredictArgs),
}

#[derive(clap::Args, Debug)]
struct PredictArgs {
    /// A finished job's directory: its config and final weights, evaluated as the job was
    #[arg(long, conflicts_with_all = ["weights", "detector", "depth", "num_classes", "fpn_channels", "min_size", "max_size", "labels"])]
    job: Option<PathBuf>,
    /// The weights' detector (torchvision's layout and post-processing defaults)
    #[arg(long, value_enum, default_value_t = DetectorArg::Retinanet)]
    detector: DetectorArg,
    /// A torchvision-layout detector's weights (safetensors)
    #[arg(long, required_unless_present = "job")]
    weights: Option<PathBuf>,
    #[arg(long)]
    images: PathBuf,
    /// COCO annotation file naming the images (absent: every image of --images)
    #[arg(long)]
    coco: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 50)]
    depth: u32,
    /// Columns of the class logits (torchvision's COCO models: 91)
    #[arg(long, default_value_t = 91)]
    num_classes: i64,
    #[arg(long, default_value_t = 256)]
    fpn_channels: i64,
    #[arg(long, default_value_t = 800)]
    min_size: u32,
    #[arg(long, default_value_t = 1333)]
    max_size: u32,
    #[arg(long, value_enum, default_value_t = LabelsArg::Direct)]
    labels: LabelsArg,
    /// Intra-op threads (default: all cores)
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Cuda => DeviceChoice::Cuda(0),
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DetectorArg {
    Retinanet,
    Fcos,
    Ssd,
    /// `fasterrcnn_resnet50_fpn` (--num-classes counts the background, 91 for COCO)
    FasterRcnn,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LabelsArg {
    Direct,
    Sorted,
}

/// The worker process: parses its arguments, runs the job, exits with a documented code.
pub fn main() -> ExitCode {
    match Args::parse() {
        Args::Run {
            job_dir,
            threads,
            device,
            interactive,
        } => {
            if interactive {
                HUMAN.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let code = run(&job_dir, threads.max(1), device.into());
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Args::Predict(args) => match predict(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sweep: error: {e}");
                ExitCode::from(exit::BAD_CONFIG as u8)
            }
        },
    }
}

fn predict(a: PredictArgs) -> Result<(), TrainError> {
    use crate::trainer::predict::{predict, DetectorKind, Labels, PredictOptions};
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    tch::set_num_threads(threads as i32);
    let device = crate::trainer::run::resolve_device(a.device.into())?;
    if let Some(job) = a.job {
        use crate::trainer::predict_job::{predict_job, JobPredictOptions};
        let n = predict_job(&JobPredictOptions {
            job,
            images: a.images,
            coco: a.coco,
            out: a.out.clone(),
            device,
        })?;
        eprintln!("{}: {n} detections", a.out.display());
        return Ok(());
    }
    let n = predict(&PredictOptions {
        detector: match a.detector {
            DetectorArg::Retinanet => DetectorKind::Retinanet,
            DetectorArg::Fcos => DetectorKind::Fcos,
            DetectorArg::Ssd => DetectorKind::Ssd,
            DetectorArg::FasterRcnn => DetectorKind::FasterRcnn,
        },
        weights: a.weights.expect("clap requires --weights without --job"),
        depth: a.depth,
        num_classes: a.num_classes,
        fpn_channels: a.fpn_channels,
        min_size: a.min_size,
        max_size: a.max_size,
        images: a.images,
        coco: a.coco,
        labels: match a.labels {
            LabelsArg::Direct => Labels::Direct,
            LabelsArg::Sorted => Labels::Sorted,
        },
        out: a.out.clone(),
        device,
    })?;
    eprintln!("{}: {n} detections", a.out.display());
    Ok(())
}

/// Set by `sweep train`: a person reads the output, not an orchestrator.
static HUMAN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn say(msg: &WorkerMessage) {
    if let WorkerMessage::Note { text } = msg {
        // Kept in stderr.log too, beside whatever libtorch said.
        eprintln!("sweep worker: {text}");
    }
    if HUMAN.load(std::sync::atomic::Ordering::SeqCst) {
        if let WorkerMessage::Progress {
            iteration,
            iterations,
            losses,
            images_per_sec,
            ..
        } = msg
        {
            let loss = losses.get("total").copied().unwrap_or(f64::NAN);
            eprintln!(
                "iteration {iteration}/{iterations}  loss {loss:.4}  {images_per_sec:.0} images/s"
            );
        }
        return;
    }
    let mut out = std::io::stdout().lock();
    // A closed stdout (orchestrator gone) must not stop training: the files are the truth.
    let _ = writeln!(out, "{}", msg.to_line());
    let _ = out.flush();
}

/// How a run ended, whoever ran it (the trainer or the fake kind).
enum Ending {
    Done {
        metrics: BTreeMap<String, f64>,
        iterations: u64,
        seconds: f64,
        device: String,
        parameters: i64,
        /// `None` for a scripted job.
        clipped_iterations: Option<u64>,
        progress: Vec<crate::journal::EvalPoint>,
    },
    Diverged {
        iteration: u64,
        message: String,
    },
    Interrupted {
        iteration: u64,
    },
    OutOfMemory(String),
    BadConfig(String),
    Crash(String),
}

/// Runs the job in `dir`; returns the process exit code.
fn run(dir: &Path, threads: usize, device: DeviceChoice) -> i32 {
    let job = JobDir::new(dir);
    // One writer per job directory: a worker an earlier orchestrator started may still run.
    let _writer = job.lock_writer();
    let cfg = match crate::spec::read_config(&job.config_path()) {
        Ok(c) => c,
        Err(e) => return failed(&job, None, "bad_config", e.to_string(), exit::BAD_CONFIG),
    };
    if let Ok(Some(result)) = job.read_result() {
        // Already finished: report it again instead of training twice.
        say(&WorkerMessage::Finished {
            status: result.status,
            metrics: result.metrics,
            seconds: result.seconds,
        });
        return exit::DONE;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // Registration fails only for forbidden signals; these two are allowed.
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    let attempts = job.read_state().ok().flatten().map_or(0, |s| s.attempts) + 1;
    let state = |status| JobState {
        status,
        attempts,
        threads,
        updated_at: records_now(),
        peak_gpu_memory_bytes: None,
    };
    let pid = std::process::id();
    let slurm_job = std::env::var("SLURM_JOB_ID").ok().map(|id| {
        format!(
            "{id} on {}",
            std::env::var("SLURMD_NODENAME").unwrap_or_else(|_| "?".into())
        )
    });
    let placement = match &slurm_job {
        Some(job) => format!("{device:?} in slurm job {job}"),
        None => format!("{device:?}"),
    };
    let running = JobStatus::Running {
        pid,
        placement,
        started: process_start(pid),
    };
    if let Err(e) = job.write_state(&state(running.clone())) {
        return failed(&job, None, "crash", e.to_string(), exit::CRASH);
    }
    // A fake job stands in for a GPU job only where it was placed on one; the trainer measures
    // where it trains.
    let on_gpu = match &cfg.fake {
        Some(_) => matches!(device, DeviceChoice::Cuda(_)),
        None => matches!(
            trainer::run::resolve_device(device),
            Ok(tch::Device::Cuda(_))
        ),
    };
    let mut peak = gpu_peak::GpuPeak::new(on_gpu);
    let mut recorded_peak = None;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(job.log_path())
        .ok();
    let started = std::time::Instant::now();
    let mut report = |mut msg: WorkerMessage| {
        if let WorkerMessage::Progress {
            elapsed,
            memory_mib,
            ..
        } = &mut msg
        {
            *elapsed = started.elapsed().as_secs_f64();
            // A fake job's scripted memory counts only on a GPU NVML cannot measure.
            if let Some(scripted) = memory_mib.take() {
                if on_gpu && !peak.measuring() {
                    peak.observe(scripted << 20);
                }
            }
            peak.sample();
            *memory_mib = peak.peak_mib();
            if peak.peak_bytes() != recorded_peak {
                recorded_peak = peak.peak_bytes();
                let mut s = state(running.clone());
                s.peak_gpu_memory_bytes = recorded_peak;
                let _ = job.write_state(&s);
            }
        }
        if let Some(f) = log.as_mut() {
            let _ = writeln!(f, "{}", msg.to_line());
        }
        say(&msg);
    };
    let visible_gpus = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    report(WorkerMessage::Started {
        threads,
        device: format!("{device:?}"),
        resumed_from: None,
        visible_gpus,
        slurm_job,
    });

    let ending = match &cfg.fake {
        Some(spec) => {
            let parent = cfg
                .train
                .init_from
                .as_ref()
                .and_then(|id| dir.parent().map(|p| p.join(id)));
            run_fake(
                spec,
                cfg.train.seed,
                dir,
                parent.as_deref(),
                attempts,
                &stop,
                &mut report,
            )
        }
        None => run_trainer(
            &cfg,
            dir,
            TrainOptions {
                threads,
                device,
                stop,
                notes: None,
            },
            &mut report,
        ),
    };
    // After the evaluation: what the allocator still holds includes its peak.
    let peak_bytes = peak.sample();
    let state = |status| JobState {
        peak_gpu_memory_bytes: peak_bytes,
        ..state(status)
    };
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let result =
        |status: &str, metrics, iterations, seconds, device, parameters, diverged_at, train| {
            JobResult {
                id: id.clone(),
                status: status.into(),
                metrics,
                diverged_at,
                iterations,
                seconds,
                device,
                threads,
                parameters,
                finished_at: records_now(),
                train,
                peak_gpu_memory_bytes: peak_bytes,
                val_bootstrap: None,
                progress: Vec::new(),
                extra: BTreeMap::new(),
            }
        };
    let (result, status, code) = match ending {
        Ending::Done {
            metrics,
            iterations,
            seconds,
            device,
            parameters,
            clipped_iterations,
            progress,
        } => (
            JobResult {
                progress,
                ..result(
                    "done",
                    metrics,
                    iterations,
                    seconds,
                    device,
                    parameters,
                    None,
                    clipped_iterations.map(|clipped_iterations| TrainRecord {
                        iterations,
                        clipped_iterations,
                    }),
                )
            },
            JobStatus::Done,
            exit::DONE,
        ),
        Ending::Diverged { iteration, message } => {
            eprintln!("sweep-worker: the loss diverged at iteration {iteration}: {message}");
            let r = result(
                "diverged",
                BTreeMap::new(),
                iteration,
                0.0,
                format!("{device:?}"),
                0,
                Some(iteration),
                None,
            );
            (r, JobStatus::Diverged { iteration }, exit::DIVERGED)
        }
        Ending::Interrupted { iteration } => {
            let _ = job.write_state(&state(JobStatus::Pending));
            let message = format!("stopped at iteration {iteration} after a checkpoint");
            return failed(&job, None, "interrupted", message, exit::INTERRUPTED);
        }
        Ending::OutOfMemory(m) => {
            return failed(
                &job,
                Some(state(failed_status("out_of_memory", &m))),
                "out_of_memory",
                m,
                exit::OUT_OF_MEMORY,
            )
        }
        Ending::BadConfig(m) => {
            return failed(
                &job,
                Some(state(failed_status("bad_config", &m))),
                "bad_config",
                m,
                exit::BAD_CONFIG,
            )
        }
        Ending::Crash(m) => {
            return failed(
                &job,
                Some(state(failed_status("crash", &m))),
                "crash",
                m,
                exit::CRASH,
            )
        }
    };
    if let Err(e) = job.write_state(&state(status)) {
        return failed(&job, None, "crash", e.to_string(), exit::CRASH);
    }
    // result.json last: its presence means done.
    if let Err(e) = job.write_result(&result) {
        return failed(&job, None, "crash", e.to_string(), exit::CRASH);
    }
    say(&WorkerMessage::Finished {
        status: result.status.clone(),
        metrics: result.metrics.clone(),
        seconds: result.seconds,
    });
    code
}

/// Whether the job directory cannot take this job's writes: gone, read-only, or with less room
/// than its checkpoints take (at least 1 MiB).
fn storage_trouble(job: &JobDir) -> Option<crate::journal::storage::Trouble> {
    use crate::journal::storage;
    let need = storage::dir_size(&job.path.join("checkpoint")).max(1 << 20);
    storage::trouble(&job.path, need)
}

fn failed_status(cause: &str, message: &str) -> JobStatus {
    JobStatus::Failed {
        cause: cause.into(),
        message: message.into(),
    }
}

/// Records a failure (when `state` is given), tells the orchestrator, and returns `code`. A
/// crash while the job directory cannot be written is the storage's failure, not the job's.
fn failed(job: &JobDir, state: Option<JobState>, cause: &str, message: String, code: i32) -> i32 {
    if code == exit::CRASH {
        if let Some(trouble) = storage_trouble(job) {
            let message = format!("cannot write {}: {trouble} ({message})", job.path.display());
            return failed(job, None, "storage", message, exit::NO_STORAGE);
        }
    }
    if let Some(s) = state {
        let _ = job.write_state(&s);
    }
    say(&WorkerMessage::Failed {
        cause: cause.into(),
        message: message.clone(),
    });
    eprintln!("sweep-worker: {message}");
    code
}

fn run_trainer(
    cfg: &crate::spec::JobConfig,
    dir: &Path,
    opts: TrainOptions,
    report: &mut dyn FnMut(WorkerMessage),
) -> Ending {
    let (tx, notes) = std::sync::mpsc::channel::<String>();
    let opts = TrainOptions {
        notes: Some(tx),
        ..opts
    };
    let mut on_progress = |p: &Progress| {
        for text in notes.try_iter() {
            report(WorkerMessage::Note { text });
        }
        report(WorkerMessage::Progress {
            iteration: p.iteration,
            iterations: p.iterations,
            lr: p.lr,
            losses: p.losses.iter().cloned().collect(),
            weights: p.weights.iter().cloned().collect(),
            images_per_sec: p.images_per_sec,
            elapsed: 0.0,
            memory_mib: None,
        })
    };
    let outcome = trainer::train(cfg, dir, &opts, &mut on_progress);
    for text in notes.try_iter() {
        report(WorkerMessage::Note { text });
    }
    match outcome {
        Ok(o) => Ending::Done {
            metrics: o.metric_map(),
            progress: o.progress_points(),
            iterations: o.iterations,
            seconds: o.seconds,
            device: o.device,
            parameters: o.parameters,
            clipped_iterations: Some(o.clipped_iterations),
        },
        Err(TrainError::Diverged { iteration, loss }) => Ending::Diverged {
            iteration,
            message: loss,
        },
        Err(TrainError::Interrupted { iteration }) => Ending::Interrupted { iteration },
        Err(e @ TrainError::OutOfMemory { .. }) => Ending::OutOfMemory(e.to_string()),
        Err(e @ (TrainError::Unsupported { .. } | TrainError::Dataset { .. })) => {
            Ending::BadConfig(e.to_string())
        }
        Err(e) => Ending::Crash(e.to_string()),
    }
}

fn run_fake(
    spec: &crate::spec::config::FakeSpec,
    seed: u64,
    dir: &Path,
    parent: Option<&Path>,
    attempt: u32,
    stop: &AtomicBool,
    report: &mut dyn FnMut(WorkerMessage),
) -> Ending {
    let mut on_progress = |iteration, iterations, loss: f64| {
        report(WorkerMessage::Progress {
            iteration,
            iterations,
            lr: 0.0,
            losses: [("total".to_string(), loss)].into_iter().collect(),
            weights: BTreeMap::new(),
            images_per_sec: 0.0,
            elapsed: 0.0,
            memory_mib: Some(spec.memory_mib),
        })
    };
    match fake::run(spec, seed, dir, parent, attempt, stop, &mut on_progress) {
        fake::FakeEnd::Done {
            checksum,
            iterations,
            seconds,
        } => {
            // The checksum in the AP slot lets tests compare runs, unless a drawn AP is asked
            // for (tests of claims over seeds).
            let ap = match &spec.ap {
                Some(m) => fake::drawn(m, seed),
                None => (checksum % 1_000_000) as f64 / 1e6,
            };
            let metrics = [("AP".to_string(), ap)].into_iter().collect();
            Ending::Done {
                metrics,
                iterations,
                seconds,
                device: "fake".into(),
                parameters: 0,
                clipped_iterations: None,
                progress: Vec::new(),
            }
        }
        fake::FakeEnd::Diverged { iteration } => Ending::Diverged {
            iteration,
            message: "scripted NaN".into(),
        },
        fake::FakeEnd::Interrupted { iteration } => Ending::Interrupted { iteration },
        fake::FakeEnd::Crash(m) => Ending::Crash(m),
        fake::FakeEnd::OutOfMemory => Ending::OutOfMemory("scripted out of GPU memory".into()),
    }
}
