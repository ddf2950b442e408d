//! The commands that start the worker in the foreground: `sweep train` (one config, no sweep)
//! and `sweep predict` (a model on images); and `sweep eval` (COCO-format detections against
//! COCO-format ground truth; no model involved).

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitStatus};

use anyhow::{Context, Result};

use super::{bad, code, DeviceArg, ProtocolArg};
use crate::journal::JobDir;
use crate::launch::protocol::exit;
use crate::launch::{worker_program, Device, WorkerCommand};
use crate::spec;

pub(super) fn train(config: &Path, out: &Path, threads: usize, device: DeviceArg) -> Result<u8> {
    // Checked here, with file:line:col, before a process is started for it.
    let cfg = spec::read_config(config).map_err(bad)?;
    let job = JobDir::new(out);
    let meta = crate::expand::JobMeta {
        id: crate::expand::job_id(&cfg),
        row: config.display().to_string(),
        variant: String::new(),
        seed: cfg.train.seed,
        scale: None,
        overrides: Vec::new(),
    };
    job.prepare(&spec::config_to_yaml(&cfg), &meta)?;
    let worker = WorkerCommand {
        job_dir: out.to_path_buf(),
        threads,
        device: match device {
            DeviceArg::Auto => Device::Auto,
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda,
        },
        interactive: true,
    };
    let status = run_worker(&worker.args())?;
    if let Some(result) = job.read_result()? {
        println!("{}", serde_json::to_string_pretty(&result.metrics)?);
    }
    Ok(match status.code() {
        Some(exit::DONE | exit::DIVERGED) => code::OK,
        Some(exit::INTERRUPTED) | None => code::INTERRUPTED,
        Some(exit::BAD_CONFIG) => code::BAD_INPUT,
        Some(_) => code::JOB_FAILED,
    })
}

/// `sweep predict ARGS`: the worker's `predict` with the same arguments (its options and help
/// are defined once, there, beside the model it runs).
pub(super) fn predict(args: &[OsString]) -> Result<u8> {
    let mut all: Vec<OsString> = vec!["predict".into()];
    all.extend(args.iter().cloned());
    let status = run_worker(&all)?;
    Ok(match status.code() {
        Some(0) => code::OK,
        Some(exit::INTERRUPTED) | None => code::INTERRUPTED,
        // 2: clap's usage error; BAD_CONFIG: a missing or mismatched weights file, bad images.
        Some(2 | exit::BAD_CONFIG) => code::BAD_INPUT,
        Some(_) => code::JOB_FAILED,
    })
}

/// Starts `sweep-worker` with `args` in the foreground and waits for it.
fn run_worker(args: &[OsString]) -> Result<ExitStatus> {
    let program = worker_program().map_err(bad)?;
    let mut child = Command::new(&program)
        .args(args)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    // Ctrl-C reaches the worker too (same process group): it checkpoints and exits 130, and
    // this process stays to report it.
    // SAFETY: changing one signal's disposition; no handler runs in this process.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    child
        .wait()
        .with_context(|| format!("waiting for {}", program.display()))
}

pub(super) fn eval(gt: &Path, dt: &Path, protocol: ProtocolArg, json: bool) -> Result<u8> {
    let protocol = match protocol {
        ProtocolArg::Coco => crate::eval::Protocol::Coco,
        ProtocolArg::Voc07 => crate::eval::Protocol::Voc07,
        ProtocolArg::Voc => crate::eval::Protocol::Voc,
    };
    let text = crate::eval::command(gt, dt, protocol, json).map_err(bad)?;
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(code::OK)
}
