//! What the benches that compare against PyTorch share: their settings from the environment,
//! the project's Python, and the median of timed rounds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A numeric setting from the environment (`default` when unset or not a number).
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The project's venv Python: `SWEEP_PYTHON`, else the one next to `SWEEP_TORCH_LIB`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SWEEP_PYTHON") {
        return p.into();
    }
    if let Some(lib) = std::env::var_os("SWEEP_TORCH_LIB") {
        for dir in Path::new(&lib).ancestors() {
            if dir.join("bin/python").is_file() {
                return dir.join("bin/python");
            }
        }
    }
    "python3".into()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median step time (`median_s`) the PyTorch script `benches/<script>` prints as JSON, run
/// with `args` in the project's Python; exits with its stderr if it fails.
pub fn eager_median(script: &str, args: &[usize]) -> f64 {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(script);
    let out = Command::new(python())
        .arg(&script)
        .args(args.iter().map(|v| v.to_string()))
        .output()
        .expect("start python");
    if !out.status.success() {
        eprintln!(
            "torchvision step failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    let tv: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from the script");
    tv["median_s"].as_f64().expect("median_s")
}
