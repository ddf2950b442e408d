//! How often gradient clipping acted, per cell, for a table's caption: from the count of
//! clipped iterations a job's `result.json` records (`train.clipped_iterations`). A result
//! without the count (an older build's, or the fake kind's) says nothing, and a cell where
//! clipping never acted is not named.

use crate::journal::JobResult;

/// The clipped iterations and the iterations of the results that record them; `None` when
/// none does.
pub fn clipped(results: &[&JobResult]) -> Option<(u64, u64)> {
    let counted: Vec<(u64, u64)> = results
        .iter()
        .filter_map(|r| {
            let t = r.train.as_ref()?;
            Some((t.clipped_iterations, t.iterations))
        })
        .collect();
    (!counted.is_empty()).then(|| {
        counted
            .iter()
            .fold((0, 0), |(c, n), (ci, ni)| (c + ci, n + ni))
    })
}

/// "Gradient clipping acted on 34% of iterations in L2 (Baseline), 2% in Full UGS." over the
/// cells (label, results) where it acted; `None` when it acted nowhere or nothing recorded it.
pub fn caption<'a>(
    cells: impl IntoIterator<Item = (&'a str, Vec<&'a JobResult>)>,
) -> Option<String> {
    let acted: Vec<String> = cells
        .into_iter()
        .filter_map(|(label, results)| {
            let (c, n) = clipped(&results)?;
            (c > 0 && n > 0).then(|| format!("{} in {label}", percent(c as f64 / n as f64)))
        })
        .collect();
    let (first, rest) = acted.split_first()?;
    let mut text = format!(
        "Gradient clipping acted on {}",
        first.replacen(" in ", " of iterations in ", 1)
    );
    for a in rest {
        text += &format!(", {a}");
    }
    Some(text + ".")
}

/// A share as a whole percent; "<1%" rather than "0%" when it did act.
fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p < 0.5 {
        "<1%".into()
    } else {
        format!("{p:.0}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn result(iterations: u64, clipped: Option<u64>) -> JobResult {
        JobResult {
            id: "j".into(),
            status: "done".into(),
            metrics: BTreeMap::new(),
            diverged_at: None,
            iterations,
            seconds: 0.0,
            device: String::new(),
            threads: 1,
            parameters: 0,
            finished_at: 0.0,
            val_bootstrap: None,
            progress: Vec::new(),
            extra: BTreeMap::new(),
            train: clipped.map(|clipped_iterations| crate::journal::TrainRecord {
                iterations,
                clipped_iterations,
            }),
            peak_gpu_memory_bytes: None,
        }
    }

    #[test]
    fn the_share_is_summed_over_seeds_and_only_cells_where_it_acted_are_named() {
        let (a, b) = (result(800, Some(272)), result(800, Some(272)));
        let (never, old) = (result(800, Some(0)), result(800, None));
        let tiny = result(800, Some(1));
        assert_eq!(clipped(&[&a, &old]), Some((272, 800)));
        assert_eq!(clipped(&[&old]), None);
        let text = caption([
            ("L2 (Baseline)", vec![&a, &b]),
            ("L_CE", vec![&never]),
            ("Full UGS", vec![&tiny, &never]),
            ("old", vec![&old]),
        ]);
        assert_eq!(
            text.as_deref(),
            Some("Gradient clipping acted on 34% of iterations in L2 (Baseline), <1% in Full UGS.")
        );
        assert_eq!(caption([("L_CE", vec![&never]), ("old", vec![&old])]), None);
    }

    #[test]
    fn the_count_is_read_from_result_json() {
        let json = r#"{"id": "j", "status": "done", "metrics": {}, "iterations": 100,
            "train": {"iterations": 100, "clipped_iterations": 25}, "from_a_later_build": 1}"#;
        let r: JobResult = serde_json::from_str(json).unwrap();
        assert_eq!(clipped(&[&r]), Some((25, 100)));
        // Kept through a rewrite, with the field this build does not know.
        let again: JobResult = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(again, r);
    }
}
