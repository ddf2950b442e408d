//! The convergence check of every table: a cell whose metric still rose over the last quarter
//! of its schedule by more than its spread over seeds is "still rising", marked [`MARK`].
//!
//! The rule, [`judge`], is the one place it is decided; the tables (every format) and
//! `sweep status` call it. Per seed, the rise is the final value minus the value at the
//! evaluation at 75% of the schedule (`eval.at` must hold 0.75; `result.json`'s `progress`
//! keeps it). A cell is still rising when the mean of its seeds' rises exceeds the sample
//! standard deviation (n − 1) of the same seeds' final values: the ± a table prints. One seed
//! has no spread, so its cell is not judged; its rise is still reported. Results without that
//! evaluation (written before `eval.at` existed) are not judged and change nothing.

use super::Units;
use crate::eval::CocoSummary;
use crate::journal::JobResult;

/// The marker of a still-rising cell.
pub const MARK: &str = "†";

/// Where the last quarter of a schedule starts, as a fraction of it.
const LAST_QUARTER: f64 = 0.75;

/// One seed's metric at 75% of its schedule and at the end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedEnds {
    pub at_three_quarters: f64,
    pub last: f64,
}

/// A finished job's value of `metric` at 75% of its schedule (the evaluation `eval.at: 0.75`
/// took, at round(0.75 × iterations)) and at the end; `None` when it has no such evaluation
/// or either value is not a score.
pub fn last_quarter(r: &JobResult, metric: &str) -> Option<SeedEnds> {
    let last = r.metric(metric)?;
    let start = ((LAST_QUARTER * r.iterations as f64).round() as u64).max(1);
    let point = r
        .progress
        .iter()
        .find(|p| p.iteration == start && p.iteration < r.iterations)?;
    let v = *point.metrics.get(metric)?;
    (v.is_finite() && v >= 0.0).then_some(SeedEnds {
        at_three_quarters: v,
        last,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The seeds' mean rise over the last quarter exceeds their std of the final value.
    Rising,
    /// Judged: it rose by no more than its spread (or fell).
    Settled,
    /// One seed has both values: its rise is known, the spread is not.
    OneSeed,
    /// No seed has a value at 75% of its schedule.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Convergence {
    pub verdict: Verdict,
    /// Mean over seeds of (final − at 75%), raw metric units.
    pub rise: Option<f64>,
    /// Sample std over the same seeds of the final value.
    pub spread: Option<f64>,
    /// Seeds with both values.
    pub seeds: usize,
}

/// The rule: still rising when the mean rise exceeds the sample std of the final values.
pub fn judge(seeds: &[SeedEnds]) -> Convergence {
    if seeds.is_empty() {
        return Convergence {
            verdict: Verdict::Unknown,
            rise: None,
            spread: None,
            seeds: 0,
        };
    }
    let rises: Vec<f64> = seeds.iter().map(|s| s.last - s.at_three_quarters).collect();
    let lasts: Vec<f64> = seeds.iter().map(|s| s.last).collect();
    let rise = crate::stats::mean(&rises);
    let spread = crate::stats::sample_std(&lasts);
    let verdict = match spread {
        None => Verdict::OneSeed,
        Some(sd) if rise > sd => Verdict::Rising,
        Some(_) => Verdict::Settled,
    };
    Convergence {
        verdict,
        rise: Some(rise),
        spread,
        seeds: seeds.len(),
    }
}

/// [`judge`] over the finished jobs of a cell (one per seed).
pub fn of_results(results: &[&JobResult], metric: &str) -> Convergence {
    let ends: Vec<SeedEnds> = results
        .iter()
        .filter_map(|r| last_quarter(r, metric))
        .collect();
    judge(&ends)
}

/// [`of_results`] per row over (row, result) pairs, rows in order of first appearance: what
/// `sweep status` shows.
pub fn by_row(results: &[(&str, &JobResult)], metric: &str) -> Vec<(String, Convergence)> {
    let mut rows: Vec<&str> = results.iter().map(|(row, _)| *row).collect();
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| seen.insert(*r));
    rows.into_iter()
        .map(|row| {
            let of_row: Vec<&JobResult> = results
                .iter()
                .filter(|(r, _)| *r == row)
                .map(|(_, res)| *res)
                .collect();
            (row.to_string(), of_results(&of_row, metric))
        })
        .collect()
}

/// The metric a table's check is on: its first plain COCO metric (AP for most tables, AP50
/// for ALWA's), else AP.
pub fn metric_of(metrics: &[String]) -> String {
    metrics
        .iter()
        .find(|m| CocoSummary::NAMES.contains(&m.as_str()))
        .cloned()
        .unwrap_or_else(|| "AP".to_string())
}

/// The definition behind [`MARK`], for a table's footnote.
pub fn definition(metric: &str) -> String {
    format!(
        "{MARK} still rising: the mean {metric} over seeds rose from the evaluation at 75% of \
         the schedule to the end by more than its std over seeds"
    )
}

/// A cell's place: (section key, row key, column group).
pub(crate) type CellKey = (String, String, Option<String>);

/// One table's check: every cell judged once, for the marks and the caption.
#[derive(Debug)]
pub(crate) struct TableCheck<'a> {
    pub metric: String,
    /// Each cell judged: its place, label, verdict and results.
    cells: Vec<(CellKey, String, Convergence, Vec<&'a JobResult>)>,
}

impl<'a> TableCheck<'a> {
    pub fn new(metrics: &[String]) -> TableCheck<'a> {
        TableCheck {
            metric: metric_of(metrics),
            cells: Vec::new(),
        }
    }

    /// How often clipping acted in the cells judged ([`super::clipping::caption`]).
    pub fn clipping(&self) -> Option<String> {
        super::clipping::caption(
            self.cells
                .iter()
                .map(|(_, l, _, r)| (l.as_str(), r.clone())),
        )
    }

    /// Judges a cell from its jobs' results (a cell shown twice, as listed sub-tables may,
    /// counts once); `None` when none of its jobs finished with a value.
    pub fn cell(
        &mut self,
        key: CellKey,
        label: String,
        results: &[&'a JobResult],
    ) -> Option<Convergence> {
        if let Some((_, _, c, _)) = self.cells.iter().find(|(k, ..)| *k == key) {
            return Some(*c);
        }
        if !results.iter().any(|r| r.metric(&self.metric).is_some()) {
            return None;
        }
        let c = of_results(results, &self.metric);
        self.cells.push((key, label, c, results.to_vec()));
        Some(c)
    }

    /// The footnote of a table with a marked cell.
    pub fn note(&self) -> Option<String> {
        self.cells
            .iter()
            .any(|(_, _, c, _)| c.verdict == Verdict::Rising)
            .then(|| definition(&self.metric))
    }

    /// What the check found, for the caption; `None` when no cell could be checked (results
    /// from before `eval.at`, or none yet).
    pub fn caption(&self, units: &Units) -> Option<String> {
        let m = &self.metric;
        let of = |v: Verdict| -> Vec<(&str, &Convergence)> {
            self.cells
                .iter()
                .filter(|(_, _, c, _)| c.verdict == v)
                .map(|(_, l, c, _)| (l.as_str(), c))
                .collect()
        };
        let (rising, settled, one, unknown) = (
            of(Verdict::Rising),
            of(Verdict::Settled),
            of(Verdict::OneSeed),
            of(Verdict::Unknown),
        );
        if rising.is_empty() && settled.is_empty() && one.is_empty() {
            return None;
        }
        let signed = |v: f64| signed(units, v);
        let judged = rising.len() + settled.len();
        let mut parts = Vec::new();
        if !rising.is_empty() {
            let list: Vec<String> = rising
                .iter()
                .map(|(l, c)| {
                    format!(
                        "{l} ({} vs std {})",
                        signed(c.rise.unwrap_or(0.0)),
                        units.number(c.spread.unwrap_or(0.0))
                    )
                })
                .collect();
            parts.push(format!(
                "Still rising ({MARK}) in {} of {judged} cells judged: the mean {m} over seeds \
                 rose from the evaluation at 75% of the schedule to the end by more than its std \
                 over seeds in {}.",
                rising.len(),
                list.join(", ")
            ));
        } else if judged > 0 {
            parts.push(format!(
                "Convergence: in none of the {judged} cells judged did the mean {m} rise from the \
                 evaluation at 75% of the schedule to the end by more than its std over seeds."
            ));
        }
        if !one.is_empty() {
            let rises: Vec<(f64, &str)> = one
                .iter()
                .map(|(l, c)| (c.rise.unwrap_or(0.0), *l))
                .collect();
            let (lo, hi) = rises.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (r, _)| {
                (lo.min(*r), hi.max(*r))
            });
            let most = rises
                .iter()
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, l)| *l)
                .unwrap_or_default();
            parts.push(if one.len() == 1 {
                format!(
                    "{most}, with one seed, is not judged (no spread over seeds): its {m} changed \
                     by {} from 75% of the schedule to the end.",
                    signed(hi)
                )
            } else {
                format!(
                    "{} cells with one seed are not judged (no spread over seeds): from 75% of \
                     the schedule to the end their {m} changed by {} to {} (most in {most}).",
                    one.len(),
                    signed(lo),
                    signed(hi)
                )
            });
        }
        if !unknown.is_empty() {
            parts.push(format!(
                "{} {} no evaluation at 75% of the schedule and {} not judged.",
                unknown.len(),
                if unknown.len() == 1 {
                    "cell has"
                } else {
                    "cells have"
                },
                if unknown.len() == 1 { "is" } else { "are" },
            ));
        }
        Some(parts.join(" "))
    }
}

/// A cell's name in a caption: "Batch Size: 8 (FCOS)" for row 8 of sub-table "Batch Size" in
/// column group FCOS.
pub(crate) fn cell_label(row: &str, section: Option<&str>, group: Option<&str>) -> String {
    let mut label = match section {
        Some(s) => format!("{s}: {row}"),
        None => row.to_string(),
    };
    if let Some(g) = group {
        label += &format!(" ({g})");
    }
    label
}

/// The mark a cell gets from its verdict, and its CSV flag (`None`: not judged).
pub(crate) fn flag(c: &Convergence) -> Option<bool> {
    match c.verdict {
        Verdict::Rising => Some(true),
        Verdict::Settled => Some(false),
        Verdict::OneSeed | Verdict::Unknown => None,
    }
}

/// A raw difference in the table's units, signed: "+3.1".
fn signed(units: &Units, v: f64) -> String {
    let v = if units.percent { v * 100.0 } else { v };
    let text = format!("{:+.*}", units.decimals, v);
    // "-0.0" reads as a loss that is not there.
    if text[1..].chars().all(|c| c == '0' || c == '.') {
        format!("{:.*}", units.decimals, 0.0)
    } else {
        text
    }
}

#[cfg(test)]
#[path = "convergence_tests.rs"]
mod tests;
