//! Plan + results → [`Table`]: which jobs fill which cell, the baselines' deltas, bold.

use std::collections::{BTreeMap, HashMap};

use super::{
    caption, claims, convergence, Cell, Column, JobView, Row, Section, Shown, Table, Units,
};
use crate::plan::{PlanFile, PlannedJob};
use crate::spec::table::{
    AxisSpec, Bold, DeltaMode, RefValue, RowKeyword, RowSource, Sections, TableReference,
};
use crate::spec::TableSpec;

/// One row's means for bold: (row index, our means per column, the paper's per column).
type RowMeans = (usize, Vec<Option<f64>>, Vec<Option<f64>>);

/// A job's place in a table.
#[derive(Debug, Clone)]
pub(crate) struct Placed<'a> {
    pub job: &'a PlannedJob,
    /// Section label (axis sections) or "" (none, or listed sections).
    pub section: String,
    pub row: String,
    pub group: Option<String>,
    /// Order keys of the section, row and group labels: their axis' label order (0 when the
    /// label does not come from an axis).
    pub ranks: (usize, usize, usize),
}

/// The value at a dotted path of a job's resolved config.
pub(crate) fn lookup<'v>(
    config: &'v serde_json::Value,
    path: &str,
) -> Option<&'v serde_json::Value> {
    path.split('.').try_fold(config, |v, k| v.get(k))
}

/// The jobs of a table with their section, row and column group, in plan order.
pub(crate) fn place<'a>(plan: &'a PlanFile, spec: &TableSpec) -> Vec<Placed<'a>> {
    let mut out = Vec::new();
    for job in &plan.jobs {
        let config = serde_json::to_value(&job.config).unwrap_or_default();
        let at = |a: &AxisSpec| a.place(lookup(&config, &a.axis));
        let keep = spec
            .filter
            .iter()
            .all(|(path, want)| want.matches_at(lookup(&config, path)));
        if !keep {
            continue;
        }
        let (row, row_rank) = match &spec.rows {
            RowSource::Named(RowKeyword::Row) => (job.row.clone(), 0),
            RowSource::Named(RowKeyword::Variant) => (job.variant.clone(), 0),
            RowSource::Axis(a) => match at(a) {
                Some(placed) => placed,
                None => continue,
            },
        };
        let (section, section_rank) = match &spec.sections {
            Some(Sections::Axis(a)) => match at(a) {
                Some(placed) => placed,
                None => continue,
            },
            _ => (String::new(), 0),
        };
        let (group, group_rank) = match &spec.columns {
            Some(a) => match at(a) {
                Some((label, rank)) => (Some(label), rank),
                None => continue,
            },
            None => (None, 0),
        };
        out.push(Placed {
            job,
            section,
            row,
            group,
            ranks: (section_rank, row_rank, group_rank),
        });
    }
    out
}

/// Labels in order of first appearance, or by the axis' label order first when given.
fn ordered(labels: impl Iterator<Item = (String, usize)>) -> Vec<String> {
    let mut seen: Vec<(usize, usize, String)> = Vec::new();
    for (label, rank) in labels {
        if !seen.iter().any(|(_, _, l)| *l == label) {
            let n = seen.len();
            seen.push((rank, n, label));
        }
    }
    seen.sort_by_key(|(rank, n, _)| (*rank, *n));
    seen.into_iter().map(|(_, _, l)| l).collect()
}

/// One sub-table before formatting: its header and its rows as (key, shown label).
pub(crate) struct Layout {
    pub header: Option<String>,
    /// The section label jobs carry (axis sections), "" otherwise.
    pub key: String,
    pub rows: Vec<(String, String)>,
}

pub(crate) fn layout(spec: &TableSpec, placed: &[Placed]) -> (Vec<Layout>, Vec<Option<String>>) {
    let groups: Vec<Option<String>> = match &spec.columns {
        Some(_) => ordered(
            placed
                .iter()
                .filter_map(|p| Some((p.group.clone()?, p.ranks.2))),
        )
        .into_iter()
        .map(Some)
        .collect(),
        None => vec![None],
    };
    let rows_of = |section: &str| -> Vec<(String, String)> {
        ordered(
            placed
                .iter()
                .filter(|p| p.section == section)
                .map(|p| (p.row.clone(), p.ranks.1)),
        )
        .into_iter()
        .map(|r| (r.clone(), r))
        .collect()
    };
    let sections = match &spec.sections {
        None => vec![Layout {
            header: None,
            key: String::new(),
            rows: rows_of(""),
        }],
        Some(Sections::Listed(list)) => list
            .iter()
            .map(|s| Layout {
                header: Some(s.header.clone()),
                key: String::new(),
                rows: s
                    .rows
                    .iter()
                    .map(|r| (r.row().to_string(), r.label().to_string()))
                    .collect(),
            })
            .collect(),
        Some(Sections::Axis(_)) => ordered(placed.iter().map(|p| (p.section.clone(), p.ranks.0)))
            .into_iter()
            .map(|s| Layout {
                header: Some(s.clone()),
                rows: rows_of(&s),
                key: s,
            })
            .collect(),
    };
    (sections, groups)
}

/// The header (and reference key) of a column.
fn column_header(group: &Option<String>, metric: &str, metrics: usize) -> String {
    match group {
        Some(g) if metrics == 1 => g.clone(),
        Some(g) => format!("{g}/{metric}"),
        None => metric.to_string(),
    }
}

/// Builds a table from the plan and whatever results exist now.
pub fn build(
    plan: &PlanFile,
    spec: &TableSpec,
    reference: Option<&TableReference>,
    jobs: &BTreeMap<String, JobView>,
    default_title: &str,
) -> Table {
    let placed = place(plan, spec);
    let (layouts, groups) = layout(spec, &placed);
    let columns: Vec<Column> = groups
        .iter()
        .flat_map(|g| {
            spec.metrics.iter().map(move |m| {
                let label = spec.metric_labels.get(m).unwrap_or(m);
                Column {
                    group: g.clone(),
                    metric: m.clone(),
                    metric_label: label.clone(),
                    header: column_header(g, label, spec.metrics.len()),
                    key: column_header(g, m, spec.metrics.len()),
                }
            })
        })
        .collect();
    let units = Units {
        percent: spec.percent,
        decimals: spec.decimals,
        delta: spec.delta_format,
    };
    // Our cells: (section key, row key, group) → one Cell per metric.
    // One entry per distinct job: two rows that resolve to one config share a job, which must
    // not count as two seeds.
    type CellKey = (String, String, Option<String>);
    type Seeded<'v> = (&'v str, u64, Option<&'v JobView>);
    let mut cells: HashMap<CellKey, Vec<Seeded>> = HashMap::new();
    for p in &placed {
        let entry = cells
            .entry((p.section.clone(), p.row.clone(), p.group.clone()))
            .or_default();
        if !entry.iter().any(|(id, _, _)| *id == p.job.id) {
            entry.push((&p.job.id, p.job.seed, jobs.get(&p.job.id)));
        }
    }
    let cell = |section: &str, row: &str, c: &Column| -> Option<Cell> {
        let views = cells.get(&(section.to_string(), row.to_string(), c.group.clone()))?;
        let views: Vec<(u64, Option<&JobView>)> =
            views.iter().map(|(_, seed, v)| (*seed, *v)).collect();
        Some(Cell::of(&views, &c.metric))
    };
    let results_of = |section: &str, row: &str, group: &Option<String>| {
        let views = cells.get(&(section.to_string(), row.to_string(), group.clone()));
        views.into_iter().flatten().filter_map(|(_, _, v)| match v {
            Some(JobView::Result(r)) => Some(r),
            _ => None,
        })
    };
    let mut check = convergence::TableCheck::new(&spec.metrics);
    // The paper's value of a row (by its shown label) in a sub-table: keyed
    // "<sub-table>/<label>", or by the label alone.
    let paper_value = |section: &Option<String>, label: &str, c: &Column| -> Option<&RefValue> {
        let r = reference?;
        // Inside sub-tables only "<sub-table>/<label>": a bare label would fill every sub-table
        // that has a row of that name.
        let row = match section {
            Some(s) => r.rows.get(&format!("{s}/{label}"))?,
            None => r.rows.get(label)?,
        };
        row.get(&c.key)
    };
    let paper = |section: &Option<String>, label: &str, c: &Column| -> Option<String> {
        Some(match paper_value(section, label, c)? {
            RefValue::Number(v) => format!("{:.*}", spec.decimals, v),
            RefValue::Text(t) => t.clone(),
        })
    };
    let delta_applies = |metric: &str| {
        spec.delta_metrics
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|m| m == metric))
    };

    let mut sections = Vec::new();
    for lay in &layouts {
        let mut rows: Vec<Row> = Vec::new();
        // Per row: the means of its cells, for bold.
        let mut means: Vec<RowMeans> = Vec::new();
        for (key, label) in &lay.rows {
            let base_key = spec
                .baseline
                .as_ref()
                .and_then(|b| b.of(label).or_else(|| b.of(key)))
                .and_then(|b| {
                    lay.rows
                        .iter()
                        .find(|(k, l)| l == b || k == b)
                        .map(|(k, _)| k.clone())
                })
                .filter(|b| b != key);
            let mut shown = Vec::new();
            let mut deltas: Vec<Option<f64>> = Vec::new();
            let mut row_means = Vec::new();
            let mut base_means = Vec::new();
            for c in &columns {
                let ours = cell(&lay.key, key, c);
                let stat = ours.as_ref().and_then(Cell::stat);
                let base = base_key
                    .as_ref()
                    .and_then(|b| cell(&lay.key, b, c))
                    .and_then(|c| c.stat());
                let delta = match (&stat, &base) {
                    (Some(s), Some(b)) if delta_applies(&c.metric) => Some(s.mean - b.mean),
                    _ => None,
                };
                let mut s = Shown::default();
                match (&ours, &stat) {
                    (_, Some(st)) => {
                        s.text = units.stat_text(st);
                        s.mean = units.number(st.mean);
                        s.std = st.std.map(|v| units.number(v)).unwrap_or_default();
                        s.seeds = format!("{}/{}", st.seeds, st.of);
                        s.status = match &st.lost {
                            Some(lost) => format!("partial ({lost})"),
                            None if st.seeds < st.of => "partial".into(),
                            None => "ok".into(),
                        };
                    }
                    (Some(Cell::Missing(why)), None) => {
                        s.text = why.clone();
                        s.status = why.clone();
                    }
                    _ => {
                        s.text = "–".into();
                        s.status = "no such row".into();
                    }
                }
                if let Some(d) = delta {
                    match spec.delta {
                        DeltaMode::Inline => s.text = format!("{} ({})", s.text, units.delta(d)),
                        DeltaMode::Replace => s.text = units.delta(d),
                        DeltaMode::Rows | DeltaMode::None => {}
                    }
                }
                row_means.push(stat.as_ref().map(|s| s.mean));
                base_means.push(base.as_ref().map(|b| b.mean));
                deltas.push(delta);
                shown.push(s);
            }
            // The convergence check, once per column group, marks the group's cell of its metric.
            for g in &groups {
                let place = convergence::cell_label(label, lay.header.as_deref(), g.as_deref());
                let results: Vec<_> = results_of(&lay.key, key, g).collect();
                let Some(verdict) =
                    check.cell((lay.key.clone(), key.clone(), g.clone()), place, &results)
                else {
                    continue;
                };
                for (s, c) in shown.iter_mut().zip(&columns) {
                    if c.group == *g && c.metric == check.metric {
                        s.still_rising = convergence::flag(&verdict);
                        if s.still_rising == Some(true) {
                            s.text = format!("{} {}", s.text, convergence::MARK);
                        }
                    }
                }
            }
            means.push((rows.len(), row_means, base_means));
            let base_label = base_key
                .as_ref()
                .and_then(|b| lay.rows.iter().find(|(k, _)| k == b))
                .map(|(_, l)| l.as_str());
            let paper_row = columns
                .iter()
                .map(|c| {
                    let text = paper(&lay.header, label, c)?;
                    // The paper's own "(+2.5)" where we show ours, from its two numbers.
                    let numbers = base_label.and_then(|b| {
                        match (
                            paper_value(&lay.header, label, c)?,
                            paper_value(&lay.header, b, c)?,
                        ) {
                            (RefValue::Number(a), RefValue::Number(b)) => Some(a - b),
                            _ => None,
                        }
                    });
                    Some(match numbers {
                        Some(d) if spec.delta == DeltaMode::Inline && delta_applies(&c.metric) => {
                            format!("{text} ({})", units.paper_delta(d))
                        }
                        _ => text,
                    })
                })
                .collect();
            rows.push(Row {
                label: label.clone(),
                is_delta: false,
                paper: paper_row,
                cells: shown,
            });
            if spec.delta == DeltaMode::Rows && base_key.is_some() {
                let cells = deltas
                    .iter()
                    .map(|d| Shown {
                        text: d.map_or("–".into(), |d| units.delta(d)),
                        bold: spec.bold == Bold::AboveBaseline && d.is_some_and(|d| d > 0.0),
                        mean: d.map(|d| units.delta(d)).unwrap_or_default(),
                        status: if d.is_some() { "delta" } else { "pending" }.into(),
                        ..Shown::default()
                    })
                    .collect();
                let paper_label = format!("{label}/{}", spec.delta_label);
                rows.push(Row {
                    label: spec.delta_label.clone(),
                    is_delta: true,
                    paper: columns
                        .iter()
                        .map(|c| paper(&lay.header, &paper_label, c))
                        .collect(),
                    cells,
                });
            }
        }
        mark_bold(spec.bold, &mut rows, &means, columns.len());
        sections.push(Section {
            header: lay.header.clone(),
            rows,
        });
    }
    // A row named by a claim (by key or shown label), within its sub-table when given.
    let find = |section: Option<&str>, row: &str| -> Option<(&Layout, String, String)> {
        layouts.iter().find_map(|l| {
            if section.is_some_and(|s| l.header.as_deref() != Some(s)) {
                return None;
            }
            let (k, shown) = l.rows.iter().find(|(k, s)| k == row || s == row)?;
            Some((l, k.clone(), shown.clone()))
        })
    };
    let inputs = spec
        .claims
        .iter()
        .map(|cl| {
            let column = columns
                .iter()
                .find(|c| c.metric == cl.metric && (cl.column.is_none() || c.group == cl.column));
            let values = |row: &str| -> Option<Vec<claims::SeedValue>> {
                let (lay, key, _) = find(cl.section.as_deref(), row)?;
                match cell(&lay.key, &key, column?)? {
                    Cell::Values {
                        values,
                        seeds,
                        boot,
                        ..
                    } => Some(
                        seeds
                            .into_iter()
                            .zip(values)
                            .zip(boot)
                            .map(|((seed, value), val_bootstrap)| claims::SeedValue {
                                seed,
                                value,
                                val_bootstrap,
                            })
                            .collect(),
                    ),
                    Cell::Missing(_) => Some(Vec::new()),
                }
            };
            let paper_of = |row: &str| -> Option<&RefValue> {
                let (lay, _, shown) = find(cl.section.as_deref(), row)?;
                paper_value(&lay.header, &shown, column?)
            };
            // Numbers, or a printed difference ("+1.46%", ALWA) against a printed number.
            let paper = match (paper_of(&cl.row), paper_of(&cl.than)) {
                (Some(RefValue::Number(a)), Some(RefValue::Number(b))) => Some((*a, *b)),
                (Some(RefValue::Text(t)), Some(RefValue::Number(b))) => t
                    .trim()
                    .strip_suffix('%')
                    .and_then(|v| v.trim_start_matches('+').parse::<f64>().ok())
                    .map(|d| (b + if spec.percent { d } else { d / 100.0 }, *b)),
                _ => None,
            };
            claims::Input {
                row: values(&cl.row),
                than: values(&cl.than),
                paper,
            }
        })
        .collect();
    let claims = claims::decide(&spec.claims, inputs, spec.claims_level, &units);
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| default_title.to_string());
    let mut caption = caption::caption(
        &placed,
        spec,
        reference,
        plan.scale.as_deref(),
        &plan.overrides,
    );
    for found in [check.caption(&units), check.clipping()]
        .into_iter()
        .flatten()
    {
        caption = if caption.is_empty() {
            found
        } else {
            format!("{caption} {found}")
        };
    }
    Table {
        title: spec.title.clone().unwrap_or_else(|| name.clone()),
        caption,
        still_rising_note: check.note(),
        name,
        row_header: spec.row_header.clone(),
        columns,
        sections,
        has_reference: reference.is_some(),
        delta_scale: units.delta_scale().0,
        delta_unit: units.delta_scale().1,
        claims,
        text_claims: reference
            .map(|r| {
                r.text_claims
                    .iter()
                    .map(|c| super::text_claims::check(c, r))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Bold per `bold:`, on value rows only (delta rows were decided when made).
fn mark_bold(bold: Bold, rows: &mut [Row], means: &[RowMeans], columns: usize) {
    match bold {
        Bold::None => {}
        Bold::AboveBaseline => {
            for (i, ours, base) in means {
                for c in 0..columns {
                    if let (Some(o), Some(b)) = (ours[c], base[c]) {
                        rows[*i].cells[c].bold = o > b;
                    }
                }
            }
        }
        Bold::Best => {
            for c in 0..columns {
                let values: Vec<(usize, f64)> = means
                    .iter()
                    .filter_map(|(i, ours, _)| ours[c].map(|v| (*i, v)))
                    .collect();
                if values.len() < 2 {
                    continue;
                }
                let best = values.iter().map(|(_, v)| *v).fold(f64::MIN, f64::max);
                // All equal: nothing stands out.
                if values.iter().all(|(_, v)| *v == best) {
                    continue;
                }
                for (i, v) in values {
                    rows[i].cells[c].bold = v == best;
                }
            }
        }
    }
}
