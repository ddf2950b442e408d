//! `sweep`: a YAML spec becomes jobs, jobs become trained detectors, results become the
//! paper's table.
//!
//! ```text
//! spec ──► expand ──► plan (DAG) ──► schedule ──► execute ──► worker (trainer, eval)
//!                                       ▲            │             │
//!                                       └── journal ◄┴─────────────┘ ──► report
//! ```
//! One module per stage; only `cli` uses anyhow. The trainer (the only user of tch) and the
//! worker that runs it are compiled into the `sweep-worker` binary, not into this library:
//! `sweep` starts without libtorch, and [`launch`] is the contract between the two.

pub mod cli;
pub mod eval;
pub mod execute;
pub mod expand;
pub mod journal;
pub mod launch;
pub mod plan;
pub mod plot;
pub mod report;
pub mod schedule;
pub mod spec;
pub mod stats;
pub mod until_resolved;
