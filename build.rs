//! Link-time set-up for libtorch, which only `sweep-worker` and the trainer benches link
//! (`sweep` itself never references it, so `--as-needed` leaves it out of that binary).
//!
//! * rpath to torch's `lib/` so the binaries run without `LD_LIBRARY_PATH`;
//! * `libtorch_cuda.so` linked with `--no-as-needed` into the programs that train: nothing
//!   references it by symbol, so the default `--as-needed` drops it and CUDA silently looks
//!   unavailable on a GPU machine.
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

fn main() {
    println!("cargo:rerun-if-env-changed=SWEEP_TORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(lib) = torch_lib_dir() else {
        println!(
            "cargo:warning=torch lib/ not found; the binary needs LD_LIBRARY_PATH at run time"
        );
        return;
    };
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
