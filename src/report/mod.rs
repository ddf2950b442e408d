//! Tables in the paper's layout: rows from the plan, one cell per metric with our mean ± std
//! over seeds, the paper's own number beside it. Pure: results in, text out.

mod csv;
mod latex;
mod markdown;

use std::collections::BTreeMap;

use crate::journal::{JobResult, JobStatus};
use crate::plan::PlanFile;
use crate::spec::{ReferenceFile, TableSpec};

pub use self::csv::render as csv;
pub use latex::render as latex;
pub use markdown::render as markdown;

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

/// One of our cells.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Mean over the seeds that finished; std when two or more did.
    Value {
        mean: f64,
        std: Option<f64>,
        seeds: usize,
        of: usize,
    },
    /// Nothing to show yet or ever: "pending", "not implemented", "failed", "diverged".
    Missing(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    pub cells: Vec<Cell>,
    /// The paper's value per column, in the paper's units.
    pub paper: Vec<Option<f64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: String,
    pub caption: String,
    pub row_header: String,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    pub percent: bool,
    pub decimals: usize,
    pub has_reference: bool,
}

impl Table {
    /// Formats one of our values in the table's units.
    pub fn number(&self, v: f64) -> String {
        let v = if self.percent { v * 100.0 } else { v };
        format!("{:.*}", self.decimals, v)
    }

    pub fn paper_number(&self, v: f64) -> String {
        format!("{:.*}", self.decimals, v)
    }

    /// "22.1 ± 0.3", "22.1 (1/3 seeds)", or the reason a cell is empty.
    pub fn cell_text(&self, c: &Cell) -> String {
        match c {
            Cell::Value {
                mean,
                std,
                seeds,
                of,
            } => {
                let mut s = self.number(*mean);
                if let Some(sd) = std {
                    s = format!("{s} ± {}", self.number(*sd));
                }
                if seeds < of {
                    s = format!("{s} ({seeds}/{of} seeds)");
                }
                s
            }
            Cell::Missing(why) => why.clone(),
        }
    }
}

/// What is known of one job when a table is built.
#[derive(Debug, Clone)]
pub enum JobView {
    Result(JobResult),
    Status(JobStatus),
}

/// Builds the table of a sweep from its plan and whatever results exist now.
pub fn build(
    plan: &PlanFile,
    spec: &TableSpec,
    reference: Option<&ReferenceFile>,
    jobs: &BTreeMap<String, JobView>,
    default_title: &str,
) -> Table {
    let mut order: Vec<&str> = Vec::new();
    for j in &plan.jobs {
        if !order.contains(&j.row.as_str()) {
            order.push(&j.row);
        }
    }
    let rows = order
        .iter()
        .map(|label| {
            let views: Vec<Option<&JobView>> = plan
                .jobs
                .iter()
                .filter(|j| j.row == *label)
                .map(|j| jobs.get(&j.id))
                .collect();
            let cells = spec
                .columns
                .iter()
                .map(|metric| cell(&views, metric))
                .collect();
            let paper = spec
                .columns
                .iter()
                .map(|m| {
                    reference
                        .and_then(|r| r.rows.get(*label))
                        .and_then(|row| row.get(m))
                        .copied()
                })
                .collect();
            Row {
                label: label.to_string(),
                cells,
                paper,
            }
        })
        .collect();
    Table {
        title: spec
            .title
            .clone()
            .unwrap_or_else(|| default_title.to_string()),
        caption: caption(plan, spec, reference),
        row_header: spec.row_header.clone(),
        columns: spec.columns.clone(),
        rows,
        percent: spec.percent,
        decimals: spec.decimals,
        has_reference: reference.is_some(),
    }
}

fn cell(views: &[Option<&JobView>], metric: &str) -> Cell {
    let values: Vec<f64> = views
        .iter()
        .filter_map(|v| match v {
            Some(JobView::Result(r)) if r.status == "done" => r.metrics.get(metric).copied(),
            _ => None,
        })
        .collect();
    if values.is_empty() {
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
            Some(JobView::Status(JobStatus::Running { .. })) => Some("running".to_string()),
            _ => None,
        });
        return Cell::Missing(why.unwrap_or_else(|| "pending".to_string()));
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    // Sample standard deviation (n − 1): the spread a reader expects over seeds.
    let std = (values.len() >= 2)
        .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    Cell::Value {
        mean,
        std,
        seeds: values.len(),
        of: views.len(),
    }
}

/// What the jobs trained and evaluated on, as the caption names it: the synthetic set's size and
/// classes, or the annotation files or sets of a dataset on disk, and the input size.
fn dataset_caption(d: &crate::spec::config::DatasetSpec) -> String {
    use crate::spec::config::DatasetSpec;
    let file = |p: &std::path::Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let (what, size) = match d {
        DatasetSpec::Synthetic(s) => {
            return format!(
                "the synthetic dataset ({} px, {} classes)",
                s.image_size, s.num_classes
            )
        }
        DatasetSpec::Coco(c) => (
            format!(
                "COCO annotations `{}` (val `{}`)",
                file(&c.train),
                file(&c.val)
            ),
            c.image_size,
        ),
        DatasetSpec::Voc(v) => (
            format!("Pascal VOC {} (val {})", v.train.join(" + "), v.val),
            v.image_size,
        ),
        DatasetSpec::Visdrone(v) => (
            format!("VisDrone {} (val {})", v.train, v.val),
            v.image_size,
        ),
    };
    let p = d.pipeline().expect("a dataset on disk has a pipeline");
    let mut text = format!("{what}, {size} px input");
    if let Some(n) = p.max_train_images {
        text.push_str(&format!(", first {n} training images"));
    }
    if let Some(n) = p.max_val_images {
        text.push_str(&format!(", first {n} val images"));
    }
    text
}

fn caption(plan: &PlanFile, spec: &TableSpec, reference: Option<&ReferenceFile>) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &spec.caption {
        parts.push(c.trim().to_string());
    }
    if let Some(first) = plan.jobs.first() {
        let cfg = &first.config;
        let detector = match &cfg.model.detector {
            crate::spec::config::DetectorSpec::Fcos { .. } => "FCOS-style",
            crate::spec::config::DetectorSpec::Retinanet { .. } => "RetinaNet-style",
        };
        let mut seeds: Vec<u64> = plan.jobs.iter().map(|j| j.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        parts.push(format!(
            "Ours: {detector} detector with a tiny ResNet + FPN trained from scratch for {} iterations (batch {}) on {}, scale `{}`; mean ± std over seeds {}.",
            cfg.train.iterations,
            cfg.train.batch_size,
            dataset_caption(&cfg.dataset),
            plan.scale.as_deref().unwrap_or("default"),
            seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        ));
    }
    if let Some(r) = reference {
        parts.push(format!("Paper: {}.", r.source.trim()));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(ap: f64) -> JobView {
        JobView::Result(JobResult {
            id: String::new(),
            status: "done".into(),
            metrics: [("AP".to_string(), ap)].into_iter().collect(),
            diverged_at: None,
            iterations: 1,
            seconds: 1.0,
            device: "cpu".into(),
            threads: 1,
            parameters: 1,
            finished_at: 0.0,
        })
    }

    #[test]
    fn mean_and_sample_std_over_seeds() {
        let (a, b, c) = (result(0.2), result(0.3), result(0.4));
        let c = cell(&[Some(&a), Some(&b), Some(&c)], "AP");
        let Cell::Value {
            mean,
            std,
            seeds,
            of,
        } = c
        else {
            panic!("a value")
        };
        assert!((mean - 0.3).abs() < 1e-12);
        assert!((std.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!((seeds, of), (3, 3));
    }

    #[test]
    fn partial_and_missing_cells_say_why() {
        let a = result(0.25);
        let pending = cell(&[Some(&a), None], "AP");
        assert_eq!(
            pending,
            Cell::Value {
                mean: 0.25,
                std: None,
                seeds: 1,
                of: 2
            }
        );
        let ni = JobView::Status(JobStatus::Unsupported { reason: "x".into() });
        assert_eq!(
            cell(&[Some(&ni)], "AP"),
            Cell::Missing("not implemented".into())
        );
    }
}
