//! One self-contained HTML page per sweep (`DIR/report.html`): state and provenance, every
//! table in the paper's layout with the paper's numbers beside ours and each claim's verdict
//! with its interval drawn, the figures as inline SVG, and one line per job with what went
//! wrong and links to its files.
//!
//! Nothing is fetched from anywhere (a Content-Security-Policy says so to the browser), the
//! page reads the same with scripts off, and a short inline script only sorts tables.
//! [`gather`] is the one place that reads the sweep directory; [`render`] is pure.

mod claim;
mod escape;
mod fmt;
mod gather;
mod jobs;
mod page;
mod provenance;
mod sections;
mod svg;
pub(crate) mod tables;

use std::collections::BTreeMap;

pub use claim::{ClaimView, Verdict};
pub use gather::{gather, Sources};
pub use page::render;
pub use provenance::{read_runs, record_run, BuildInfo, RunRecord, BUILD};

/// Everything the page shows, read from a sweep directory by [`gather`].
#[derive(Debug, Clone)]
pub struct Report {
    pub title: String,
    pub description: Option<String>,
    pub state: State,
    pub provenance: Provenance,
    pub tables: Vec<crate::report::Table>,
    /// (file stem, figure) as `plot::figures` makes them, already thinned for drawing.
    pub figures: Vec<(String, crate::plot::Figure)>,
    pub jobs: Vec<JobEntry>,
    /// Metrics shown per job (those the tables use, in their order).
    pub metrics: Vec<String>,
}

/// Counts and times of the sweep as a whole.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// (state, jobs) in a fixed order: done, diverged, running, pending, interrupted, failed,
    /// not run; only the states that occur.
    pub counts: Vec<(String, usize)>,
    pub total: usize,
    /// An orchestrator is working on the sweep now.
    pub running: bool,
    /// From the first job's start to the last event (to now while running).
    pub wall_seconds: Option<f64>,
    /// Sum of the finished jobs' own times.
    pub compute_seconds: f64,
    /// While running: the jobs left at the pace of this run so far.
    pub eta_seconds: Option<f64>,
    pub generated_at: f64,
}

/// What produced the numbers.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// Each `sweep run`/`resume` of this directory, oldest first.
    pub runs: Vec<RunRecord>,
    /// (device, jobs) and (threads, jobs) over finished jobs.
    pub devices: Vec<(String, usize)>,
    pub threads: Vec<(usize, usize)>,
    pub scale: Option<String>,
    pub overrides: Vec<String>,
}

/// One distinct job (a job shared by two rows is listed once, with both rows).
#[derive(Debug, Clone, Default)]
pub struct JobEntry {
    pub id: String,
    pub rows: Vec<String>,
    pub seed: u64,
    /// done, diverged, running, pending, interrupted, failed, not run.
    pub state: String,
    /// Why it has no result: the failure cause and message, "diverged at iteration k", or
    /// what the trainer cannot do.
    pub cause: Option<String>,
    pub stderr_tail: Vec<String>,
    pub iteration: Option<u64>,
    pub iterations: Option<u64>,
    pub seconds: Option<f64>,
    pub peak_mib: Option<u64>,
    pub metrics: BTreeMap<String, f64>,
    /// Keys whose value differs from the base config (seed left out).
    pub diff: Vec<ConfigChange>,
    /// Names in the job directory (folders end in `/`), for links.
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    pub key: String,
    /// None: the key is not in the base config (or the job's).
    pub base: Option<String>,
    pub value: Option<String>,
}

#[cfg(test)]
mod tests;
