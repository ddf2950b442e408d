//! Shared helpers: a fresh directory per test and a `Command` for the real binary.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty directory for one test (kept after the run for inspection).
pub fn temp_dir(name: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("it-{}", std::process::id()))
        .join(format!("{n:03}-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// The real `sweep` binary, with no simulated GPUs and a clean CUDA environment.
pub fn sweep() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sweep"));
    cmd.env_remove("SWEEP_SIM_GPUS")
        .env("CUDA_VISIBLE_DEVICES", "")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("start sweep");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Writes a file under `dir` and returns its path.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// The repository root (for the shipped sweeps/).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every finished job's `result.json` bytes in a sweep directory, by job id.
pub fn results(out: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut map = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(out.join("jobs")) else {
        return map;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if let Ok(bytes) = std::fs::read(dir.join("result.json")) {
            map.insert(
                dir.file_name().unwrap().to_string_lossy().into_owned(),
                bytes,
            );
        }
    }
    map
}
