//! `sweep`: a YAML spec becomes jobs, jobs become trained detectors, results become the
//! paper's table.
//!
//! ```text
//! spec ──► expand ──► plan (DAG) ──► schedule ──► execute ──► worker (trainer, eval)
//!                                       ▲            │             │
//!                                       └── journal ◄┴─────────────┘ ──► report
//! ```
//! One module per stage; only `trainer` uses tch, only `cli` uses anyhow.

pub mod cli;
pub mod eval;
pub mod execute;
pub mod expand;
pub mod journal;
pub mod plan;
pub mod plot;
pub mod report;
pub mod schedule;
pub mod spec;
pub mod stats;
pub mod trainer;
pub mod worker;
