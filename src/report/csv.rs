//! CSV: one line per table row (delta rows included), per column our mean, std, seed count
//! and the paper's value, in the table's units; a `section` column when there are sub-tables;
//! last, the row's status and its convergence check (`still_rising`).

use super::Table;

pub fn render(t: &Table) -> String {
    let sections = t.sections.iter().any(|s| s.header.is_some());
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let mut header = Vec::new();
    if sections {
        header.push("section".to_string());
    }
    header.push(t.row_header.clone());
    for c in &t.columns {
        let h = &c.key;
        header.extend([
            h.clone(),
            format!("{h}_std"),
            format!("{h}_seeds"),
            format!("{h}_paper"),
        ]);
    }
    header.push("status".into());
    header.push("still_rising".into());
    w.write_record(&header)
        .expect("writing to memory cannot fail");
    for section in &t.sections {
        for row in &section.rows {
            let mut rec = Vec::new();
            if sections {
                rec.push(section.header.clone().unwrap_or_default());
            }
            rec.push(row.label.clone());
            let mut status = "ok";
            for (cell, paper) in row.cells.iter().zip(&row.paper) {
                rec.extend([cell.mean.clone(), cell.std.clone(), cell.seeds.clone()]);
                rec.push(paper.clone().unwrap_or_default());
                if status == "ok" && cell.status != "ok" {
                    status = &cell.status;
                }
            }
            rec.push(status.to_string());
            rec.push(still_rising(t, &row.cells));
            w.write_record(&rec).expect("writing to memory cannot fail");
        }
    }
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("csv of UTF-8 fields")
}

/// A row's convergence check ([`super::convergence`]): "yes" or "no" (with column groups, the
/// groups still rising, or "no"), empty when no cell of the row was judged.
fn still_rising(t: &Table, cells: &[super::Shown]) -> String {
    let judged: Vec<(Option<&str>, bool)> = cells
        .iter()
        .zip(&t.columns)
        .filter_map(|(cell, c)| Some((c.group.as_deref(), cell.still_rising?)))
        .collect();
    let rising: Vec<&str> = judged
        .iter()
        .filter(|(_, r)| *r)
        .map(|(g, _)| g.unwrap_or("yes"))
        .collect();
    match (judged.is_empty(), rising.is_empty()) {
        (true, _) => String::new(),
        (false, true) => "no".into(),
        (false, false) => rising.join("; "),
    }
}

/// The claims of a table, one line each with every number behind the verdict, in raw metric
/// units (0.235, not 23.5) at full precision; None when the table has no claims.
pub fn claims(t: &Table) -> Option<String> {
    if t.claims.is_empty() {
        return None;
    }
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let header = [
        "row",
        "than",
        "metric",
        "column",
        "section",
        "level",
        "verdict",
        "test",
        "seeds",
        "than_seeds",
        "diff",
        "ci_low",
        "ci_high",
        "se",
        "df",
        "t",
        "p",
        "holm_p",
        "holm_claims",
        "paper_diff",
        "paper_in_ci",
    ];
    w.write_record(header)
        .expect("writing to memory cannot fail");
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for c in &t.claims {
        let test = c.test.as_ref();
        let count = |v: &Option<Vec<super::SeedValue>>| v.as_ref().map_or(0, Vec::len);
        let verdict = serde_json::to_value(c.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let rec = [
            c.row.clone(),
            c.than.clone(),
            c.metric.clone(),
            c.column.clone().unwrap_or_default(),
            c.section.clone().unwrap_or_default(),
            c.level.to_string(),
            verdict,
            test.map(|t| t.kind.name().to_string()).unwrap_or_default(),
            count(&c.values).to_string(),
            count(&c.than_values).to_string(),
            num(c.diff),
            num(test.map(|t| t.ci.0)),
            num(test.map(|t| t.ci.1)),
            num(test.map(|t| t.se)),
            num(test.map(|t| t.df)),
            num(test.map(|t| t.t)),
            num(test.map(|t| t.p)),
            num(c.holm_p),
            c.holm_claims.to_string(),
            num(c.paper_diff),
            c.paper_in_ci.map(|b| b.to_string()).unwrap_or_default(),
        ];
        w.write_record(&rec).expect("writing to memory cannot fail");
    }
    Some(String::from_utf8(w.into_inner().expect("flush to memory")).expect("csv of UTF-8 fields"))
}
