//! Figures for a finished or still-running sweep directory.
//!
//! [`write_plots`] reads `plan.json`, `jobs/<id>/curves.csv` and
//! `jobs/<id>/result.json` and writes, into `<dir>/plots/`, each figure as
//! both PNG (for quick looks and reports) and SVG (for papers):
//!
//! * `curves_<loss>`: training loss per row (mean over seeds, min/max band),
//!   for `total`, `cls` and `reg` where present;
//! * `weights`: `w_cls` / `w_reg` over iterations per row, only when some job
//!   has adaptive (changing) loss weights, as in ALWA;
//! * `<metric>_vs_<axis>`: AP and AP50 (x100, mean ± sample std over seeds)
//!   against every swept numeric config path, one series per combination of
//!   the other swept paths; skipped when that would be more than
//!   [`MAX_SERIES`] series.
//!
//! Missing data is skipped rather than reported: plotting is meant to be run
//! on partial sweeps. Self-contained: depends only on its own submodules.

mod data;
mod render;

use std::fs;
use std::path::{Path, PathBuf};

pub use data::{
    axis_file_name, flatten, mean_std, metric_vs_axis, read_curves, sanitize, swept_axes, Axis,
    CurvePoint, Curves, Leaf, MetricSeries, Plan, PlanJob, StatPoint, Sweep,
};
pub use render::{render_svg, wants_log, write_figure, Figure, Panel, Series};

/// Loss columns that get a curves figure when present.
pub const LOSS_COLUMNS: [&str; 3] = ["total", "cls", "reg"];
/// Metrics plotted against swept axes (COCO keys of `result.json`).
pub const METRICS: [&str; 2] = ["AP", "AP50"];
/// More series than this makes a metric-vs-axis figure unreadable; it is skipped.
/// Rows per training-curve figure.
pub const MAX_CURVES: usize = 10;

pub const MAX_SERIES: usize = 6;
/// Pixel size of single-panel figures.
pub const SIZE: (u32, u32) = (1000, 600);
/// Pixel size of the two-panel weights figure.
pub const WEIGHTS_SIZE: (u32, u32) = (1000, 800);

/// Errors from plotting. Missing job data is never an error.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot read sweep plan {path}: {source}")]
    PlanRead {
        path: PathBuf,
        source: crate::journal::JournalError,
    },
    #[error("cannot parse sweep plan {path}: {problem}")]
    PlanParse { path: PathBuf, problem: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot render figure {figure}: {message}")]
    Render { figure: String, message: String },
    #[error("embedded font could not be loaded")]
    Font,
}

/// Writes every figure the sweep's data supports into `<sweep_dir>/plots/`
/// and returns the written paths (PNG and SVG of each figure).
///
/// Errors only when `plan.json` is unreadable or the output cannot be written.
pub fn write_plots(sweep_dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let sweep = Sweep::load(sweep_dir)?;
    let out = sweep_dir.join("plots");
    fs::create_dir_all(&out).map_err(|source| PlotError::Io {
        path: out.clone(),
        source,
    })?;
    let mut written = Vec::new();
    for (stem, fig) in figures(&sweep) {
        written.extend(write_figure(&out, &stem, &fig)?);
    }
    Ok(written)
}

/// All figures the data supports, as (file stem, figure); no I/O.
pub fn figures(sweep: &Sweep) -> Vec<(String, Figure)> {
    let mut figs = Vec::new();
    let rows = sweep.rows();
    let title = sweep.plan.spec.clone().unwrap_or_default();
    let prefix = |t: &str| {
        if title.is_empty() {
            t.to_string()
        } else {
            format!("{title}: {t}")
        }
    };

    // Many rows (ALWA Table 1 has 33) would overflow a legend: figures of at most
    // MAX_CURVES rows each, numbered when there are several.
    let chunks: Vec<&[String]> = rows.chunks(MAX_CURVES).collect();
    let part = |stem: String, k: usize| {
        if chunks.len() > 1 {
            format!("{stem}_part{}", k + 1)
        } else {
            stem
        }
    };
    for loss in LOSS_COLUMNS {
        if !sweep.has_column(loss) {
            continue;
        }
        for (k, chunk) in chunks.iter().enumerate() {
            let mut panel = curve_panel(sweep, chunk, loss, &format!("{loss} loss"));
            panel.title = "mean over seeds, band = min..max".into();
            figs.push((
                part(format!("curves_{}", sanitize(loss)), k),
                Figure {
                    title: prefix(&format!("training loss ({loss})")),
                    panels: vec![panel],
                    size: SIZE,
                },
            ));
        }
    }

    if sweep.has_adaptive_weights() {
        for (k, chunk) in chunks.iter().enumerate() {
            let panels = ["w_cls", "w_reg"]
                .iter()
                .map(|w| curve_panel(sweep, chunk, w, w))
                .collect();
            figs.push((
                part("weights".to_string(), k),
                Figure {
                    title: prefix("loss weights"),
                    panels,
                    size: WEIGHTS_SIZE,
                },
            ));
        }
    }

    let axes = swept_axes(&sweep.plan.jobs);
    let mut used_names: Vec<String> = Vec::new();
    for axis in axes.iter().filter(|a| a.numeric) {
        let mut name = axis_file_name(&axis.path);
        if used_names.contains(&name) {
            name = sanitize(&axis.path.join("_"));
        }
        used_names.push(name.clone());
        for metric in METRICS {
            if let Some(fig) = metric_figure(sweep, &axes, axis, metric, &prefix) {
                figs.push((format!("{}_vs_{name}", sanitize(metric)), fig));
            }
        }
    }
    figs
}

/// One panel of per-row curves of `column` (mean line + min/max band).
fn curve_panel(sweep: &Sweep, rows: &[String], column: &str, y_label: &str) -> Panel {
    let mut series = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let pts = sweep.row_curve(row, column);
        if pts.is_empty() {
            continue;
        }
        series.push(Series {
            label: row.clone(),
            color: i,
            line: pts.iter().map(|p| (p.iteration, p.mean)).collect(),
            band: if pts.iter().any(|p| p.n > 1) {
                pts.iter().map(|p| (p.iteration, p.min, p.max)).collect()
            } else {
                Vec::new()
            },
            ..Series::default()
        });
    }
    let y_log = wants_log(series.iter().flat_map(|s| s.line.iter().map(|p| p.1)));
    Panel {
        title: column.to_string(),
        x_label: "iteration".into(),
        y_label: y_label.into(),
        x_log: false,
        y_log,
        series,
    }
}

/// Metric (x100) vs a swept axis, or `None` when there is nothing worth a
/// figure: fewer than two x values with results, or too many series.
fn metric_figure(
    sweep: &Sweep,
    axes: &[Axis],
    axis: &Axis,
    metric: &str,
    prefix: &dyn Fn(&str) -> String,
) -> Option<Figure> {
    let groups = metric_vs_axis(sweep, axes, axis, metric, 100.0);
    if groups.is_empty() || groups.len() > MAX_SERIES {
        return None;
    }
    let mut xs: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.points.iter().map(|p| p.x))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if xs.len() < 2 {
        return None;
    }
    let series = groups
        .iter()
        .enumerate()
        .map(|(i, g)| Series {
            label: g.label.clone(),
            color: i,
            line: g.points.iter().map(|p| (p.x, p.mean)).collect(),
            markers: true,
            errors: g
                .points
                .iter()
                .filter(|p| p.n > 1)
                .map(|p| (p.x, p.mean - p.std, p.mean + p.std))
                .collect(),
            ..Series::default()
        })
        .collect();
    let dotted = axis.dotted();
    Some(Figure {
        title: prefix(&format!("{metric} vs {dotted}")),
        panels: vec![Panel {
            title: format!("{metric} (mean ± std over seeds)"),
            x_label: dotted,
            y_label: format!("{metric} (%)"),
            x_log: wants_log(xs.iter().copied()),
            y_log: false,
            series,
        }],
        size: SIZE,
    })
}

#[cfg(test)]
mod tests;
