//! The convergence check end to end: real tiny jobs record their `eval.at` evaluations in
//! `result.json`; with those results edited into a row that still rose over its last quarter
//! (and one that did not), every table format and `sweep status` mark that row and only it.

use std::path::Path;

use crate::util::{run, sweep, temp_dir, write};

const TINY: &str = r#"name: converge
base:
  dataset: {kind: synthetic, image_size: 64, train_images: 32, val_images: 8, max_object_size: 40}
  model: {fpn_channels: 16, backbone: {kind: tiny_resnet, width: 8}}
  train: {iterations: 8, batch_size: 2, warmup_iterations: 2, checkpoint_every: 8, log_every: 2}
variants:
  - {name: l1, set: {loss.reg.kind: l1}}
  - {name: giou, set: {loss.reg.kind: giou}}
seeds: [0, 1]
table: {metrics: [AP, AP50]}
"#;

/// Rewrites a job's AP: `at` at the evaluation at 75% (iteration 6 of 8), `last` at the end.
fn set_ap(job: &Path, at: f64, last: f64) {
    let path = job.join("result.json");
    let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    r["metrics"]["AP"] = serde_json::json!(last);
    for p in r["progress"].as_array_mut().unwrap() {
        let v = match p["iteration"].as_u64().unwrap() {
            6 => at,
            8 => last,
            _ => at / 2.0,
        };
        p["metrics"]["AP"] = serde_json::json!(v);
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
}

#[test]
fn tiny_jobs_record_their_evaluations_and_a_rising_row_is_marked_everywhere() {
    let dir = temp_dir("convergence");
    let spec = write(&dir, "converge.yaml", TINY);
    let out = dir.join("out");
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");

    // Each job evaluated at 50%, 75% and the end; the last is its final result.
    let (code, plan, _) = run(sweep().arg("status").arg(&out).arg("--json"));
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let jobs: Vec<(String, String)> = plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap().into(),
                j["row"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(jobs.len(), 4);
    for (id, _) in &jobs {
        let r: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join("jobs").join(id).join("result.json")).unwrap(),
        )
        .unwrap();
        let at: Vec<u64> = r["progress"]
            .as_array()
            .unwrap_or_else(|| panic!("no progress in {r}"))
            .iter()
            .map(|p| p["iteration"].as_u64().unwrap())
            .collect();
        assert_eq!(at, [4, 6, 8], "{r}");
        assert_eq!(r["progress"][2]["metrics"], r["metrics"], "{r}");
        assert_eq!(r["progress"][0]["metrics"].as_object().unwrap().len(), 12);
    }

    // l1 rose by 4.0 AP over its last quarter (std 0.7 over seeds); giou by none.
    // Job k's final AP is 0.30 + 0.01 k (the jobs in plan order: l1 seeds 0, 1, then giou).
    for (k, (id, row)) in jobs.iter().enumerate() {
        let job = out.join("jobs").join(id);
        let last = 0.30 + 0.01 * k as f64;
        match row.as_str() {
            "l1" => set_ap(&job, last - 0.04, last),
            _ => set_ap(&job, last, last),
        }
    }
    let table = |format: &str| {
        let (code, text, err) = run(sweep().arg("table").arg(&out).args(["--format", format]));
        assert_eq!(code, 0, "{err}");
        text
    };
    let md = table("md");
    assert!(md.contains("| l1 | 30.5 ± 0.7 † |"), "{md}");
    assert!(md.contains("| giou | 32.5 ± 0.7 |"), "{md}");
    assert!(
        md.contains("Still rising (†) in 1 of 2 cells judged")
            && md.contains("in l1 (+4.0 vs std 0.7)."),
        "{md}"
    );
    let csv = table("csv");
    let line = |row: &str| {
        csv.lines()
            .find(|l| l.starts_with(&format!("{row},")))
            .unwrap_or_else(|| panic!("{csv}"))
            .to_string()
    };
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",status,still_rising"),
        "{csv}"
    );
    assert!(
        line("l1").ends_with(",yes") && line("giou").ends_with(",no"),
        "{csv}"
    );
    let tex = table("tex");
    assert!(tex.contains("l1 & 30.5 $\\pm$ 0.7 $^\\dagger$"), "{tex}");
    assert!(
        tex.contains("{\\footnotesize $^\\dagger$ still rising:"),
        "{tex}"
    );

    let (code, text, _) = run(sweep().arg("status").arg(&out));
    assert_eq!(code, 0);
    let jobs_of = |row: &str| -> Vec<&str> {
        let row = format!(" {row} ");
        text.lines()
            .filter(|l| l.starts_with("  ") && l.contains(&row))
            .collect()
    };
    let l1 = jobs_of("l1");
    assert_eq!(l1.len(), 2, "{text}");
    assert!(
        l1.iter()
            .all(|l| l.contains("(+4.0 in the last quarter) †")),
        "{text}"
    );
    assert!(
        jobs_of("giou").len() == 2 && jobs_of("giou").iter().all(|l| !l.contains('†')),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("by more than its std over seeds: l1 (+4.0 vs std 0.7)"),
        "{text}"
    );
    let (_, json, _) = run(sweep().arg("status").arg(&out).arg("--json"));
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    for j in status["jobs"].as_array().unwrap() {
        let rising = j["row"] == "l1";
        assert_eq!(j["still_rising"], rising, "{j}");
    }
}
