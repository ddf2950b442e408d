//! Claim lines: "row > than on metric", a test over our seeds at a stated level, never an
//! assertion. A paired t test when both rows ran the same seeds (same data order, same initial
//! weights wherever the models share parameters), Welch's t otherwise; Holm's correction
//! across the claims of one table; the verdict against the paper's side of the claim.

use serde::Serialize;

use super::power_need::SeedsNeeded;
use super::Units;
use crate::spec::table::ClaimSpec;
use crate::stats::{self, Test};

/// One seed's value of a claim's cell (the raw metric, not the table's units).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedValue {
    pub seed: u64,
    pub value: f64,
    /// The job's val-image bootstrap replicates of the metric (AP, AP50), if any.
    #[serde(skip)]
    pub val_bootstrap: Option<Vec<f64>>,
}

/// What our seeds say about the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The difference is on the claim's side (row > than) at the claim's level, after Holm.
    Reproduced,
    /// The difference is on the other side at that level.
    Contradicted,
    /// Neither: the interval holds 0 (or Holm's adjustment says so).
    Unresolved,
    /// A side has a single seed: no spread, no test.
    UnresolvedOneSeed,
    /// A side has no finished seed yet.
    Pending,
    /// The claim names a cell the table does not have.
    NoSuchCell,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::Contradicted => "contradicted",
            Verdict::Unresolved => "unresolved",
            Verdict::UnresolvedOneSeed => "unresolved (one seed)",
            Verdict::Pending => "not yet (results missing)",
            Verdict::NoSuchCell => "no such cell",
        }
    }
}

/// A claim with every number its verdict rests on (`claims.json` holds these).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claim {
    /// The line as printed under the table.
    pub text: String,
    pub row: String,
    pub than: String,
    pub metric: String,
    pub column: Option<String>,
    pub section: Option<String>,
    /// Two-sided confidence level of the test and interval.
    pub level: f64,
    pub verdict: Verdict,
    /// Our values of the row and of `than`, per seed (None: no such cell).
    pub values: Option<Vec<SeedValue>>,
    pub than_values: Option<Vec<SeedValue>>,
    /// mean(row) − mean(than), raw metric units.
    pub diff: Option<f64>,
    /// The test (paired or Welch), its interval at `level`, raw units.
    pub test: Option<Test>,
    /// Holm-adjusted p across the table's claims (a claim without a test counts as p = 1).
    pub holm_p: Option<f64>,
    /// How many claims the table's Holm correction covers.
    pub holm_claims: usize,
    /// The paper's own difference, raw units (from its two numbers or a printed "+1.46%").
    pub paper_diff: Option<f64>,
    /// Whether the paper's difference lies inside our interval.
    pub paper_in_ci: Option<bool>,
    /// The val-set noise of `diff`: the std over the val-image bootstrap replicates (the same
    /// image resamples for every job) of the difference of the two rows' seed means.
    pub val_sd: Option<f64>,
    /// val_sd² / (val_sd² + se²): the share of the difference's spread that is val-set noise
    /// (the rest, se, is seed noise measured on the fixed val set).
    pub val_share: Option<f64>,
    /// For an unresolved claim with the paper's difference: the seeds per row at which a true
    /// difference of the paper's size would be found with 80% power, at the spread measured so
    /// far ([`SeedsNeeded`]; None: no such number up to 1,000 seeds, or nothing to go by).
    pub seeds_to_resolve: Option<usize>,
    /// The power calculation behind `seeds_to_resolve`, for any verdict, or why there is none.
    pub seeds_needed: SeedsNeeded,
}

/// The power [`Claim::seeds_to_resolve`] is computed for.
pub const POWER: f64 = super::power_need::POWER;

/// What the builder found for one claim.
pub(crate) struct Input {
    /// Per-seed values of the row and of `than` (None: no such cell).
    pub row: Option<Vec<SeedValue>>,
    pub than: Option<Vec<SeedValue>>,
    /// The paper's two numbers, in the paper's units.
    pub paper: Option<(f64, f64)>,
}

/// The claims of one table, tested together.
pub(crate) fn decide(
    specs: &[ClaimSpec],
    inputs: Vec<Input>,
    table_level: f64,
    units: &Units,
) -> Vec<Claim> {
    let tests: Vec<Option<Test>> = specs
        .iter()
        .zip(&inputs)
        .map(|(c, i)| test(i, c.level.unwrap_or(table_level)))
        .collect();
    let p: Vec<f64> = tests
        .iter()
        .map(|t| t.as_ref().map_or(1.0, |t| t.p))
        .collect();
    let adjusted = stats::holm(&p);
    specs
        .iter()
        .zip(inputs)
        .zip(tests)
        .zip(adjusted)
        .map(|(((spec, input), test), holm_p)| {
            claim(spec, input, test, holm_p, specs.len(), table_level, units)
        })
        .collect()
}

/// Paired when both sides ran the same seeds (each once), else Welch.
fn test(input: &Input, level: f64) -> Option<Test> {
    let (a, b) = (input.row.as_ref()?, input.than.as_ref()?);
    let mut sa: Vec<u64> = a.iter().map(|v| v.seed).collect();
    let mut sb: Vec<u64> = b.iter().map(|v| v.seed).collect();
    sa.sort_unstable();
    sb.sort_unstable();
    let distinct = sa.windows(2).all(|w| w[0] != w[1]);
    if sa == sb && distinct {
        let by_seed = |side: &[SeedValue]| {
            let mut v = side.to_vec();
            v.sort_by_key(|s| s.seed);
            v.into_iter().map(|s| s.value).collect::<Vec<f64>>()
        };
        stats::paired(&by_seed(a), &by_seed(b), level)
    } else {
        let values = |side: &[SeedValue]| side.iter().map(|s| s.value).collect::<Vec<f64>>();
        stats::welch(&values(a), &values(b), level)
    }
}

fn claim(
    spec: &ClaimSpec,
    input: Input,
    test: Option<Test>,
    holm_p: f64,
    holm_claims: usize,
    table_level: f64,
    units: &Units,
) -> Claim {
    let level = spec.level.unwrap_or(table_level);
    let mut what = format!("{} > {} on {}", spec.row, spec.than, spec.metric);
    if let Some(c) = &spec.column {
        what = format!("{what} ({c})");
    }
    if let Some(s) = &spec.section {
        what = format!("{what} [{s}]");
    }
    let scale = if units.percent { 100.0 } else { 1.0 };
    let paper_diff = input.paper.map(|(a, b)| (a - b) / scale);
    let paper_shown = input.paper.map(|(a, b)| units.paper_delta(a - b));
    let mean = |side: &Option<Vec<SeedValue>>| -> Option<f64> {
        let v: Vec<f64> = side.as_ref()?.iter().map(|s| s.value).collect();
        (!v.is_empty()).then(|| stats::mean(&v))
    };
    let diff = mean(&input.row).zip(mean(&input.than)).map(|(a, b)| a - b);
    let count = |side: &Option<Vec<SeedValue>>| side.as_ref().map_or(0, Vec::len);
    let (na, nb) = (count(&input.row), count(&input.than));
    let verdict = match (&input.row, &input.than, &test) {
        (None, _, _) | (_, None, _) => Verdict::NoSuchCell,
        _ if na == 0 || nb == 0 => Verdict::Pending,
        (_, _, None) => Verdict::UnresolvedOneSeed,
        (_, _, Some(t)) if holm_p < 1.0 - level && t.diff > 0.0 => Verdict::Reproduced,
        (_, _, Some(t)) if holm_p < 1.0 - level && t.diff < 0.0 => Verdict::Contradicted,
        _ => Verdict::Unresolved,
    };
    let val_sd = val_sd(&input);
    let need = super::power_need::need(
        test.as_ref(),
        [&input.row, &input.than],
        paper_diff,
        level,
        holm_claims,
    );
    let seeds_to_resolve = match need {
        SeedsNeeded::Seeds { n, .. } if verdict == Verdict::Unresolved => Some(n),
        _ => None,
    };
    let val_share = test
        .as_ref()
        .zip(val_sd)
        .map(|(t, v)| v * v / (v * v + t.se * t.se))
        .filter(|s| s.is_finite());
    let paper_in_ci = test
        .as_ref()
        .zip(paper_diff)
        .map(|(t, d)| t.ci.0 <= d && d <= t.ci.1);
    let text = match (&test, diff) {
        (Some(t), _) => {
            let seeds = match t.kind {
                stats::TestKind::Paired => format!("{na} seeds, df {:.0}", t.df),
                stats::TestKind::Welch => format!("{na} vs {nb} seeds, df {:.1}", t.df),
            };
            let holm = if holm_claims > 1 {
                format!(", Holm p {} ({holm_claims} claims)", p_text(holm_p))
            } else {
                String::new()
            };
            let val = match (val_sd, val_share) {
                (Some(sd), Some(share)) => format!(
                    "; val-set noise ±{} ({:.0}% of the spread)",
                    units.delta(sd).trim_start_matches('+'),
                    share * 100.0
                ),
                _ => String::new(),
            };
            let mut paper = match (&paper_shown, paper_in_ci) {
                (Some(p), Some(true)) => format!("; paper {p}, inside our CI"),
                (Some(p), _) => format!("; paper {p}, outside our CI"),
                _ => String::new(),
            };
            if let Some(n) = seeds_to_resolve {
                paper += &format!(
                    "; {n} seeds a row would resolve a difference of the paper's size ({:.0}% power)",
                    POWER * 100.0
                );
            }
            format!(
                "{what}: {}, {} [{}% CI {}, {}] ({}, {seeds}, p {}{holm}){val}{paper}",
                verdict.text(),
                units.delta(t.diff),
                level_text(level),
                units.delta(t.ci.0),
                units.delta(t.ci.1),
                t.kind.name(),
                p_text(t.p),
            )
        }
        (None, Some(d)) => format!(
            "{what}: {}, {} ({na} vs {nb} seeds){}",
            verdict.text(),
            units.delta(d),
            paper_shown
                .map(|p| format!("; paper {p}"))
                .unwrap_or_default()
        ),
        (None, None) => format!(
            "{what}: {}{}",
            verdict.text(),
            paper_shown
                .map(|p| format!(" (paper: {p})"))
                .unwrap_or_default()
        ),
    };
    Claim {
        text,
        row: spec.row.clone(),
        than: spec.than.clone(),
        metric: spec.metric.clone(),
        column: spec.column.clone(),
        section: spec.section.clone(),
        level,
        verdict,
        values: input.row,
        than_values: input.than,
        diff,
        holm_p: test.as_ref().map(|_| holm_p),
        test,
        holm_claims,
        paper_diff,
        paper_in_ci,
        val_sd,
        val_share,
        seeds_to_resolve,
        seeds_needed: need,
    }
}

/// The std over bootstrap replicates of mean(row) − mean(than); None unless every seed on both
/// sides has replicates of one length.
fn val_sd(input: &Input) -> Option<f64> {
    let side = |s: &Option<Vec<SeedValue>>| -> Option<Vec<Vec<f64>>> {
        let s = s.as_ref()?;
        if s.is_empty() {
            return None;
        }
        s.iter().map(|v| v.val_bootstrap.clone()).collect()
    };
    let (a, b) = (side(&input.row)?, side(&input.than)?);
    let n = a[0].len();
    if n < 2
        || a.iter()
            .chain(&b)
            .any(|r| r.len() != n || r.iter().any(|x| *x < 0.0))
    {
        return None;
    }
    let mean_at =
        |reps: &[Vec<f64>], r: usize| reps.iter().map(|v| v[r]).sum::<f64>() / reps.len() as f64;
    let diffs: Vec<f64> = (0..n).map(|r| mean_at(&a, r) - mean_at(&b, r)).collect();
    stats::sample_std(&diffs)
}

/// "= 0.031", "< 0.001".
fn p_text(p: f64) -> String {
    match p {
        p if p < 0.001 => "< 0.001".into(),
        p if p < 0.1 => format!("= {p:.3}"),
        p => format!("= {p:.2}"),
    }
}

/// 0.95 → "95", 0.995 → "99.5".
fn level_text(level: f64) -> String {
    let s = format!("{:.4}", level * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
