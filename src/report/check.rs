//! Checks of a table against the sweep's jobs, run by `sweep plan` and `sweep run` before any
//! training: every row, baseline and claim a table names must exist, and every cell must hold
//! one job per seed (else two configs would be averaged as if they were seeds).

use std::collections::HashMap;

use super::build::{layout, lookup, place};
use crate::plan::PlanFile;
use crate::spec::table::{Sections, TableReference, TableSpec};

/// Problems as `(key in the table, problem, allowed values)`.
pub fn check(
    plan: &PlanFile,
    spec: &TableSpec,
    reference: Option<&TableReference>,
) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    let configs: Vec<serde_json::Value> = plan
        .jobs
        .iter()
        .map(|j| serde_json::to_value(&j.config).unwrap_or_default())
        .collect();
    for (key, path) in spec.axes() {
        let null_filter = spec.filter.get(path).is_some_and(|w| w.0.is_null());
        if !null_filter && !configs.iter().any(|c| lookup(c, path).is_some()) {
            out.push((key, format!("no job's config has `{path}`"), None));
        }
    }
    if !out.is_empty() {
        return out;
    }
    let placed = place(plan, spec);
    let kept = plan
        .jobs
        .iter()
        .zip(&configs)
        .filter(|(_, c)| {
            spec.filter
                .iter()
                .all(|(path, want)| want.matches_at(lookup(c, path)))
        })
        .count();
    if placed.len() < kept {
        let axes: Vec<&str> = spec.axes().into_iter().map(|(_, p)| p).collect();
        out.push((
            "rows".into(),
            format!(
                "{} of the table's jobs have no value at one of {}: filter them out with `where`, or give the absent value a label (`labels: {{null: \"…\"}}`)",
                kept - placed.len(),
                axes.join(", ")
            ),
            None,
        ));
    }
    for (i, m) in spec.metrics.iter().enumerate() {
        let Some((_, perturbation)) = m.split_once('@') else {
            continue;
        };
        let missing = placed.iter().find(|p| {
            !p.job.config.eval.perturbations.iter().any(|q| {
                serde_json::to_value(q)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .as_deref()
                    == Some(perturbation)
            })
        });
        if let Some(p) = missing {
            out.push((
                format!("metrics[{i}]"),
                format!("job {} ({}) does not evaluate under `{perturbation}`: add it to `eval.perturbations`", p.job.id, p.row),
                None,
            ));
        }
    }
    if placed.is_empty() {
        out.push((
            "where".into(),
            "the table keeps none of the sweep's jobs".into(),
            None,
        ));
        return out;
    }
    let (layouts, groups) = layout(spec, &placed);
    let all_rows: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for p in &placed {
            if !v.contains(&p.row) {
                v.push(p.row.clone());
            }
        }
        v
    };
    let shown: Vec<&str> = layouts
        .iter()
        .flat_map(|l| l.rows.iter().flat_map(|(k, s)| [k.as_str(), s.as_str()]))
        .collect();
    let allowed_rows = Some(all_rows.join(", "));
    if let Some(Sections::Listed(list)) = &spec.sections {
        for (si, s) in list.iter().enumerate() {
            for (ri, r) in s.rows.iter().enumerate() {
                if !all_rows.iter().any(|a| a == r.row()) {
                    out.push((
                        format!("sections[{si}].rows[{ri}]"),
                        format!("no row `{}`", r.row()),
                        allowed_rows.clone(),
                    ));
                }
            }
        }
    }
    if let Some(b) = &spec.baseline {
        for name in b.names() {
            if !shown.contains(&name) {
                out.push((
                    "baseline".into(),
                    format!("no row `{name}`"),
                    allowed_rows.clone(),
                ));
            }
        }
    }
    let headers: Vec<String> = layouts.iter().filter_map(|l| l.header.clone()).collect();
    let group_names: Vec<String> = groups.iter().flatten().cloned().collect();
    for (i, c) in spec.claims.iter().enumerate() {
        for (k, name) in [("row", &c.row), ("than", &c.than)] {
            // The sub-tables holding this row (by key or shown label).
            let holding: Vec<&str> = layouts
                .iter()
                .filter(|l| l.rows.iter().any(|(key, s)| key == name || s == name))
                .map(|l| l.header.as_deref().unwrap_or(""))
                .collect();
            let problem = match &c.section {
                _ if holding.is_empty() => Some(format!("no row `{name}`")),
                Some(s) if !holding.contains(&s.as_str()) => {
                    Some(format!("no row `{name}` in sub-table `{s}`"))
                }
                None if holding.len() > 1 => Some(format!(
                    "`{name}` is in several sub-tables ({}): say which with `section`",
                    holding.join(", ")
                )),
                _ => None,
            };
            if let Some(problem) = problem {
                out.push((format!("claims[{i}].{k}"), problem, allowed_rows.clone()));
            }
        }
        match (&c.column, group_names.is_empty()) {
            (Some(g), _) if !group_names.contains(g) => out.push((
                format!("claims[{i}].column"),
                format!("no column group `{g}`"),
                Some(group_names.join(", ")),
            )),
            (None, false) => out.push((
                format!("claims[{i}]"),
                "the table has column groups: say which with `column`".into(),
                Some(group_names.join(", ")),
            )),
            _ => {}
        }
        match &c.section {
            Some(s) if !headers.contains(s) => out.push((
                format!("claims[{i}].section"),
                format!("no section `{s}`"),
                Some(headers.join(", ")),
            )),
            _ => {}
        }
    }
    // A reduced run (`--set`) may relabel rows; the reference is checked on the spec as written.
    if let Some(r) = reference.filter(|_| plan.overrides.is_empty()) {
        check_reference(spec, r, &layouts, &groups, &mut out);
    }
    // One job per seed in every cell.
    let mut cells: HashMap<(&str, &str, Option<&str>, u64), usize> = HashMap::new();
    for (i, p) in placed.iter().enumerate() {
        let key = (
            p.section.as_str(),
            p.row.as_str(),
            p.group.as_deref(),
            p.job.seed,
        );
        match cells.get(&key) {
            Some(&j) if placed[j].job.id != p.job.id => {
                let differ = first_difference(
                    &serde_json::to_value(&placed[j].job.config).unwrap_or_default(),
                    &serde_json::to_value(&p.job.config).unwrap_or_default(),
                    "",
                );
                out.push((
                    "rows".into(),
                    format!(
                        "row `{}` would average two different jobs of seed {} ({} and {}, which differ in `{}`): make `rows`, `columns` or `sections` tell them apart, or filter with `where`",
                        p.row, p.job.seed, placed[j].job.id, p.job.id, differ
                    ),
                    None,
                ));
                break;
            }
            Some(_) => {}
            None => {
                cells.insert(key, i);
            }
        }
    }
    out
}

/// Every row and column key of the reference file must name a cell of the table: a typo
/// would otherwise show as a silent "–".
fn check_reference(
    spec: &TableSpec,
    r: &TableReference,
    layouts: &[super::build::Layout],
    groups: &[Option<String>],
    out: &mut Vec<(String, String, Option<String>)>,
) {
    let file = spec.reference.as_deref().unwrap_or("the reference file");
    let mut rows: Vec<String> = Vec::new();
    for l in layouts {
        for (_, label) in &l.rows {
            rows.extend(match &l.header {
                Some(h) => [
                    format!("{h}/{label}"),
                    format!("{h}/{label}/{}", spec.delta_label),
                ],
                None => [label.clone(), format!("{label}/{}", spec.delta_label)],
            });
        }
    }
    let columns: Vec<String> = groups
        .iter()
        .flat_map(|g| {
            spec.metrics.iter().map(move |m| match g {
                Some(g) if spec.metrics.len() == 1 => g.clone(),
                Some(g) => format!("{g}/{m}"),
                None => m.clone(),
            })
        })
        .collect();
    for (i, c) in r.text_claims.iter().enumerate() {
        let at = format!("{file}: text_claims[{i}]");
        if c.mean_of.is_some() == c.difference.is_some() {
            out.push((
                "reference".into(),
                format!(
                    "{at}: say what the paper's cells give with one of `mean_of` or `difference`"
                ),
                Some(
                    "mean_of: {rows: [...], columns: [...]}, difference: {row, than, column}"
                        .into(),
                ),
            ));
        }
        for (row, col) in super::text_claims::cells(c) {
            match r.rows.get(&row).and_then(|cells| cells.get(&col)) {
                Some(v) if super::text_claims::number(v).is_some() => {}
                Some(_) => out.push((
                    "reference".into(),
                    format!("{at}: row `{row}`, column `{col}` is not a number"),
                    None,
                )),
                None => out.push((
                    "reference".into(),
                    format!("{at}: no cell at row `{row}`, column `{col}` in the reference file"),
                    Some(r.rows.keys().cloned().collect::<Vec<_>>().join(", ")),
                )),
            }
        }
    }
    for (row, cells) in &r.rows {
        if !rows.contains(row) {
            let shown: Vec<String> = layouts
                .iter()
                .flat_map(|l| {
                    l.rows.iter().map(move |(_, s)| match &l.header {
                        Some(h) => format!("{h}/{s}"),
                        None => s.clone(),
                    })
                })
                .collect();
            out.push((
                "reference".into(),
                format!("{file}: row `{row}` is not a row of this table (inside sub-tables write `<sub-table header>/<row>`)"),
                Some(shown.join(", ")),
            ));
        }
        for col in cells.keys() {
            if !columns.contains(col) {
                out.push((
                    "reference".into(),
                    format!("{file}: row `{row}`: column `{col}` is not a column of this table"),
                    Some(columns.join(", ")),
                ));
            }
        }
    }
}

/// The first dotted path where two configs differ.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> String {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            for (k, va) in x {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match y.get(k) {
                    Some(vb) if vb == va => {}
                    Some(vb) => return first_difference(va, vb, &path),
                    None => return path,
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| {
                    if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    }
                })
                .unwrap_or_else(|| at.to_string())
        }
        _ => at.to_string(),
    }
}
