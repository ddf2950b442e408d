//! What produced a sweep's numbers: each `sweep run`/`resume` of a directory appends one
//! record to `DIR/provenance.json` (binary version and commit, the libtorch it was built
//! against, the hardware, the command line), so a report made later by another binary still
//! says which one trained the jobs.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::journal::{read_json, write_json, JournalError};

/// This binary, as the build saw it (`build.rs` sets the optional parts when it can).
#[derive(Debug, Clone, Copy)]
pub struct BuildInfo {
    pub version: &'static str,
    pub commit: Option<&'static str>,
    pub libtorch: Option<&'static str>,
    pub cuda: Option<&'static str>,
}

pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    commit: option_env!("SWEEP_GIT_COMMIT"),
    libtorch: option_env!("SWEEP_TORCH_VERSION"),
    cuda: option_env!("SWEEP_TORCH_CUDA"),
};

/// One start of an orchestrator on the directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub started_at: f64,
    /// `sweep run …` as typed (the binary's path replaced by `sweep`).
    pub command: Vec<String>,
    pub version: String,
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub libtorch: Option<String>,
    #[serde(default)]
    pub cuda: Option<String>,
    /// The scheduler's own words: GPUs, or cores and threads per job, or the Slurm request.
    pub hardware: String,
    #[serde(default)]
    pub host: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    runs: Vec<RunRecord>,
}

fn path(root: &Path) -> std::path::PathBuf {
    root.join("provenance.json")
}

/// Appends this process's record (written atomically). A damaged file is replaced: it only
/// describes earlier runs, never results.
pub fn record_run(root: &Path, hardware: &str) -> Result<(), JournalError> {
    let mut file: File = read_json(&path(root)).ok().flatten().unwrap_or_default();
    let mut command: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    command.insert(0, "sweep".into());
    file.runs.push(RunRecord {
        started_at: crate::journal::records_now(),
        command,
        version: BUILD.version.into(),
        commit: BUILD.commit.map(Into::into),
        libtorch: BUILD.libtorch.map(Into::into),
        cuda: BUILD.cuda.map(Into::into),
        hardware: hardware.into(),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty()),
    });
    write_json(&path(root), &file)
}

/// The runs recorded so far (none when the file is missing or damaged).
pub fn read_runs(root: &Path) -> Vec<RunRecord> {
    read_json::<File>(&path(root))
        .ok()
        .flatten()
        .map(|f| f.runs)
        .unwrap_or_default()
}
