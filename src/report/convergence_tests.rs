//! The still-rising rule against hand-computed cases: rising, flat, falling, one seed, and
//! results without progress (written before `eval.at`).

use super::*;
use crate::journal::EvalPoint;
use crate::spec::table::DeltaFormat;
use std::collections::BTreeMap;

fn ends(pairs: &[(f64, f64)]) -> Vec<SeedEnds> {
    pairs
        .iter()
        .map(|&(at_three_quarters, last)| SeedEnds {
            at_three_quarters,
            last,
        })
        .collect()
}

/// A finished job of `iterations` whose AP was `at` at each progress point and `last` at the end.
fn result(iterations: u64, points: &[(u64, f64)], last: f64) -> JobResult {
    let ap = |v: f64| BTreeMap::from([("AP".to_string(), v), ("APl".to_string(), -1.0)]);
    let mut progress: Vec<EvalPoint> = points
        .iter()
        .map(|&(iteration, v)| EvalPoint {
            iteration,
            metrics: ap(v),
        })
        .collect();
    if !points.is_empty() {
        progress.push(EvalPoint {
            iteration: iterations,
            metrics: ap(last),
        });
    }
    JobResult {
        id: "j".into(),
        status: "done".into(),
        metrics: ap(last),
        diverged_at: None,
        iterations,
        seconds: 0.0,
        device: String::new(),
        threads: 1,
        parameters: 0,
        finished_at: 0.0,
        train: None,
        peak_gpu_memory_bytes: None,
        val_bootstrap: None,
        progress,
        extra: BTreeMap::new(),
    }
}

#[test]
fn rising_when_the_mean_rise_exceeds_the_final_values_std() {
    // Rises 0.04, 0.05, 0.03 (mean 0.04); finals 0.30, 0.31, 0.29 (sample std 0.01).
    let c = judge(&ends(&[(0.26, 0.30), (0.26, 0.31), (0.26, 0.29)]));
    assert_eq!(c.verdict, Verdict::Rising);
    assert!((c.rise.unwrap() - 0.04).abs() < 1e-12);
    assert!((c.spread.unwrap() - 0.01).abs() < 1e-12);
    assert_eq!(c.seeds, 3);
}

#[test]
fn flat_or_within_the_spread_is_settled() {
    // Mean rise 0.005 against a std of 0.01.
    let c = judge(&ends(&[(0.295, 0.30), (0.305, 0.31), (0.285, 0.29)]));
    assert_eq!(c.verdict, Verdict::Settled);
    // Falling.
    let c = judge(&ends(&[(0.32, 0.30), (0.33, 0.31)]));
    assert_eq!(c.verdict, Verdict::Settled);
    assert!(c.rise.unwrap() < 0.0);
    // The spread, not the size, decides: a rise of 0.01 is rising against finals 0.31, 0.30
    // (std 0.00707), not against 0.32, 0.30 (std 0.01414).
    let c = judge(&ends(&[(0.30, 0.31), (0.29, 0.30)]));
    assert_eq!(c.verdict, Verdict::Rising);
    let c = judge(&ends(&[(0.31, 0.32), (0.29, 0.30)]));
    assert_eq!(c.verdict, Verdict::Settled);
    let c = judge(&ends(&[(0.30, 0.30), (0.30, 0.30)]));
    assert_eq!(c.verdict, Verdict::Settled, "no rise, no spread");
}

#[test]
fn one_seed_is_not_judged_but_keeps_its_rise() {
    let c = judge(&ends(&[(0.20, 0.30)]));
    assert_eq!(c.verdict, Verdict::OneSeed);
    assert!((c.rise.unwrap() - 0.10).abs() < 1e-12);
    assert_eq!(c.spread, None);
}

#[test]
fn results_without_progress_are_unknown_and_leave_the_caption_alone() {
    let old = result(800, &[], 0.3);
    let mut pending = result(800, &[], 0.3);
    pending.status = "diverged".into();
    assert_eq!(last_quarter(&old, "AP"), None);
    assert_eq!(of_results(&[&old, &old], "AP").verdict, Verdict::Unknown);
    let mut t = TableCheck::new(&["AP".to_string()]);
    let key = |r: &str| (String::new(), r.to_string(), None);
    assert!(t.cell(key("a"), "a".into(), &[&old]).is_some());
    let units = Units {
        percent: true,
        decimals: 1,
        delta: DeltaFormat::Value,
    };
    assert_eq!(t.caption(&units), None);
    assert_eq!(t.note(), None);
    // A cell with no finished job is not a cell judged.
    assert!(t.cell(key("b"), "b".into(), &[&pending]).is_none());
}

#[test]
fn the_point_at_three_quarters_is_the_one_taken_there() {
    let r = result(800, &[(400, 0.10), (600, 0.20)], 0.25);
    assert_eq!(
        last_quarter(&r, "AP"),
        Some(SeedEnds {
            at_three_quarters: 0.20,
            last: 0.25
        })
    );
    // `eval.at: [0.5, 1]`: no evaluation at 75%, no verdict (a rise over the last half says
    // nothing of the last quarter).
    let half = result(800, &[(400, 0.10)], 0.25);
    assert_eq!(last_quarter(&half, "AP"), None);
    // The same rounding as the trainer's: 0.75 × 30 = 22.5 → 23.
    let short = result(30, &[(15, 0.1), (23, 0.2)], 0.3);
    assert!(last_quarter(&short, "AP").is_some());
    // COCO's −1 is not a score.
    assert_eq!(last_quarter(&r, "APl"), None);
    assert_eq!(
        metric_of(&["AP50@black_patch".into(), "AP50".into()]),
        "AP50"
    );
    assert_eq!(metric_of(&["AP50@black_patch".into()]), "AP");
}

#[test]
fn the_caption_names_the_rising_cells_and_the_one_seed_cells_rises() {
    let units = Units {
        percent: true,
        decimals: 1,
        delta: DeltaFormat::Value,
    };
    let key = |r: &str| (String::new(), r.to_string(), None);
    let rising = [
        result(800, &[(600, 0.26)], 0.30),
        result(800, &[(600, 0.26)], 0.31),
        result(800, &[(600, 0.26)], 0.29),
    ];
    let flat = [
        result(800, &[(600, 0.30)], 0.30),
        result(800, &[(600, 0.31)], 0.31),
    ];
    let mut t = TableCheck::new(&["AP".to_string(), "AP50".to_string()]);
    let c = t
        .cell(key("L2"), "L2".into(), &rising.iter().collect::<Vec<_>>())
        .unwrap();
    assert_eq!(c.verdict, Verdict::Rising);
    t.cell(key("GIoU"), "GIoU".into(), &flat.iter().collect::<Vec<_>>());
    // Shown twice (listed sub-tables): judged once.
    t.cell(
        key("GIoU"),
        "GIoU again".into(),
        &flat.iter().collect::<Vec<_>>(),
    );
    assert_eq!(
        t.caption(&units).unwrap(),
        "Still rising (†) in 1 of 2 cells judged: the mean AP over seeds rose from the \
         evaluation at 75% of the schedule to the end by more than its std over seeds in L2 \
         (+4.0 vs std 1.0)."
    );
    assert!(t.note().unwrap().starts_with("† still rising: the mean AP"));

    let singles = [
        result(800, &[(600, 0.20)], 0.25),
        result(800, &[(600, 0.30)], 0.29),
        result(800, &[], 0.29),
    ];
    let mut one = TableCheck::new(&["AP".to_string()]);
    for (r, name) in singles.iter().zip(["a", "b", "c"]) {
        one.cell(key(name), name.into(), &[r]);
    }
    assert_eq!(
        one.caption(&units).unwrap(),
        "2 cells with one seed are not judged (no spread over seeds): from 75% of the \
         schedule to the end their AP changed by -1.0 to +5.0 (most in a). 1 cell has no \
         evaluation at 75% of the schedule and is not judged."
    );
    assert_eq!(one.note(), None, "nothing is marked");
}
