//! Tables in the paper's layout: rows, column groups and sub-tables chosen by the spec's
//! `table:` section, our mean ± std over seeds beside the paper's own number, baselines with
//! their deltas, bold, and claim lines computed from our seeds. Pure (results in, text out),
//! except [`write_tables`], which reads the sweep directory and writes `tables/`.

mod build;
mod caption;
mod check;
mod claim_jobs;
pub(crate) mod claims;
pub mod clipping;
pub mod convergence;
mod csv;
pub mod html;
mod latex;
mod markdown;
pub mod power_need;
mod text_claims;
mod write;

use crate::journal::{JobStatus, JobView};

pub use self::csv::{claims as claims_csv, render as csv};
pub use build::build;
pub use check::check;
pub use claim_jobs::claim_jobs;
pub use claims::{Claim, SeedValue, Verdict};
pub use latex::render as latex;
pub use markdown::render as markdown;
pub use power_need::SeedsNeeded;
pub use text_claims::TextCheck;
pub use write::{check_spec_tables, write_tables};

/// Every table's claims with the numbers behind them: the sweep's `claims.json`.
pub fn claims_json(spec: &str, tables: &[Table]) -> serde_json::Value {
    serde_json::json!({
        "spec": spec,
        "tables": tables
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name,
                    "title": t.title,
                    "claims": t.claims,
                    "text_claims": t.text_claims,
                })
            })
            .collect::<Vec<_>>(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Csv,
    Latex,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Latex => "tex",
        }
    }
    pub fn render(self, t: &Table) -> String {
        match self {
            Format::Markdown => markdown(t),
            Format::Csv => csv(t),
            Format::Latex => latex(t),
        }
    }
}

/// A rendered table, ready for any format: every cell's text is decided here, so the three
/// formats cannot disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// File stem under `DIR/tables/`.
    pub name: String,
    pub title: String,
    pub caption: String,
    pub row_header: String,
    pub columns: Vec<Column>,
    pub sections: Vec<Section>,
    pub has_reference: bool,
    /// One per claim: its line and every number behind it (raw metric units).
    pub claims: Vec<Claim>,
    /// How a raw difference is printed in this table: times `scale`, followed by `unit`
    /// (100 and "" for a percent table, 100 and "%" for ALWA's points-percent deltas).
    pub delta_scale: f64,
    pub delta_unit: &'static str,
    /// The paper's text against its own cells (from the reference file).
    pub text_claims: Vec<TextCheck>,
    /// What the still-rising mark means, when a cell has it ([`convergence`]).
    pub still_rising_note: Option<String>,
}

/// One data column: a metric, within a column group when the table has them.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub group: Option<String>,
    pub metric: String,
    /// The metric as the header shows it (`metric_labels`, else its name).
    pub metric_label: String,
    /// Header text.
    pub header: String,
    /// The column's key in the reference file (by metric name, whatever the label).
    pub key: String,
}

/// A sub-table; `header` (when there are several) replaces the row header in its header row.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub header: Option<String>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    /// A row of differences (`delta: rows`), not of values.
    pub is_delta: bool,
    pub cells: Vec<Shown>,
    /// The paper's value per column, as it should print.
    pub paper: Vec<Option<String>>,
}

/// One of our cells as printed, with what CSV needs besides the text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Shown {
    pub text: String,
    pub bold: bool,
    /// Mean, std and "seeds/of" in the table's units (empty when there is no value).
    pub mean: String,
    pub std: String,
    pub seeds: String,
    /// "ok", "partial", or why there is no value ("pending", "failed (crash)", ...).
    pub status: String,
    /// The convergence check of the cell's metric, when this column carries it: still rising
    /// (its text then ends with [`convergence::MARK`]) or not; `None`: not judged.
    pub still_rising: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
    pub seeds: usize,
    pub of: usize,
    pub lost: Option<String>,
}

/// Our values of one cell: the seeds that finished, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Values {
        values: Vec<f64>,
        /// The seed of each value.
        seeds: Vec<u64>,
        /// Each value's val-image bootstrap replicates, when its job has them for this metric.
        boot: Vec<Option<Vec<f64>>>,
        of: usize,
        /// Seeds that ended without a value: "1 diverged", "1 failed".
        lost: Option<String>,
    },
    Missing(String),
}

impl Cell {
    /// Collects one metric over the jobs (one per seed) of a cell. COCO's −1 ("no object in
    /// this size range") is not a score: it is left out, never averaged. Each view comes with
    /// its job's seed.
    pub(crate) fn of(seeded: &[(u64, Option<&JobView>)], metric: &str) -> Cell {
        let views: Vec<Option<&JobView>> = seeded.iter().map(|(_, v)| *v).collect();
        // One damaged seed makes the cell's mean a different number: none is shown until the
        // job is redone.
        if views.iter().any(|v| matches!(v, Some(JobView::Damaged(_)))) {
            return Cell::Missing("damaged".into());
        }
        let mut values = Vec::new();
        let mut seeds = Vec::new();
        let mut boot = Vec::new();
        let mut undefined = false;
        for (seed, v) in seeded {
            if let Some(JobView::Result(r)) = v {
                if r.status == "done" {
                    match r.metrics.get(metric) {
                        Some(x) if x.is_finite() && *x >= 0.0 => {
                            values.push(*x);
                            seeds.push(*seed);
                            boot.push(r.val_bootstrap.as_ref().and_then(|b| match metric {
                                "AP" => Some(b.ap.clone()),
                                "AP50" => Some(b.ap50.clone()),
                                _ => None,
                            }));
                        }
                        Some(_) => undefined = true,
                        None => {}
                    }
                }
            }
        }
        let diverged = views
            .iter()
            .filter(|v| matches!(v, Some(JobView::Result(r)) if r.status == "diverged"))
            .count();
        let failed = views
            .iter()
            .filter(|v| matches!(v, Some(JobView::Status(JobStatus::Failed { .. }))))
            .count();
        if !values.is_empty() {
            let lost: Vec<String> = [(diverged, "diverged"), (failed, "failed")]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
            return Cell::Values {
                values,
                seeds,
                boot,
                of: views.len(),
                lost: (!lost.is_empty()).then(|| lost.join(", ")),
            };
        }
        if undefined {
            return Cell::Missing("n/a (no objects in range)".into());
        }
        let why = views.iter().find_map(|v| match v {
            Some(JobView::Status(JobStatus::Unsupported { .. })) => {
                Some("not implemented".to_string())
            }
            Some(JobView::Status(JobStatus::Failed { cause, .. })) => {
                Some(format!("failed ({cause})"))
            }
            Some(JobView::Result(r)) if r.status == "diverged" => {
                Some(format!("diverged@{}", r.diverged_at.unwrap_or(0)))
            }
            Some(JobView::Result(r)) if r.status == "done" => Some(format!("no {metric}")),
            Some(JobView::Status(JobStatus::Running { .. })) => Some("running".to_string()),
            _ => None,
        });
        Cell::Missing(why.unwrap_or_else(|| "pending".to_string()))
    }

    pub(crate) fn stat(&self) -> Option<Stat> {
        let Cell::Values {
            values, of, lost, ..
        } = self
        else {
            return None;
        };
        Some(Stat {
            mean: crate::stats::mean(values),
            // Sample standard deviation (n − 1): the spread a reader expects over seeds.
            std: crate::stats::sample_std(values),
            seeds: values.len(),
            of: *of,
            lost: lost.clone(),
        })
    }
}

/// Number formatting of one table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Units {
    pub percent: bool,
    pub decimals: usize,
    pub delta: crate::spec::table::DeltaFormat,
}

impl Units {
    /// (scale, suffix) of a printed difference: see [`Units::delta`].
    pub fn delta_scale(&self) -> (f64, &'static str) {
        use crate::spec::table::DeltaFormat;
        match self.delta {
            DeltaFormat::Value if self.percent => (100.0, ""),
            DeltaFormat::Value => (1.0, ""),
            DeltaFormat::PointsPercent => (100.0, "%"),
        }
    }

    /// One of our values in the table's units.
    pub fn number(&self, v: f64) -> String {
        let v = if self.percent { v * 100.0 } else { v };
        format!("{:.*}", self.decimals, v)
    }

    /// A difference of raw metric values, signed: "+2.5" or, for ALWA, "+1.46%".
    pub fn delta(&self, d: f64) -> String {
        use crate::spec::table::DeltaFormat;
        let (v, decimals, suffix) = match self.delta {
            DeltaFormat::Value => (if self.percent { d * 100.0 } else { d }, self.decimals, ""),
            DeltaFormat::PointsPercent => (d * 100.0, 2, "%"),
        };
        let text = format!("{:+.*}", decimals, v);
        // "-0.0" reads as a loss that is not there.
        let text = if text
            .trim_start_matches(['+', '-'])
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            format!("{:.*}", decimals, 0.0)
        } else {
            text
        };
        format!("{text}{suffix}")
    }

    /// A difference of the paper's printed numbers (already in the paper's units).
    pub fn paper_delta(&self, d: f64) -> String {
        use crate::spec::table::DeltaFormat;
        match self.delta {
            DeltaFormat::Value => format!("{:+.*}", self.decimals, d),
            DeltaFormat::PointsPercent => {
                let scaled = if self.percent { d } else { d * 100.0 };
                format!("{scaled:+.2}%")
            }
        }
    }

    /// "22.1 ± 0.3", "22.1 (1/3 seeds)".
    pub fn stat_text(&self, s: &Stat) -> String {
        let mut text = self.number(s.mean);
        if let Some(sd) = s.std {
            text = format!("{text} ± {}", self.number(sd));
        }
        match (&s.lost, s.seeds < s.of) {
            (Some(lost), _) => text = format!("{text} ({}/{} seeds; {lost})", s.seeds, s.of),
            (None, true) => text = format!("{text} ({}/{} seeds)", s.seeds, s.of),
            (None, false) => {}
        }
        text
    }
}

#[cfg(test)]
mod tests;
