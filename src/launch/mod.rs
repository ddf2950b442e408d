//! The contract between the orchestrator and a worker process, shared by both sides:
//! which program runs a job and with what arguments ([`WorkerCommand`]), where it runs
//! ([`Placement`]), and what it prints and how it exits ([`protocol`]).
//!
//! The worker is its own binary, `sweep-worker`, installed beside `sweep`: only it links
//! libtorch, so `sweep` itself (planning, status, tables, the orchestrator of a run) starts in
//! milliseconds and a few MB instead of loading libtorch's 470 MB for nothing.

mod placement;
pub mod protocol;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use placement::Placement;

/// The worker binary's file name; it sits in the same directory as `sweep`.
pub const WORKER_BINARY: &str = "sweep-worker";

/// Finds `sweep-worker` beside the running `sweep` (so `cargo install`, a release archive and
/// `target/release/` all work without a PATH lookup that could pick up another version).
pub fn worker_program() -> Result<PathBuf, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot locate the sweep binary to find {WORKER_BINARY}: {e}"))?;
    let worker = exe.parent().unwrap_or(Path::new(".")).join(WORKER_BINARY);
    if worker.is_file() {
        Ok(worker)
    } else {
        Err(format!(
            "{} not found: it is built and installed with sweep (`cargo build --release` builds both)",
            worker.display()
        ))
    }
}

/// Which device a worker trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// CUDA if the worker's build and machine have it, else the CPU.
    Auto,
    Cpu,
    Cuda,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

/// One worker invocation: `sweep-worker run <job dir> --threads N --device D [--interactive]`.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub job_dir: PathBuf,
    pub threads: usize,
    pub device: Device,
    /// Progress for a person on stderr instead of protocol lines on stdout (`sweep train`).
    pub interactive: bool,
}

impl WorkerCommand {
    /// The arguments after the program name, never passed through a shell.
    pub fn args(&self) -> Vec<OsString> {
        let mut args = vec![
            "run".into(),
            self.job_dir.clone().into_os_string(),
            "--threads".into(),
            self.threads.to_string().into(),
            "--device".into(),
            self.device.name().into(),
        ];
        if self.interactive {
            args.push("--interactive".into());
        }
        args
    }
}
