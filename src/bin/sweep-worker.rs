//! `sweep-worker`: the one program that links libtorch. It holds the trainer and runs one job
//! per process; everything else (`sweep` itself) comes from the libtorch-free library.
//!
//! The trainer's modules are compiled here rather than in the library so that `sweep`, which
//! links the library, never loads libtorch (0.4 s and 470 MB at start-up otherwise).

// The library's stages the trainer and the worker use, under the names they use them by.
use sweep::{eval, journal, launch, spec};

// The trainer's public items also serve its unit tests and the trainer benches (reference
// implementations such as AP-loss's Algorithm 1, dataset fixtures), which this binary does not
// call.
#[allow(dead_code)]
#[path = "../trainer/mod.rs"]
mod trainer;
#[path = "../worker/mod.rs"]
mod worker;

fn main() -> std::process::ExitCode {
    worker::main()
}
