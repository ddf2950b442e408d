//! Tests on tiny fake sweep directories. They check outputs by parsing the
//! SVG text and the PNG header, so they fail if aggregation or drawing breaks.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::*;

/// Writes `plan.json` for (id, row, seed, config) entries.
fn write_plan(dir: &Path, jobs: &[(&str, &str, i64, Value)]) {
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|(id, row, seed, config)| {
            json!({"id": id, "row": row, "variant": row, "seed": seed, "config": config,
                   "depends_on": [], "placement": {"device": "cpu"}})
        })
        .collect();
    let plan = json!({"spec": "fake", "scale": null, "overrides": [], "jobs": jobs});
    fs::write(dir.join("plan.json"), plan.to_string()).expect("write plan");
}

fn write_file(dir: &Path, id: &str, name: &str, text: &str) {
    let d = dir.join("jobs").join(id);
    fs::create_dir_all(&d).expect("mkdir job");
    fs::write(d.join(name), text).expect("write job file");
}

fn write_result(dir: &Path, id: &str, status: &str, ap: f64) {
    let metrics = json!({"AP": ap, "AP50": ap + 0.2, "AP75": ap, "APs": -1.0});
    let r = json!({"id": id, "status": status, "metrics": metrics, "iterations": 10});
    write_file(dir, id, "result.json", &r.to_string());
}

/// curves.csv with `iters` rows; loss = base/(1+i), weights optionally changing.
fn write_curves(dir: &Path, id: &str, iters: &[u32], base: f64, weights: Option<bool>) {
    let mut s = String::from("iteration,lr,total,cls,reg,ctr");
    if weights.is_some() {
        s.push_str(",w_cls,w_reg");
    }
    s.push_str(",images_per_sec\n");
    for (k, it) in iters.iter().enumerate() {
        let t = base / (1.0 + k as f64);
        s.push_str(&format!("{it},0.01,{t},{},{},0.5", t * 0.4, t * 0.6));
        match weights {
            Some(true) => s.push_str(&format!(
                ",{},{}",
                1.0 + 0.1 * k as f64,
                1.0 - 0.05 * k as f64
            )),
            Some(false) => s.push_str(",1.0,1.0"),
            None => {}
        }
        s.push_str(",100\n");
    }
    write_file(dir, id, "curves.csv", &s);
}

fn config(lambda: Option<f64>, kind: &str, seed: i64) -> Value {
    let mut reg = json!({"kind": kind});
    if let Some(l) = lambda {
        reg["lambda"] = json!(l);
    }
    json!({"dataset": {"kind": "synthetic", "seed": seed, "image_size": 128},
           "train": {"seed": seed, "lr": 0.01, "lr_steps": [0.75, 0.9]},
           "loss": {"reg": reg, "weights": {"cls": 1.0, "reg": 1.0}}})
}

fn names(files: &[PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).expect("read svg")
}

/// Parsed `points` of every `<polyline>` in an SVG.
fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|el| {
            let start = el.find("points=\"")? + 8;
            let end = start + el[start..].find('"')?;
            Some(
                el[start..end]
                    .split_whitespace()
                    .filter_map(|p| {
                        let (x, y) = p.split_once(',')?;
                        Some((x.parse().ok()?, y.parse().ok()?))
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Error bars are drawn as 6-vertex paths: top cap, stem, bottom cap.
fn count_error_bars(svg: &str) -> usize {
    polylines(svg)
        .iter()
        .filter(|p| {
            p.len() == 6
                && p[0].1 == p[1].1
                && p[1].1 == p[2].1
                && p[3].1 == p[4].1
                && p[4].1 == p[5].1
                && p[2].0 == p[3].0
                && p[0].0 < p[1].0
        })
        .count()
}

fn png_size(path: &Path) -> (u32, u32) {
    let b = fs::read(path).expect("read png");
    assert!(b.len() > 24, "png too short");
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&b[12..16], b"IHDR");
    let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
    (w, h)
}

/// Two rows x two seeds with ALWA-style changing weights.
fn curves_sweep(dir: &Path, changing: Option<bool>) {
    write_plan(
        dir,
        &[
            ("a0", "Row A", 0, config(None, "l2", 0)),
            ("a1", "Row A", 1, config(None, "l2", 1)),
            ("b0", "Row B", 0, config(None, "giou", 0)),
            ("b1", "Row B", 1, config(None, "giou", 1)),
        ],
    );
    for (id, base) in [("a0", 10.0), ("a1", 12.0), ("b0", 8.0), ("b1", 9.0)] {
        write_curves(dir, id, &[10, 20, 30, 40, 50], base, changing);
    }
}

#[test]
fn curve_and_weight_figures_exist_with_labels_and_points() {
    let tmp = tempfile::tempdir().expect("tempdir");
    curves_sweep(tmp.path(), Some(true));
    let files = write_plots(tmp.path()).expect("plots");
    let expected = [
        "curves_cls.png",
        "curves_cls.svg",
        "curves_reg.png",
        "curves_reg.svg",
        "curves_total.png",
        "curves_total.svg",
        "weights.png",
        "weights.svg",
    ];
    assert_eq!(names(&files), expected);
    for f in &files {
        assert!(f.is_file(), "{} missing", f.display());
        assert_eq!(f.parent(), Some(tmp.path().join("plots").as_path()));
    }
    let svg = read(&tmp.path().join("plots/curves_total.svg"));
    assert!(
        svg.contains("Row A") && svg.contains("Row B"),
        "labels in svg"
    );
    // One mean line per row with one vertex per iteration.
    let lines5 = polylines(&svg).iter().filter(|p| p.len() == 5).count();
    assert_eq!(lines5, 2);
    // Min/max band per row (seeds differ).
    assert_eq!(svg.matches("<polygon").count(), 2);
    // Weights: two panels (w_cls, w_reg), each with one line per row.
    let w = read(&tmp.path().join("plots/weights.svg"));
    assert!(w.contains("w_cls") && w.contains("w_reg"));
    assert_eq!(polylines(&w).iter().filter(|p| p.len() == 5).count(), 4);
    // Atomic writes leave no temp files behind.
    let leftovers: Vec<_> = fs::read_dir(tmp.path().join("plots"))
        .expect("read plots")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn weights_figure_only_for_changing_weights() {
    for changing in [Some(false), None] {
        let tmp = tempfile::tempdir().expect("tempdir");
        curves_sweep(tmp.path(), changing);
        let files = write_plots(tmp.path()).expect("plots");
        assert!(files.iter().any(|f| f.ends_with("curves_total.svg")));
        assert!(
            !tmp.path().join("plots/weights.svg").exists(),
            "{changing:?}"
        );
        assert!(
            !tmp.path().join("plots/weights.png").exists(),
            "{changing:?}"
        );
    }
}

#[test]
fn row_curve_averages_seeds_and_tolerates_partial_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_plan(
        dir,
        &[
            ("a0", "A", 0, config(None, "l2", 0)),
            ("a1", "A", 1, config(None, "l2", 1)),
        ],
    );
    write_curves(dir, "a0", &[10, 20, 30], 6.0, None);
    // Seed 1 is still running: two full lines and a half-written one.
    write_file(
        dir,
        "a1",
        "curves.csv",
        "iteration,lr,total,cls,reg,ctr,images_per_sec\n10,0.01,2,1,1,0.5,9\n20,0.01,nan,1,1,0.5,9\n30,0.0",
    );
    let sweep = Sweep::load(dir).expect("load");
    let c = sweep.row_curve("A", "total");
    let its: Vec<f64> = c.iter().map(|p| p.iteration).collect();
    assert_eq!(its, [10.0, 20.0, 30.0]);
    assert_eq!((c[0].mean, c[0].min, c[0].max, c[0].n), (4.0, 2.0, 6.0, 2));
    // NaN is dropped, the truncated line is skipped.
    assert_eq!((c[1].mean, c[1].n), (3.0, 1));
    assert_eq!((c[2].mean, c[2].n), (2.0, 1));
    assert!(sweep.row_curve("A", "no_such_column").is_empty());
}

#[test]
fn swept_axes_are_exactly_the_varying_paths_without_seeds() {
    let mut jobs = Vec::new();
    for (i, (lambda, kind, lr, flag)) in [
        (0.5, "ugs", 0.01, true),
        (1.0, "ugs", 0.02, false),
        (2.0, "l2", 0.01, true),
    ]
    .into_iter()
    .enumerate()
    {
        for seed in 0..2 {
            let mut cfg = config(Some(lambda), kind, seed);
            cfg["train"]["lr"] = json!(lr);
            cfg["loss"]["reg"]["in_labels"] = json!(flag);
            // Derived from the seed only: must not count as a swept axis.
            cfg["model"] = json!({"init": {"rng": 100 + seed}, "width": 32});
            // 1 and 1.0 are the same setting.
            cfg["loss"]["weights"]["cls"] = if seed == 0 { json!(1) } else { json!(1.0) };
            jobs.push(PlanJob {
                id: format!("j{i}{seed}"),
                row: Some(format!("row{i}")),
                variant: None,
                seed: Some(json!(seed)),
                config: cfg,
            });
        }
    }
    let axes = swept_axes(&jobs);
    let found: Vec<(String, bool)> = axes.iter().map(|a| (a.dotted(), a.numeric)).collect();
    assert_eq!(
        found,
        [
            ("loss.reg.in_labels".to_string(), false),
            ("loss.reg.kind".to_string(), false),
            ("loss.reg.lambda".to_string(), true),
            ("train.lr".to_string(), true),
        ]
    );
    // Only numeric axes get metric figures.
    assert_eq!(axis_file_name(&axes[2].path), "loss_reg_lambda");
}

/// Sweep of loss.reg.lambda in {0.1, 1, 10} x kind {a, b} x seeds {0, 1}.
/// Job b/10/seed1 has no result, so (b, 10) has one seed and no error bar.
fn lambda_sweep(dir: &Path) {
    let mut plan = Vec::new();
    for kind in ["a", "b"] {
        for lambda in [0.1f64, 1.0, 10.0] {
            for seed in 0..2 {
                let id = format!("{kind}{}s{seed}", (lambda * 10.0) as i64);
                let row = format!("{kind} λ={lambda}");
                let ap = if kind == "a" { 0.30 } else { 0.20 }
                    + 0.01 * lambda.log10()
                    + 0.02 * seed as f64;
                if !(kind == "b" && lambda == 10.0 && seed == 1) {
                    write_result(dir, &id, "done", ap);
                }
                plan.push((id, row, seed, config(Some(lambda), kind, seed)));
            }
        }
    }
    // The same config listed again under another row must not count twice.
    plan.push((
        "a1s0".into(),
        "duplicate row".into(),
        0,
        config(Some(0.1), "a", 0),
    ));
    let refs: Vec<(&str, &str, i64, Value)> = plan
        .iter()
        .map(|(i, r, s, c)| (i.as_str(), r.as_str(), *s, c.clone()))
        .collect();
    write_plan(dir, &refs);
}

#[test]
fn metric_vs_axis_points_error_bars_and_stats() {
    let tmp = tempfile::tempdir().expect("tempdir");
    lambda_sweep(tmp.path());
    let files = write_plots(tmp.path()).expect("plots");
    let n = names(&files);
    assert_eq!(
        n,
        [
            "ap50_vs_loss_reg_lambda.png",
            "ap50_vs_loss_reg_lambda.svg",
            "ap_vs_loss_reg_lambda.png",
            "ap_vs_loss_reg_lambda.svg"
        ]
    );
    let svg = read(&tmp.path().join("plots/ap_vs_loss_reg_lambda.svg"));
    assert!(
        svg.contains("kind=a") && svg.contains("kind=b"),
        "series labels"
    );
    assert_eq!(
        svg.matches("<circle").count(),
        6,
        "one marker per (series, x)"
    );
    assert_eq!(count_error_bars(&svg), 5, "no error bar for a single seed");

    let sweep = Sweep::load(tmp.path()).expect("load");
    let axes = swept_axes(&sweep.plan.jobs);
    let lambda = axes
        .iter()
        .find(|a| a.dotted() == "loss.reg.lambda")
        .expect("lambda axis");
    let series = metric_vs_axis(&sweep, &axes, lambda, "AP", 100.0);
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].label, "kind=a");
    let p = series[0].points[0];
    assert_eq!((p.x, p.n), (0.1, 2));
    // AP 0.29 and 0.31 (x100): mean 30, sample std sqrt(2).
    assert!((p.mean - 30.0).abs() < 1e-9, "mean {}", p.mean);
    assert!((p.std - 2f64.sqrt()).abs() < 1e-9, "std {}", p.std);
    let last = series[1].points[2];
    assert_eq!((last.x, last.n, last.std), (10.0, 1, 0.0));
    // Log x-axis for a 100x span: tick labels are original values in decades.
    assert!(wants_log(series[0].points.iter().map(|p| p.x)));
}

#[test]
fn non_numeric_axes_get_no_figure_and_too_many_series_are_skipped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // 7 values of a string path x 2 lambdas: the lambda figure would need 7 series.
    let mut plan = Vec::new();
    for k in 0..7 {
        for lambda in [1.0, 2.0] {
            let id = format!("k{k}l{lambda}");
            write_result(dir, &id, "done", 0.1 * lambda);
            plan.push((
                id,
                format!("row{k}"),
                0,
                config(Some(lambda), &format!("kind{k}"), 0),
            ));
        }
    }
    let refs: Vec<(&str, &str, i64, Value)> = plan
        .iter()
        .map(|(i, r, s, c)| (i.as_str(), r.as_str(), *s, c.clone()))
        .collect();
    write_plan(dir, &refs);
    let files = write_plots(dir).expect("plots");
    assert!(files.is_empty(), "unexpected {:?}", names(&files));

    // With 6 kinds the figure is drawn, and still nothing for the string axis.
    let tmp2 = tempfile::tempdir().expect("tempdir");
    let six: Vec<(&str, &str, i64, Value)> = refs[..12].to_vec();
    write_plan(tmp2.path(), &six);
    for (id, ..) in &six {
        write_result(tmp2.path(), id, "done", 0.2);
    }
    let files = names(&write_plots(tmp2.path()).expect("plots"));
    assert_eq!(
        files,
        [
            "ap50_vs_loss_reg_lambda.png",
            "ap50_vs_loss_reg_lambda.svg",
            "ap_vs_loss_reg_lambda.png",
            "ap_vs_loss_reg_lambda.svg"
        ]
    );
}

#[test]
fn missing_and_broken_job_files_are_skipped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    lambda_sweep(dir);
    // Break things: garbage result, diverged result, no job dir at all, empty csv.
    write_file(dir, "a1s0", "result.json", "{not json");
    write_result(dir, "a10s0", "diverged", 0.5);
    let _ = fs::remove_dir_all(dir.join("jobs/a100s1"));
    write_file(dir, "b1s0", "curves.csv", "");
    write_file(dir, "b1s1", "curves.csv", "lr,total\n0.1,2\n");
    let files = write_plots(dir).expect("plots");
    assert!(files
        .iter()
        .any(|f| f.ends_with("ap_vs_loss_reg_lambda.svg")));
    let sweep = Sweep::load(dir).expect("load");
    assert!(!sweep.results.contains_key("a1s0"));
    assert_eq!(
        sweep.results.get("a10s0").and_then(|r| r.metric("AP")),
        None
    );
    assert_eq!(
        sweep.results.get("a1s1").and_then(|r| r.metric("APs")),
        None,
        "-1 is no score"
    );
    assert!(
        sweep.curves.is_empty(),
        "headerless or iteration-less csv is skipped"
    );

    // A plan whose jobs have produced nothing yet: no figures, no error.
    let empty = tempfile::tempdir().expect("tempdir");
    write_plan(empty.path(), &[("x", "X", 0, config(Some(1.0), "l2", 0))]);
    assert!(write_plots(empty.path()).expect("plots").is_empty());
}

#[test]
fn unreadable_plan_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = write_plots(tmp.path()).expect_err("no plan");
    assert!(matches!(err, PlotError::PlanRead { .. }));
    assert!(err.to_string().contains("plan.json"), "{err}");
    fs::write(tmp.path().join("plan.json"), "{\"jobs\": [").expect("write");
    let err = write_plots(tmp.path()).expect_err("bad plan");
    assert!(matches!(err, PlotError::PlanParse { .. }));
    assert!(err.to_string().contains("plan.json"), "{err}");
}

#[test]
fn png_outputs_decode_to_the_figure_size() {
    let tmp = tempfile::tempdir().expect("tempdir");
    curves_sweep(tmp.path(), Some(true));
    write_plots(tmp.path()).expect("plots");
    assert_eq!(png_size(&tmp.path().join("plots/curves_total.png")), SIZE);
    assert_eq!(
        png_size(&tmp.path().join("plots/weights.png")),
        WEIGHTS_SIZE
    );
}

#[test]
fn log_rule_and_safe_names() {
    assert!(wants_log([1.0, 20.0]));
    assert!(!wants_log([1.0, 19.9]));
    assert!(!wants_log([0.0, 100.0]));
    assert!(!wants_log([-1.0, 100.0]));
    assert!(!wants_log(std::iter::empty()));
    assert_eq!(sanitize("AP50"), "ap50");
    assert_eq!(sanitize("L2 (Baseline) λ"), "l2_baseline");
    assert_eq!(sanitize("../x"), "x");
    let p = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
    assert_eq!(axis_file_name(&p("loss.reg.lambda")), "loss_reg_lambda");
    assert_eq!(
        axis_file_name(&p("model.detector.fcos.radius")),
        "detector_fcos_radius"
    );
    for s in ["a/b", "..", "A B", "ü"] {
        let n = sanitize(s);
        assert!(!n.is_empty() && !n.starts_with('.'));
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)),
            "{n}"
        );
    }
}

#[test]
fn many_rows_split_into_numbered_curve_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows: Vec<String> = (0..MAX_CURVES + 2).map(|i| format!("row{i}")).collect();
    let jobs: Vec<(&str, &str, i64, Value)> = rows
        .iter()
        .map(|r| (r.as_str(), r.as_str(), 0, config(None, "l1", 0)))
        .collect();
    write_plan(dir.path(), &jobs);
    for r in &rows {
        write_curves(dir.path(), r, &[10, 20], 2.0, Some(true));
    }
    let sweep = Sweep::load(dir.path()).expect("load");
    let figs = figures(&sweep);
    let stems: Vec<&str> = figs.iter().map(|(s, _)| s.as_str()).collect();
    for stem in [
        "curves_total_part1",
        "curves_total_part2",
        "weights_part1",
        "weights_part2",
    ] {
        assert!(stems.contains(&stem), "{stems:?}");
    }
    let part2 = &figs
        .iter()
        .find(|(s, _)| s == "curves_total_part2")
        .unwrap()
        .1;
    assert_eq!(part2.panels[0].series.len(), 2);
}
