//! `sweep status`: every job's state from the sweep directory (and from Slurm for the jobs
//! that ran there), with progress and ETAs; `--json` for scripts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::code;
use super::specs::read_sweep;
use crate::execute::slurm::SlurmView;
use crate::journal::{JobDir, JobStatus, JobView, SweepDir, SweepRecord};
use crate::launch::protocol::WorkerMessage;

pub(super) fn status(dir: &Path, json: bool) -> Result<u8> {
    let sweep = SweepDir::new(dir);
    let record = read_sweep(&sweep)?;
    let slurm = slurm_views(&sweep, &record);
    let mut rows = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for j in &record.plan.jobs {
        if !seen.insert(j.id.clone()) {
            continue;
        }
        let view = record.view(&j.id);
        let on_slurm = slurm
            .get(&j.id)
            .filter(|_| !matches!(view, Some(JobView::Result(_))));
        let damage = record.records.get(&j.id).and_then(|r| r.damage.first());
        let (state, place, metrics) = match view {
            _ if damage.is_some() => ("damaged".to_string(), None, None),
            Some(JobView::Damaged(_)) => ("damaged".to_string(), None, None),
            Some(JobView::Result(r)) => (r.status.clone(), None, Some(r.metrics.clone())),
            _ if on_slurm.is_some_and(|v| v.stage() != "gone") => {
                let v = on_slurm.expect("checked just above");
                let place = match v.stage() {
                    "queued" => format!("slurm job {} ({})", v.slurm_id, v.reason),
                    "running" => format!("slurm job {} on {}", v.slurm_id, v.node),
                    _ => format!(
                        "slurm job {}: {} ({}); `sweep resume` handles it",
                        v.slurm_id, v.state, v.reason
                    ),
                };
                (v.stage().to_string(), Some(place), None)
            }
            Some(JobView::Status(JobStatus::Running {
                pid,
                started,
                placement,
            })) => {
                let live = started.is_some() && crate::journal::process_start(*pid) == *started;
                (
                    if live { "running" } else { "interrupted" }.to_string(),
                    Some(placement.clone()),
                    None,
                )
            }
            Some(JobView::Status(s)) => (state_name(s).to_string(), None, None),
            None => ("pending".to_string(), None, None),
        };
        let progress = last_progress(&JobDir::new(sweep.job_dir(&j.id)));
        *counts.entry(state.clone()).or_default() += 1;
        let (iteration, iterations, elapsed) = progress.unwrap_or((0, 0, 0.0));
        let eta = (iteration > 0 && state == "running")
            .then(|| elapsed / iteration as f64 * (iterations.saturating_sub(iteration)) as f64);
        let slurm = on_slurm.map(|v| serde_json::json!({"id": v.slurm_id, "state": v.state, "reason": v.reason, "node": v.node}));
        let damage = damage.map(|d| {
            let then = if d.voids_result() {
                " and runs the job again"
            } else {
                ""
            };
            format!("damaged: {d} (`sweep resume` moves it aside{then})")
        });
        rows.push(serde_json::json!({"id": j.id, "row": j.row, "seed": j.seed, "state": state, "place": place, "damage": damage,
            "iteration": iteration, "iterations": iterations, "elapsed": elapsed, "eta": eta, "metrics": metrics, "slurm": slurm}));
    }
    let spec_mib = super::specs::reload(&sweep)
        .ok()
        .and_then(|(s, _)| s.resources.gpu_memory_mib);
    let memory = crate::schedule::peaks::of_plan(&sweep, &record.plan.jobs, spec_mib);
    let rising = still_rising(&record, &mut rows);
    if json {
        let doc = serde_json::json!({"spec": record.plan.spec, "counts": counts, "jobs": rows,
            "gpu_memory": crate::schedule::peaks::to_json(&memory)});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(code::OK);
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!("{}: {}", record.plan.spec, summary.join(", "));
    for r in &rows {
        print_row(r);
    }
    if crate::schedule::peaks::any_known(&memory) {
        for line in crate::schedule::peaks::describe_lines(&memory) {
            println!("{line}");
        }
    }
    if let Some(line) = rising {
        println!("{line}");
    }
    Ok(code::OK)
}

/// The convergence check per row (the tables' rule, on AP): adds each job's rise over the last
/// quarter (`last_quarter`) and its row's verdict (`still_rising`: true, false, or null when not
/// judged) to its status row; returns the line naming the rows still rising, if any.
fn still_rising(record: &SweepRecord, rows: &mut [serde_json::Value]) -> Option<String> {
    use crate::report::convergence::{self, by_row, flag, last_quarter, Verdict};
    const METRIC: &str = "AP";
    let results: Vec<(&str, &crate::journal::JobResult)> = rows
        .iter()
        .filter_map(|r| {
            let id = r["id"].as_str()?;
            let job = record.plan.jobs.iter().find(|j| j.id == id)?;
            Some((job.row.as_str(), record.result(id)?))
        })
        .collect();
    let verdicts = by_row(&results, METRIC);
    for r in rows.iter_mut() {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        let rise = record
            .result(&id)
            .and_then(|res| last_quarter(res, METRIC))
            .map(|e| e.last - e.at_three_quarters);
        let verdict = verdicts
            .iter()
            .find(|(row, _)| Some(row.as_str()) == r["row"].as_str())
            .and_then(|(_, c)| flag(c));
        r["last_quarter"] = serde_json::json!(rise);
        r["still_rising"] = serde_json::json!(verdict);
    }
    let named: Vec<String> = verdicts
        .iter()
        .filter(|(_, c)| c.verdict == Verdict::Rising)
        .map(|(row, c)| {
            format!(
                "{row} ({:+.1} vs std {:.1})",
                c.rise.unwrap_or(0.0) * 100.0,
                c.spread.unwrap_or(0.0) * 100.0
            )
        })
        .collect();
    (!named.is_empty())
        .then(|| format!("{}: {}", convergence::definition(METRIC), named.join(", ")))
}

fn print_row(r: &serde_json::Value) {
    let ap = r["metrics"]["AP"]
        .as_f64()
        .map(|v| format!("AP {:.1}", v * 100.0))
        .unwrap_or_default();
    let it = match r["iterations"].as_u64() {
        Some(n) if n > 0 && ap.is_empty() => format!(
            "it {}/{n}  {:.0} s",
            r["iteration"],
            r["elapsed"].as_f64().unwrap_or(0.0)
        ),
        _ => String::new(),
    };
    let ap = match (ap.is_empty(), r["last_quarter"].as_f64()) {
        (false, Some(rise)) => format!("{ap} ({:+.1} in the last quarter)", rise * 100.0),
        _ => ap,
    };
    let ap = match r["still_rising"].as_bool() {
        Some(true) => format!("{ap} {}", crate::report::convergence::MARK),
        _ => ap,
    };
    let eta = r["eta"]
        .as_f64()
        .map(|e| format!("  eta {e:.0} s"))
        .unwrap_or_default();
    let place = r["place"]
        .as_str()
        .map(|p| format!("  on {p}"))
        .or_else(|| r["damage"].as_str().map(|d| format!("  {d}")))
        .unwrap_or_default();
    println!(
        "  {}  {:<12} {:<40} seed {:<3} {ap}{it}{eta}{place}",
        r["id"].as_str().unwrap_or(""),
        r["state"].as_str().unwrap_or(""),
        r["row"].as_str().unwrap_or(""),
        r["seed"]
    );
}

/// What Slurm says of the unfinished jobs of a sweep that ran there (none for a local sweep).
/// Slurm not answering is a warning: the job directories still tell most of the story.
fn slurm_views(sweep: &SweepDir, record: &SweepRecord) -> BTreeMap<String, SlurmView> {
    let unfinished: Vec<(String, PathBuf)> = record
        .plan
        .jobs
        .iter()
        .filter(|j| record.result(&j.id).is_none())
        .map(|j| (j.id.clone(), sweep.job_dir(&j.id)))
        .filter(|(_, dir)| crate::execute::slurm::has_record(dir))
        .collect();
    if unfinished.is_empty() {
        return BTreeMap::new();
    }
    crate::execute::slurm::survey(&unfinished).unwrap_or_else(|e| {
        eprintln!("sweep: warning: cannot ask Slurm about this sweep's jobs ({e}); showing the job directories only");
        BTreeMap::new()
    })
}

/// The last progress line of a job's log: (iteration, iterations, elapsed seconds).
fn last_progress(job: &JobDir) -> Option<(u64, u64, f64)> {
    let text = std::fs::read_to_string(job.log_path()).ok()?;
    text.lines()
        .rev()
        .find_map(|line| match serde_json::from_str(line).ok()? {
            WorkerMessage::Progress {
                iteration,
                iterations,
                elapsed,
                ..
            } => Some((iteration, iterations, elapsed)),
            _ => None,
        })
}

fn state_name(s: &JobStatus) -> &'static str {
    match s {
        JobStatus::Pending => "pending",
        JobStatus::Running { .. } => "running",
        JobStatus::Done => "done",
        JobStatus::Diverged { .. } => "diverged",
        JobStatus::Failed { .. } => "failed",
        JobStatus::Unsupported { .. } => "unsupported",
        JobStatus::Damaged { .. } => "damaged",
        JobStatus::SeedAdded { .. } => "pending",
        JobStatus::Unservable { .. } => "pending",
    }
}
