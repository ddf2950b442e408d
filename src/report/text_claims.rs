//! The paper's words against the paper's own table: a sentence's stated number beside what the
//! paper's printed cells give (a mean of cells or a difference of two), and whether they agree.

use serde::Serialize;

use crate::spec::table::{RefValue, TableReference, TextClaim};

/// One sentence checked against the paper's cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextCheck {
    /// The line as printed under the table.
    pub text: String,
    pub quote: String,
    pub place: Option<String>,
    pub stated: f64,
    /// What the paper's cells give (None: a cell is missing or not a number).
    pub computed: Option<f64>,
    /// How many cells went into `computed`.
    pub cells: usize,
    pub tolerance: f64,
    pub agrees: Option<bool>,
}

/// A printed cell as a number: 0.7517, or text such as "+0.82%" or "-0.09%" (the sign and a
/// trailing % dropped; the number stays in the units it is printed in).
pub(crate) fn number(v: &RefValue) -> Option<f64> {
    match v {
        RefValue::Number(x) => Some(*x),
        RefValue::Text(t) => t
            .trim()
            .trim_end_matches('%')
            .trim_start_matches('+')
            .trim()
            .parse()
            .ok(),
    }
}

/// The (row, column) cells a claim reads, in order; for a difference, row then than.
pub(crate) fn cells(c: &TextClaim) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(m) = &c.mean_of {
        for r in &m.rows {
            for col in &m.columns {
                out.push((r.clone(), col.clone()));
            }
        }
    }
    if let Some(d) = &c.difference {
        out.push((d.row.clone(), d.column.clone()));
        out.push((d.than.clone(), d.column.clone()));
    }
    out
}

pub(crate) fn check(c: &TextClaim, r: &TableReference) -> TextCheck {
    let values: Option<Vec<f64>> = cells(c)
        .iter()
        .map(|(row, col)| number(r.rows.get(row)?.get(col)?))
        .collect();
    let computed = values
        .as_ref()
        .and_then(|v| match (&c.mean_of, &c.difference) {
            (Some(_), None) if !v.is_empty() => Some(crate::stats::mean(v)),
            (None, Some(_)) => Some(v[0] - v[1]),
            _ => None,
        });
    let tolerance = c.tolerance.unwrap_or(0.05 * c.stated.abs());
    let agrees = computed.map(|x| (x - c.stated).abs() <= tolerance + 1e-12);
    let place = c
        .place
        .as_ref()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    let how = match (&c.mean_of, values.as_ref()) {
        (Some(_), Some(v)) => format!("mean of {} cells", v.len()),
        _ => "difference of two cells".to_string(),
    };
    let verdict = match (computed, agrees) {
        (Some(x), Some(true)) => format!("its own table gives {x:+.2} ({how}): they agree"),
        (Some(x), _) => format!("its own table gives {x:+.2} ({how}): they disagree"),
        (None, _) => "its own table's cells are missing".to_string(),
    };
    TextCheck {
        text: format!(
            "Paper's text{place}: \"{}\" states {:+.2}; {verdict}",
            c.quote, c.stated
        ),
        quote: c.quote.clone(),
        place: c.place.clone(),
        stated: c.stated,
        computed,
        cells: values.map_or(0, |v| v.len()),
        tolerance,
        agrees,
    }
}
