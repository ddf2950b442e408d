//! Shared helpers: a fresh directory per test and a `Command` for the real binary.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
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

/// `(row, job id)` of every plan entry, in plan order.
pub fn plan_rows(out: &std::path::Path) -> Vec<(String, String)> {
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).expect("plan.json"))
            .expect("plan.json is JSON");
    plan["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            (
                j["row"].as_str().unwrap().to_string(),
                j["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Starts `CMD run SPEC --out OUT` in the background, stdout discarded, stderr piped or
/// discarded.
pub fn start_run(
    cmd: &mut Command,
    spec: &std::path::Path,
    out: &std::path::Path,
    stderr: Stdio,
) -> Child {
    cmd.arg("run")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start sweep")
}
