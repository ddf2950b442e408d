//! Reading a sweep directory and reducing it to plottable numbers.
//!
//! Everything here is tolerant of a sweep that is still running: a missing or
//! truncated `curves.csv`, a missing `result.json` or an unparsable line is
//! skipped, never fatal. Only an unreadable `plan.json` is an error, because
//! without it nothing can be attributed to rows or configs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::PlotError;
use crate::journal::{JobResult, JobView, JournalError, SweepDir};

/// The view of `plan.json` the plots need: configs as plain JSON (the figures treat every
/// config key alike), unknown fields ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Plan {
    #[serde(default)]
    pub spec: Option<String>,
    #[serde(default)]
    pub jobs: Vec<PlanJob>,
}

/// One plan entry. Several entries may share an `id` (same config listed in two rows).
#[derive(Debug, Clone, Deserialize)]
pub struct PlanJob {
    pub id: String,
    #[serde(default)]
    pub row: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub seed: Option<Value>,
    #[serde(default)]
    pub config: Value,
}

impl PlanJob {
    /// Row label used for grouping seeds; falls back to the variant, then the id.
    pub fn row_label(&self) -> &str {
        self.row
            .as_deref()
            .or(self.variant.as_deref())
            .unwrap_or(&self.id)
    }

    /// The job's seed as a comparable string (seeds are only compared, never used as numbers).
    fn seed_key(&self) -> Option<String> {
        self.seed.as_ref().map(|v| v.to_string())
    }
}

/// Training curves of one job: column name -> (iteration, value) pairs,
/// read by header name because the loss columns differ between papers.
#[derive(Debug, Clone, Default)]
pub struct Curves {
    pub columns: BTreeMap<String, Vec<(f64, f64)>>,
}

impl Curves {
    /// Finite (iteration, value) pairs of a column; empty when absent.
    pub fn column(&self, name: &str) -> Vec<(f64, f64)> {
        self.columns
            .get(name)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// True when the column exists and takes at least two distinct finite values
    /// (a constant weight column carries no information worth a figure).
    pub fn varies(&self, name: &str) -> bool {
        let col = self.column(name);
        match col.first() {
            Some(&(_, first)) => col
                .iter()
                .any(|&(_, y)| (y - first).abs() > 1e-12 * first.abs().max(1.0)),
            None => false,
        }
    }
}

/// A sweep directory loaded into memory; per-job files are keyed by job id.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub dir: PathBuf,
    pub plan: Plan,
    pub curves: HashMap<String, Curves>,
    pub results: HashMap<String, JobResult>,
}

impl Sweep {
    /// Loads `plan.json` (error if unreadable) and whatever per-job files exist, through the
    /// journal's reader; a job whose result is damaged is left out of the figures.
    pub fn load(dir: &Path) -> Result<Self, PlotError> {
        let sweep = SweepDir::new(dir);
        let plan_path = sweep.plan_path();
        let plan: Plan = sweep.read_plan().map_err(|e| match e {
            JournalError::Corrupt { problem, .. } => PlotError::PlanParse {
                path: plan_path.clone(),
                problem,
            },
            other => PlotError::PlanRead {
                path: plan_path.clone(),
                source: other,
            },
        })?;
        let mut curves = HashMap::new();
        let mut results = HashMap::new();
        for job in &plan.jobs {
            if curves.contains_key(&job.id) || results.contains_key(&job.id) {
                continue;
            }
            if let Some(c) = read_curves(&sweep.job_dir(&job.id).join("curves.csv")) {
                curves.insert(job.id.clone(), c);
            }
            if let Some(JobView::Result(r)) = sweep.read_jobs([job.id.as_str()]).remove(&job.id) {
                results.insert(job.id.clone(), r);
            }
        }
        Ok(Sweep {
            dir: dir.to_path_buf(),
            plan,
            curves,
            results,
        })
    }

    /// Row labels in plan order, each once.
    pub fn rows(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.plan
            .jobs
            .iter()
            .map(|j| j.row_label().to_string())
            .filter(|r| seen.insert(r.clone()))
            .collect()
    }

    /// Distinct job ids of a row (a row lists each seed once, but be safe).
    fn row_ids(&self, row: &str) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.plan
            .jobs
            .iter()
            .filter(|j| j.row_label() == row)
            .map(|j| j.id.as_str())
            .filter(|id| seen.insert(*id))
            .collect()
    }

    /// Per-iteration mean/min/max of a curve column over the seeds of a row.
    /// Iterations are aligned exactly; a seed that has not reached an iteration
    /// yet simply does not contribute to it.
    pub fn row_curve(&self, row: &str, column: &str) -> Vec<CurvePoint> {
        let mut acc: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for id in self.row_ids(row) {
            if let Some(c) = self.curves.get(id) {
                for (it, v) in c.column(column) {
                    acc.entry(it.round() as i64).or_default().push(v);
                }
            }
        }
        acc.into_iter()
            .map(|(it, vs)| {
                let mean = crate::stats::mean(&vs);
                let min = vs.iter().copied().fold(f64::INFINITY, f64::min);
                let max = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                CurvePoint {
                    iteration: it as f64,
                    mean,
                    min,
                    max,
                    n: vs.len(),
                }
            })
            .collect()
    }

    /// True when any job's curves contain the column.
    pub fn has_column(&self, column: &str) -> bool {
        self.curves.values().any(|c| !c.column(column).is_empty())
    }

    /// True when any job has a weight column that changes over iterations.
    pub fn has_adaptive_weights(&self) -> bool {
        self.curves
            .values()
            .any(|c| c.varies("w_cls") || c.varies("w_reg"))
    }
}

/// One aggregated point of a row's training curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub iteration: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

/// Reads a possibly partial `curves.csv`; `None` when missing or headerless.
/// Short, malformed or non-numeric records (e.g. a line being written) are skipped.
pub fn read_curves(path: &Path) -> Option<Curves> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .ok()?;
    let headers: Vec<String> = rdr.headers().ok()?.iter().map(str::to_string).collect();
    let it_idx = headers.iter().position(|h| h == "iteration")?;
    let mut curves = Curves::default();
    for rec in rdr.records() {
        let Ok(rec) = rec else { continue };
        if rec.len() != headers.len() {
            continue;
        }
        let Some(it) = rec.get(it_idx).and_then(|s| s.parse::<f64>().ok()) else {
            continue;
        };
        for (i, h) in headers.iter().enumerate() {
            if i == it_idx {
                continue;
            }
            if let Some(v) = rec.get(i).and_then(|s| s.parse::<f64>().ok()) {
                curves.columns.entry(h.clone()).or_default().push((it, v));
            }
        }
    }
    Some(curves)
}

// ---------------------------------------------------------------------------
// Swept-axis detection
// ---------------------------------------------------------------------------

/// A config leaf value in comparable form: numbers compare numerically so that
/// `1` and `1.0` are the same setting; everything else by canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leaf {
    /// Bit pattern of an f64 (normalised so -0.0 == 0.0).
    Num(u64),
    Other(String),
}

impl Leaf {
    fn from_value(v: &Value) -> Leaf {
        match v.as_f64() {
            Some(f) if v.is_number() => Leaf::Num(if f == 0.0 {
                0f64.to_bits()
            } else {
                f.to_bits()
            }),
            _ => Leaf::Other(v.to_string()),
        }
    }

    /// The numeric value, if this leaf is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Leaf::Num(b) => Some(f64::from_bits(*b)),
            Leaf::Other(_) => None,
        }
    }

    /// Short human form for legends.
    pub fn display(&self) -> String {
        match self {
            Leaf::Num(b) => fmt_num(f64::from_bits(*b)),
            Leaf::Other(s) => s.trim_matches('"').to_string(),
        }
    }
}

/// Compact number formatting for legends and tick labels (no trailing zeros).
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Flattens a JSON config into (path, leaf); arrays are leaves (e.g. `lr_steps`).
pub fn flatten(config: &Value) -> BTreeMap<Vec<String>, Leaf> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut BTreeMap<Vec<String>, Leaf>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone(), Leaf::from_value(v));
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(config, &mut Vec::new(), &mut out);
    out
}

/// A config path whose value differs between jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub path: Vec<String>,
    /// All present values are numbers (booleans and strings are not).
    pub numeric: bool,
}

impl Axis {
    /// Dotted path, for messages and legends.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// Finds the config paths that vary between jobs, excluding seeds.
///
/// A path varies when its *present* values take at least two distinct values
/// (a path missing in some jobs, e.g. a parameter of only one loss kind, is not
/// a difference by itself: the kind that introduces it already is). Excluded:
/// any path whose last segment is `seed`, and any path that only differs by
/// seed, i.e. it changes between the seeds of one row while being a function of
/// the job's seed (e.g. a derived init seed).
pub fn swept_axes(jobs: &[PlanJob]) -> Vec<Axis> {
    let flat: Vec<BTreeMap<Vec<String>, Leaf>> = jobs.iter().map(|j| flatten(&j.config)).collect();
    let mut values: BTreeMap<&Vec<String>, BTreeSet<&Leaf>> = BTreeMap::new();
    for f in &flat {
        for (p, v) in f {
            values.entry(p).or_default().insert(v);
        }
    }
    let mut axes = Vec::new();
    for (path, vals) in values {
        if vals.len() < 2 || path.last().map(String::as_str) == Some("seed") {
            continue;
        }
        if seed_derived(jobs, &flat, path) {
            continue;
        }
        axes.push(Axis {
            path: path.clone(),
            numeric: vals.iter().all(|v| v.as_f64().is_some()),
        });
    }
    axes
}

/// True when `path` varies within a row (rows differ only by seed) and its
/// value is determined by the job's seed.
fn seed_derived(
    jobs: &[PlanJob],
    flat: &[BTreeMap<Vec<String>, Leaf>],
    path: &Vec<String>,
) -> bool {
    let mut by_row: HashMap<&str, HashSet<&Leaf>> = HashMap::new();
    let mut by_seed: HashMap<Option<String>, HashSet<&Leaf>> = HashMap::new();
    for (j, f) in jobs.iter().zip(flat) {
        if let Some(v) = f.get(path) {
            by_row.entry(j.row_label()).or_default().insert(v);
            by_seed.entry(j.seed_key()).or_default().insert(v);
        }
    }
    let varies_within_row = by_row.values().any(|s| s.len() > 1);
    let function_of_seed = by_seed.len() > 1 && by_seed.values().all(|s| s.len() == 1);
    varies_within_row && function_of_seed
}

/// Shortest dotted suffixes (at least one segment) that tell the paths apart;
/// used for legend keys so labels stay short.
pub fn short_names(paths: &[Vec<String>]) -> Vec<String> {
    let suffix = |p: &Vec<String>, n: usize| p[p.len().saturating_sub(n)..].join(".");
    paths
        .iter()
        .map(|p| {
            let mut n = 1;
            while n < p.len()
                && paths
                    .iter()
                    .filter(|q| *q != p)
                    .any(|q| suffix(q, n) == suffix(p, n))
            {
                n += 1;
            }
            suffix(p, n)
        })
        .collect()
}

/// Figure-name form of an axis: its last three segments joined with `_`
/// (e.g. `loss_reg_lambda`), sanitised to `[a-z0-9_.-]`.
pub fn axis_file_name(path: &[String]) -> String {
    let tail = &path[path.len().saturating_sub(3)..];
    sanitize(&tail.join("_"))
}

/// Maps a name to `[a-z0-9_.-]`: lower-cases, replaces anything else by `_`,
/// collapses runs of `_`, never empty.
pub fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-' {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    // No hidden files and no `..`: strip leading dots/underscores.
    let out = out
        .trim_start_matches(['_', '.'])
        .trim_end_matches('_')
        .to_string();
    if out.is_empty() {
        "unnamed".into()
    } else {
        out
    }
}

// ---------------------------------------------------------------------------
// Metric vs axis aggregation
// ---------------------------------------------------------------------------

/// One aggregated point: mean and sample std of a metric over seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatPoint {
    pub x: f64,
    pub mean: f64,
    /// Sample standard deviation (n-1); 0 when only one seed finished.
    pub std: f64,
    pub n: usize,
}

/// One line of a metric-vs-axis figure: a fixed combination of the other swept paths.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub label: String,
    pub points: Vec<StatPoint>,
}

/// Groups jobs for a metric-vs-`axis` figure: x = the axis value, one series per
/// combination of the other swept paths that actually vary among the jobs that
/// have this axis. Jobs without the axis or without a finished result are
/// skipped; duplicate ids (same config in two rows) count once. `scale`
/// multiplies the metric (100 for percent).
pub fn metric_vs_axis(
    sweep: &Sweep,
    axes: &[Axis],
    axis: &Axis,
    metric: &str,
    scale: f64,
) -> Vec<MetricSeries> {
    let mut seen = HashSet::new();
    let jobs: Vec<(&PlanJob, BTreeMap<Vec<String>, Leaf>)> = sweep
        .plan
        .jobs
        .iter()
        .filter(|j| seen.insert(j.id.as_str()))
        .map(|j| (j, flatten(&j.config)))
        .filter(|(_, f)| f.get(&axis.path).and_then(Leaf::as_f64).is_some())
        .collect();
    // Other swept paths that still vary within this subset form the series key.
    let key_paths: Vec<Vec<String>> = axes
        .iter()
        .filter(|a| a.path != axis.path)
        .map(|a| a.path.clone())
        .filter(|p| {
            let vals: HashSet<Option<&Leaf>> = jobs.iter().map(|(_, f)| f.get(p)).collect();
            vals.len() > 1
        })
        .collect();
    let names = short_names(&key_paths);
    let mut groups: BTreeMap<Vec<Option<Leaf>>, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for (job, f) in &jobs {
        let Some(x) = f.get(&axis.path).and_then(Leaf::as_f64) else {
            continue;
        };
        let Some(y) = sweep.results.get(&job.id).and_then(|r| r.metric(metric)) else {
            continue;
        };
        let key: Vec<Option<Leaf>> = key_paths.iter().map(|p| f.get(p).cloned()).collect();
        groups
            .entry(key)
            .or_default()
            .entry(x.to_bits())
            .or_default()
            .push(y * scale);
    }
    groups
        .into_iter()
        .map(|(key, xs)| {
            let label = if key.is_empty() {
                metric.to_string()
            } else {
                names
                    .iter()
                    .zip(&key)
                    .map(|(n, v)| format!("{n}={}", v.as_ref().map_or("-".into(), Leaf::display)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut points: Vec<StatPoint> = xs
                .into_iter()
                .map(|(xb, ys)| {
                    let (mean, std) = mean_std(&ys);
                    StatPoint {
                        x: f64::from_bits(xb),
                        mean,
                        std,
                        n: ys.len(),
                    }
                })
                .collect();
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
            MetricSeries { label, points }
        })
        .collect()
}

/// Mean and sample standard deviation (n-1 denominator; 0 for a single value), from
/// [`crate::stats`].
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    (
        crate::stats::mean(v),
        crate::stats::sample_std(v).unwrap_or(0.0),
    )
}
