//! What the benches that compare against PyTorch share: their settings from the environment,
//! the project's Python, and the median of timed rounds.

use std::path::{Path, PathBuf};

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
