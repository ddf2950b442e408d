//! Claim lines: "row > than on metric", decided from our seeds, never asserted.

use super::Units;
use crate::spec::table::ClaimSpec;

/// The line for one claim. `ours`/`than` are the per-seed values of the two cells (None: no
/// such cell), `paper` the paper's two numbers when it prints both.
pub(crate) fn line(
    claim: &ClaimSpec,
    ours: Option<Vec<f64>>,
    than: Option<Vec<f64>>,
    paper: Option<(f64, f64)>,
    units: &Units,
) -> String {
    let mut what = format!("{} > {} on {}", claim.row, claim.than, claim.metric);
    if let Some(c) = &claim.column {
        what = format!("{what} ({c})");
    }
    if let Some(s) = &claim.section {
        what = format!("{what} [{s}]");
    }
    let paper = paper
        .map(|(a, b)| format!(" (paper: {})", units.paper_delta(a - b)))
        .unwrap_or_default();
    let (a, b) = match (ours, than) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => (a, b),
        (None, _) | (_, None) => return format!("{what}: no such cell{paper}"),
        _ => return format!("{what}: not yet (results missing){paper}"),
    };
    let (ma, va) = mean_var(&a);
    let (mb, vb) = mean_var(&b);
    let d = ma - mb;
    // Standard error of the difference of two means (Welch); unknown with one seed on a side.
    let se = match (va, vb) {
        (Some(va), Some(vb)) => Some((va / a.len() as f64 + vb / b.len() as f64).sqrt()),
        _ => None,
    };
    let verdict: &str = match se {
        None => "unclear (one seed: no spread to judge by)",
        // Two standard errors apart, either way, before we call it.
        Some(se) if d >= 2.0 * se && d > 0.0 => "yes",
        Some(se) if d <= -2.0 * se && d < 0.0 => "no",
        Some(_) => "unclear (within the seed spread)",
    };
    let spread = se
        .map(|s| format!(" ± {}", units.delta(s).trim_start_matches('+')))
        .unwrap_or_default();
    format!("{what}: {verdict}, {}{spread}{paper}", units.delta(d))
}

/// Mean and sample variance (None below two values).
fn mean_var(v: &[f64]) -> (f64, Option<f64>) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = (v.len() >= 2).then(|| v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0));
    (m, var)
}
