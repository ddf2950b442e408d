//! Reads what the page needs from a sweep directory. The plan, the job views and the built
//! tables come from the callers' readers; the rest (progress lines, stderr tails, curves,
//! events, provenance) is read here, each file tolerated missing or torn.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{svg, ConfigChange, JobEntry, Provenance, Report, State};
use crate::journal::{JobDir, JobStatus, SweepDir};
use crate::plan::PlanFile;
use crate::report::{JobView, Table};
use crate::spec::Spec;

/// Stderr lines kept for a job that ended without a result.
const STDERR_LINES: usize = 12;
/// Bytes read from the end of a stderr log to find them.
const STDERR_BYTES: u64 = 16 * 1024;

/// What the callers already read.
pub struct Sources<'a> {
    pub sweep: &'a SweepDir,
    pub spec: &'a Spec,
    pub plan: &'a PlanFile,
    pub views: &'a BTreeMap<String, JobView>,
    pub tables: Vec<Table>,
    /// Whether an orchestrator works on the sweep now; `None`: ask the lock file.
    pub running: Option<bool>,
}

pub fn gather(src: Sources) -> Report {
    let Sources {
        sweep,
        spec,
        plan,
        views,
        tables,
        running,
    } = src;
    let now = crate::journal::records_now();
    let running = running.unwrap_or_else(|| orchestrator_alive(&sweep.root));
    let base = base_config(spec, plan);
    let mut jobs: Vec<JobEntry> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for j in &plan.jobs {
        if let Some(&i) = index.get(j.id.as_str()) {
            if !jobs[i].rows.contains(&j.row) {
                jobs[i].rows.push(j.row.clone());
            }
            continue;
        }
        index.insert(&j.id, jobs.len());
        let dir = JobDir::new(sweep.job_dir(&j.id));
        let config = serde_json::to_value(&j.config).unwrap_or_default();
        jobs.push(job_entry(
            &dir,
            &j.id,
            &j.row,
            j.seed,
            views.get(&j.id),
            &config,
            base.as_ref(),
        ));
    }
    let runs = super::read_runs(&sweep.root);
    let state = state(sweep, &jobs, views, &runs, running, now);
    let mut devices: BTreeMap<String, usize> = BTreeMap::new();
    let mut threads: BTreeMap<usize, usize> = BTreeMap::new();
    for v in views.values() {
        if let JobView::Result(r) = v {
            *devices.entry(r.device.clone()).or_default() += 1;
            *threads.entry(r.threads).or_default() += 1;
        }
    }
    let figures = match crate::plot::Sweep::load(&sweep.root) {
        Ok(s) => crate::plot::figures(&s)
            .into_iter()
            .map(|(stem, fig)| (stem, svg::thin(fig)))
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut metrics: Vec<String> = Vec::new();
    for t in &tables {
        for c in &t.columns {
            // Perturbed metrics (AP50@black_patch) are stored under their own key too.
            if !metrics.contains(&c.metric) {
                metrics.push(c.metric.clone());
            }
        }
    }
    Report {
        title: spec.name.clone(),
        description: spec.description.clone(),
        state,
        provenance: Provenance {
            runs,
            devices: devices.into_iter().collect(),
            threads: threads.into_iter().collect(),
            scale: plan.scale.clone(),
            overrides: plan.overrides.clone(),
        },
        tables,
        figures,
        jobs,
        metrics,
    }
}

fn job_entry(
    dir: &JobDir,
    id: &str,
    row: &str,
    seed: u64,
    view: Option<&JobView>,
    config: &serde_json::Value,
    base: Option<&serde_json::Value>,
) -> JobEntry {
    let progress = progress(dir);
    let mut e = JobEntry {
        id: id.into(),
        rows: vec![row.into()],
        seed,
        iteration: progress.iteration,
        iterations: progress.iterations,
        seconds: progress.elapsed,
        peak_mib: progress.peak_mib,
        diff: diff(base, config),
        files: files(&dir.path),
        ..JobEntry::default()
    };
    e.state = match view {
        Some(JobView::Result(r)) => {
            e.metrics = r.metrics.clone();
            e.iteration = Some(r.iterations);
            e.seconds = Some(r.seconds).filter(|s| *s > 0.0).or(e.seconds);
            if let Some(at) = r.diverged_at {
                e.cause = Some(format!("the loss became NaN or infinite at iteration {at}"));
            }
            r.status.clone()
        }
        Some(JobView::Status(s)) => match s {
            JobStatus::Running { pid, started, .. } => {
                if started.is_some() && crate::journal::process_start(*pid) == *started {
                    "running".into()
                } else {
                    "interrupted".into()
                }
            }
            JobStatus::Failed { cause, message } => {
                e.cause = Some(format!("{cause}: {message}"));
                "failed".into()
            }
            JobStatus::Unsupported { reason } => {
                e.cause = Some(reason.clone());
                "not run".into()
            }
            JobStatus::Diverged { iteration } => {
                e.cause = Some(format!(
                    "the loss became NaN or infinite at iteration {iteration}"
                ));
                "diverged".into()
            }
            JobStatus::Done => "done".into(),
            JobStatus::Pending | JobStatus::SeedAdded { .. } => "pending".into(),
            JobStatus::Damaged { .. } => "damaged".into(),
            JobStatus::Unservable { .. } => "pending".into(),
        },
        Some(JobView::Damaged(why)) => {
            e.cause = Some(format!("damaged: {why}"));
            "damaged".into()
        }
        None => "pending".into(),
    };
    if matches!(e.state.as_str(), "failed" | "diverged" | "interrupted") {
        e.stderr_tail = stderr_tail(&dir.stderr_path());
    }
    e
}

#[derive(Default)]
struct Progress {
    iteration: Option<u64>,
    iterations: Option<u64>,
    elapsed: Option<f64>,
    peak_mib: Option<u64>,
}

/// The last progress line of `train.log` and the highest memory any line reported.
fn progress(dir: &JobDir) -> Progress {
    use crate::launch::protocol::WorkerMessage;
    let mut p = Progress::default();
    let Ok(text) = std::fs::read_to_string(dir.log_path()) else {
        return p;
    };
    for line in text.lines() {
        if let Ok(WorkerMessage::Progress {
            iteration,
            iterations,
            elapsed,
            memory_mib,
            ..
        }) = serde_json::from_str(line)
        {
            p.iteration = Some(iteration);
            p.iterations = Some(iterations);
            p.elapsed = Some(elapsed).filter(|e| *e > 0.0);
            if let Some(m) = memory_mib {
                p.peak_mib = Some(p.peak_mib.unwrap_or(0).max(m));
            }
        }
    }
    p
}

/// The last lines of a log, read from its end (a crash loop can make it large).
fn stderr_tail(path: &Path) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(STDERR_BYTES);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if f.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // cut mid-line
    }
    lines[lines.len().saturating_sub(STDERR_LINES)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// Entries of a job directory, folders marked with a trailing `/`; temporary files left out.
fn files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if name.starts_with('.') {
                return None;
            }
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            Some(if is_dir { format!("{name}/") } else { name })
        })
        .collect();
    names.sort();
    names
}

/// The base config as every job saw it before its row: base, scale and `--set`s, resolved
/// with the first job's seed so that the seed is no difference. None when the base alone is
/// not a valid config (a variant completes it): then every key is listed.
fn base_config(spec: &Spec, plan: &PlanFile) -> Option<serde_json::Value> {
    use crate::spec::{Layer, LayerAt};
    let seed = crate::spec::Value::from(plan.jobs.first()?.seed);
    let mut layers: Vec<Layer> = Vec::new();
    for (i, (name, entries)) in spec.scales.iter().enumerate() {
        if Some(name) == spec.scale.as_ref() {
            layers.extend(entries.iter().map(|(k, v)| Layer {
                key: k,
                value: v,
                at: LayerAt::Scale(i),
            }));
        }
    }
    layers.push(Layer {
        key: "train.seed",
        value: &seed,
        at: LayerAt::Grid,
    });
    layers.extend(spec.overrides.iter().enumerate().map(|(i, o)| Layer {
        key: &o.key,
        value: &o.value,
        at: LayerAt::CommandLine(i),
    }));
    let cfg = spec.resolve(&layers).ok()?;
    serde_json::to_value(&cfg).ok()
}

/// Keys whose value differs from the base (seed and `init_from`, shown elsewhere, left out).
fn diff(base: Option<&serde_json::Value>, config: &serde_json::Value) -> Vec<ConfigChange> {
    use crate::plot::flatten;
    let ours = flatten(config);
    let theirs = base.map(flatten).unwrap_or_default();
    let keys: BTreeSet<&Vec<String>> = ours.keys().chain(theirs.keys()).collect();
    keys.into_iter()
        .filter(|k| !matches!(k.last().map(String::as_str), Some("seed" | "init_from")))
        .filter_map(|k| {
            let (b, v) = (theirs.get(k), ours.get(k));
            (b != v).then(|| ConfigChange {
                key: k.join("."),
                base: b.map(|l| l.display()),
                value: v.map(|l| l.display()),
            })
        })
        .collect()
}

/// Whether the sweep's lock names a live process (an orchestrator clears it on exit).
fn orchestrator_alive(root: &Path) -> bool {
    let pid = std::fs::read_to_string(root.join("lock")).unwrap_or_default();
    match pid.trim().parse::<u32>() {
        Ok(pid) if pid > 1 => Path::new(&format!("/proc/{pid}")).exists(),
        _ => false,
    }
}

/// Counts, wall time, and an ETA from this run's pace.
fn state(
    sweep: &SweepDir,
    jobs: &[JobEntry],
    views: &BTreeMap<String, JobView>,
    runs: &[super::RunRecord],
    running: bool,
    now: f64,
) -> State {
    const ORDER: [&str; 7] = [
        "done",
        "diverged",
        "running",
        "pending",
        "interrupted",
        "failed",
        "not run",
    ];
    let counts: Vec<(String, usize)> = ORDER
        .iter()
        .map(|s| (s.to_string(), jobs.iter().filter(|j| j.state == *s).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    let (events, _) = sweep.read_events().unwrap_or_default();
    let first = events.iter().map(|e| e.at).fold(f64::INFINITY, f64::min);
    let last = events
        .iter()
        .map(|e| e.at)
        .fold(f64::NEG_INFINITY, f64::max);
    let wall_seconds = first
        .is_finite()
        .then_some(if running { now } else { last } - first);
    let results: Vec<&crate::journal::JobResult> = views
        .values()
        .filter_map(|v| match v {
            JobView::Result(r) => Some(r),
            JobView::Status(_) | JobView::Damaged(_) => None,
        })
        .collect();
    let compute_seconds = results.iter().map(|r| r.seconds.max(0.0)).sum();
    let left = jobs
        .iter()
        .filter(|j| matches!(j.state.as_str(), "running" | "pending" | "interrupted"))
        .count();
    let eta_seconds = runs.last().filter(|_| running && left > 0).and_then(|run| {
        let finished = results
            .iter()
            .filter(|r| r.finished_at >= run.started_at)
            .count();
        (finished > 0).then(|| (now - run.started_at) / finished as f64 * left as f64)
    });
    State {
        counts,
        total: jobs.len(),
        running,
        wall_seconds,
        compute_seconds,
        eta_seconds,
        generated_at: now,
    }
}
