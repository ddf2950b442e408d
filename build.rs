//! Link-time set-up for libtorch, which only `sweep-worker` and the trainer benches link
//! (`sweep` itself never references it, so `--as-needed` leaves it out of that binary).
//!
//! * rpath to torch's `lib/` so the binaries run without `LD_LIBRARY_PATH`;
//! * `libtorch_cuda.so` linked with `--no-as-needed` into the programs that train: nothing
//!   references it by symbol, so the default `--as-needed` drops it and CUDA silently looks
//!   unavailable on a GPU machine.
//!
//! It also records what the binary was built from, for the provenance a sweep keeps:
//! `SWEEP_GIT_COMMIT` (when built from a git checkout; `-modified` with uncommitted changes
//! to the sources), and `SWEEP_TORCH_VERSION` / `SWEEP_TORCH_CUDA` (from the libtorch it
//! links). Each is left unset when unknown.
use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SWEEP_TORCH_LIB") {
        return Some(PathBuf::from(dir));
    }
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(dir).join("lib"));
    }
    let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The commit checked out, marked `-modified` when tracked files differ from it; rerun when
/// HEAD moves (a commit, a checkout) or a source file changes.
fn record_commit() {
    let Some(commit) = git(&["rev-parse", "HEAD"]) else {
        return;
    };
    // Only what the binary is built from: an edited README is no different binary.
    let modified = git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        "src",
        "build.rs",
        "Cargo.toml",
        "Cargo.lock",
    ])
    .is_some();
    let suffix = if modified { "-modified" } else { "" };
    println!("cargo:rustc-env=SWEEP_GIT_COMMIT={commit}{suffix}");
    for path in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    // Only existing files: a missing one would rerun this script on every build.
    for path in watched.into_iter().flatten() {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// The version of the libtorch in `lib` and the CUDA it was built for, from the pip
/// package's `torch/version.py` or a libtorch archive's `build-version` ("2.11.0+cu130").
fn record_torch(lib: &std::path::Path) {
    let Some(root) = lib.parent() else { return };
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        let value = |key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split('=').nth(1))
                .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
                .filter(|v| v != "None" && !v.is_empty())
        };
        if let Some(v) = value("__version__") {
            println!("cargo:rustc-env=SWEEP_TORCH_VERSION={v}");
        }
        if let Some(c) = value("cuda") {
            println!("cargo:rustc-env=SWEEP_TORCH_CUDA={c}");
        }
    } else if let Ok(text) = std::fs::read_to_string(root.join("build-version")) {
        let v = text.trim();
        println!("cargo:rustc-env=SWEEP_TORCH_VERSION={v}");
        if let Some(cu) = v.split_once("+cu").map(|(_, c)| c) {
            // "130" -> "13.0", "128" -> "12.8"
            if cu.len() >= 2 && cu.bytes().all(|b| b.is_ascii_digit()) {
                let (major, minor) = cu.split_at(cu.len() - 1);
                println!("cargo:rustc-env=SWEEP_TORCH_CUDA={major}.{minor}");
            }
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=SWEEP_TORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    record_commit();
    let Some(lib) = torch_lib_dir() else {
        println!(
            "cargo:warning=torch lib/ not found; the binary needs LD_LIBRARY_PATH at run time"
        );
        return;
    };
    record_torch(&lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={}", lib.display());
        for target in ["rustc-link-arg-bin=sweep-worker", "rustc-link-arg-benches"] {
            println!("cargo:{target}=-Wl,--no-as-needed");
            println!("cargo:{target}=-ltorch_cuda");
            println!("cargo:{target}=-Wl,--as-needed");
        }
    }
}
