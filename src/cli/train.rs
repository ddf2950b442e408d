//! `sweep train` (one config, no sweep: the worker started in the foreground) and `sweep eval`
//! (COCO-format detections against COCO-format ground truth; no model involved).

use std::path::Path;
use std::process::Command;

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
    let program = worker_program().map_err(bad)?;
    let mut child = Command::new(&program)
        .args(worker.args())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    // Ctrl-C reaches the worker too (same process group): it checkpoints and exits 130, and
    // this process stays to report it.
    // SAFETY: changing one signal's disposition; no handler runs in this process.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for {}", program.display()))?;
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
