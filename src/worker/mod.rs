//! `sweep worker <job dir>`: trains one job in its own process (crashes and GPU memory stay
//! in one unit), printing [`protocol::WorkerMessage`] lines and writing only its own job dir.

pub mod protocol;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::journal::{records_now, JobDir, JobResult, JobState, JobStatus};
use crate::trainer::{self, DeviceChoice, Progress, TrainError, TrainOptions};
use protocol::{exit, WorkerMessage};

/// Whether the trainer can run this config at all (checked before a job is scheduled).
pub fn check_supported(cfg: &crate::spec::JobConfig) -> Result<(), String> {
    trainer::validate(cfg).map_err(|e| e.to_string())
}

fn say(msg: &WorkerMessage) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (orchestrator gone) must not kill training: the files are the truth.
    let _ = writeln!(out, "{}", msg.to_line());
    let _ = out.flush();
}

/// Runs the job in `dir`; returns the process exit code.
pub fn run(dir: &Path, threads: usize, device: DeviceChoice) -> i32 {
    let job = JobDir::new(dir);
    let fail = |cause: &str, message: String, code: i32| {
        say(&WorkerMessage::Failed {
            cause: cause.into(),
            message: message.clone(),
        });
        eprintln!("sweep worker: {message}");
        code
    };
    let cfg = match crate::spec::read_config(&job.config_path()) {
        Ok(c) => c,
        Err(e) => return fail("bad_config", e.to_string(), exit::BAD_CONFIG),
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
        // Registration only fails for forbidden signals; these two are allowed.
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let attempts = job.read_state().ok().flatten().map_or(0, |s| s.attempts);
    let state = |status| JobState {
        status,
        attempts: attempts + 1,
        threads,
        updated_at: records_now(),
    };
    if let Err(e) = job.write_state(&state(JobStatus::Running {
        pid: std::process::id(),
        placement: format!("{device:?}"),
    })) {
        return fail("crash", e.to_string(), exit::CRASH);
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(job.log_path())
        .ok();
    let mut on_progress = |p: &Progress| {
        let msg = WorkerMessage::Progress {
            iteration: p.iteration,
            iterations: p.iterations,
            lr: p.lr,
            losses: p.losses.iter().cloned().collect(),
            weights: p.weights.iter().cloned().collect(),
            images_per_sec: p.images_per_sec,
        };
        if let Some(f) = log.as_mut() {
            let _ = writeln!(f, "{}", msg.to_line());
        }
        say(&msg);
    };
    let opts = TrainOptions {
        threads,
        device,
        stop,
    };
    say(&WorkerMessage::Started {
        threads,
        device: format!("{device:?}"),
        resumed_from: None,
    });
    let outcome = trainer::train(&cfg, dir, &opts, &mut on_progress);
    let (result, code) = match outcome {
        Ok(o) => {
            let metrics = metrics_map(&o.metrics);
            let result = JobResult {
                id,
                status: "done".into(),
                metrics,
                diverged_at: None,
                iterations: o.iterations,
                seconds: o.seconds,
                device: o.device,
                threads: o.threads,
                parameters: o.parameters,
                finished_at: records_now(),
            };
            (result, exit::DONE)
        }
        Err(TrainError::Diverged { iteration, loss }) => {
            let result = JobResult {
                id,
                status: "diverged".into(),
                metrics: BTreeMap::new(),
                diverged_at: Some(iteration),
                iterations: iteration,
                seconds: 0.0,
                device: format!("{device:?}"),
                threads,
                parameters: 0,
                finished_at: records_now(),
            };
            eprintln!("sweep worker: loss diverged at iteration {iteration} ({loss})");
            let _ = job.write_state(&state(JobStatus::Diverged { iteration }));
            (result, exit::DIVERGED)
        }
        Err(e @ TrainError::Interrupted { .. }) => {
            let _ = job.write_state(&state(JobStatus::Pending));
            return fail("interrupted", e.to_string(), exit::INTERRUPTED);
        }
        Err(e @ TrainError::OutOfMemory { .. }) => {
            let _ = job.write_state(&state(JobStatus::Failed {
                cause: "out_of_memory".into(),
                message: e.to_string(),
            }));
            return fail("out_of_memory", e.to_string(), exit::OUT_OF_MEMORY);
        }
        Err(e @ TrainError::Unsupported { .. }) => {
            return fail("bad_config", e.to_string(), exit::BAD_CONFIG);
        }
        Err(e) => {
            let _ = job.write_state(&state(JobStatus::Failed {
                cause: "crash".into(),
                message: e.to_string(),
            }));
            return fail("crash", e.to_string(), exit::CRASH);
        }
    };
    // result.json last: its presence means done.
    if code == exit::DONE {
        let _ = job.write_state(&state(JobStatus::Done));
    }
    if let Err(e) = job.write_result(&result) {
        return fail("crash", e.to_string(), exit::CRASH);
    }
    say(&WorkerMessage::Finished {
        status: result.status.clone(),
        metrics: result.metrics.clone(),
        seconds: result.seconds,
    });
    code
}

fn metrics_map(summary: &crate::eval::CocoSummary) -> BTreeMap<String, f64> {
    match serde_json::to_value(summary) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_f64().map(|f| (k, f)))
            .collect(),
        _ => BTreeMap::new(),
    }
}
