//! Table rendering golden tests: a sweep of scripted jobs whose results are then replaced by
//! fixed numbers, rendered in each layout (a paper's table shape each) and each format, and
//! compared byte for byte with `tests/it/golden/`. `SWEEP_BLESS=1` rewrites the golden files.

use std::path::Path;

use crate::util::{repo, run, sweep, temp_dir, write};

const SPEC: &str = r#"name: golden
base: {fake: {iterations: 2, millis_per_iteration: 1}}
variants:
  - {name: "1.00:1.00", set: {loss.weights: {cls: 1.0, reg: 1.0}}}
  - {name: "0.25:0.25", set: {loss.weights: {cls: 0.25, reg: 0.25}}}
  - {name: "+ALWA_2", set: {loss.weights.adapt: {kind: alwa, variant: 2}}}
grid:
  loss.reg.kind: [l1, ciou]
seeds: [0, 1]
tables:
  # ALWA Table 1: weight rows × regression-loss columns, the others as differences.
  - name: weights
    title: "Loss weights"
    rows: variant
    row_header: "Loss Weight"
    columns: {axis: loss.reg.kind, labels: {l1: L1, ciou: CIoU}}
    metrics: [AP50]
    baseline: "1.00:1.00"
    delta: replace
    delta_format: points_percent
    bold: above_baseline
    percent: false
    decimals: 4
    reference: golden.paper.yaml
  # AP-loss Table 2: column groups holding several metrics, best in bold, a claim.
  - name: groups
    title: "Losses × detectors"
    rows: variant
    columns: {axis: loss.reg.kind, labels: {l1: "L1 group", ciou: "CIoU group"}}
    metrics: [AP, AP50, AP75]
    bold: best
    claims:
      - {row: "0.25:0.25", than: "1.00:1.00", metric: AP, column: "CIoU group"}
  # ALWA Table 2: a sub-table per axis value, an Improvement% row under each compared row.
  - name: improvement
    rows: variant
    sections: {axis: loss.reg.kind, format: "reg = {}"}
    metrics: [AP50]
    baseline: "1.00:1.00"
    delta: rows
    delta_format: points_percent
    bold: best
    percent: false
    decimals: 4
  # AP-loss Table 1 and the UGS main table: listed sub-tables sharing a row, inline deltas.
  - name: listed
    where: {loss.reg.kind: l1}
    rows: variant
    sections:
      - {header: "Weights", rows: [{row: "1.00:1.00", label: "1"}, {row: "0.25:0.25", label: "0.25"}]}
      - {header: "Adaptive", rows: [{row: "1.00:1.00", label: "No"}, {row: "+ALWA_2", label: "Yes"}]}
    metrics: [AP, AP50]
    baseline: {"0.25": "1", "Yes": "No"}
    delta: inline
    delta_metrics: [AP]
    reference: golden.paper.yaml
"#;

const PAPER: &str = r#"source: "A paper, Tables 1 and 2"
tables:
  weights:
    source: "ALWA-like Table 1"
    rows:
      "1.00:1.00": {L1: 0.7517, CIoU: 0.7535}
      "0.25:0.25": {L1: "+1.46%", CIoU: "+1.52%"}
  listed:
    rows:
      "Weights/1": {AP: 53.1, AP50: 82.3}
      "Adaptive/Yes": {AP: "53.6 (+0.5)"}
"#;

/// Fixed metrics for a job, from its variant, regression loss and seed.
fn metrics(variant: &str, reg: &str, seed: u64) -> serde_json::Value {
    let v = match variant {
        "1.00:1.00" => 0.0,
        "0.25:0.25" => 0.0146,
        _ => 0.0081,
    };
    let base = 0.30 + v + if reg == "ciou" { 0.02 } else { 0.0 } + 0.003 * seed as f64;
    let mut m = serde_json::Map::new();
    for (i, name) in [
        "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
    ]
    .iter()
    .enumerate()
    {
        let offset = match *name {
            "AP50" => 0.45,
            "AP75" => 0.05,
            _ => 0.01 * i as f64,
        };
        m.insert(name.to_string(), (base + offset).into());
    }
    serde_json::Value::Object(m)
}

fn fix_results(out: &Path) {
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    for job in plan["jobs"].as_array().unwrap() {
        let id = job["id"].as_str().unwrap();
        let path = out.join("jobs").join(id).join("result.json");
        let mut result: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        result["metrics"] = metrics(
            job["variant"].as_str().unwrap(),
            job["config"]["loss"]["reg"]["kind"].as_str().unwrap(),
            job["seed"].as_u64().unwrap(),
        );
        std::fs::write(&path, serde_json::to_vec_pretty(&result).unwrap()).unwrap();
    }
}

#[test]
fn tables_render_in_each_layout_and_format_as_the_golden_files() {
    let dir = temp_dir("golden");
    let spec = write(&dir, "golden.yaml", SPEC);
    write(&dir, "golden.paper.yaml", PAPER);
    let out = dir.join("out");
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    fix_results(&out);
    let golden = repo().join("tests/it/golden");
    let bless = std::env::var_os("SWEEP_BLESS").is_some();
    let mut differ = Vec::new();
    for name in ["weights", "groups", "improvement", "listed"] {
        for format in ["md", "csv", "tex"] {
            let (code, text, err) = run(sweep()
                .arg("table")
                .arg(&out)
                .args(["--name", name, "--format", format]));
            assert_eq!(code, 0, "{err}");
            // The caption names the scale and seeds only; nothing machine-specific.
            let path = golden.join(format!("{name}.{format}"));
            if bless {
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                differ.push(format!("{}:\n{text}", path.display()));
            }
        }
    }
    // The claims' numbers: a CSV per table with claims, and claims.json for the sweep.
    let path = golden.join("groups.claims.csv");
    let text = std::fs::read_to_string(out.join("tables/groups.claims.csv")).unwrap();
    if bless {
        std::fs::write(&path, &text).unwrap();
    } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        differ.push(format!("{}:\n{text}", path.display()));
    }
    assert!(!out.join("tables/weights.claims.csv").exists());
    let claims: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("claims.json")).unwrap()).unwrap();
    let groups = &claims["tables"].as_array().unwrap()[1];
    assert_eq!(groups["name"], "groups");
    let claim = &groups["claims"][0];
    assert_eq!(claim["verdict"], "reproduced", "{claim}");
    assert_eq!(claim["test"]["kind"], "paired", "{claim}");
    assert_eq!(claim["values"].as_array().unwrap().len(), 2, "{claim}");
    assert!(
        (claim["diff"].as_f64().unwrap() - 0.0146).abs() < 1e-9,
        "{claim}"
    );
    assert!(
        differ.is_empty(),
        "rendered tables differ from the golden files (SWEEP_BLESS=1 rewrites them after a deliberate change):\n{}",
        differ.join("\n")
    );
}

#[test]
fn a_table_naming_a_missing_row_is_a_located_error_before_anything_runs() {
    let dir = temp_dir("golden-bad");
    let bad = SPEC.replace(
        "baseline: \"1.00:1.00\"\n    delta: replace",
        "baseline: \"1:1\"\n    delta: replace",
    );
    let spec = write(&dir, "golden.yaml", &bad);
    write(&dir, "golden.paper.yaml", PAPER);
    let out = dir.join("out");
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("golden.yaml:") && err.contains("tables[0].baseline"),
        "{err}"
    );
    assert!(
        err.contains("no row `1:1`") && err.contains("1.00:1.00, 0.25:0.25, +ALWA_2"),
        "{err}"
    );
    assert!(!out.join("jobs").exists(), "nothing ran");
}
