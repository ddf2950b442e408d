//! A tiny sweep through real worker processes and the real trainer: results, tables, rerun.

use std::path::Path;

use crate::util::{results, run, sweep, temp_dir, write};

const TINY: &str = r#"name: tiny
base:
  dataset: {kind: synthetic, image_size: 64, train_images: 32, val_images: 8, max_object_size: 40}
  model: {fpn_channels: 16, backbone: {kind: tiny_resnet, width: 8}}
  train: {iterations: 6, batch_size: 2, warmup_iterations: 2, checkpoint_every: 3, log_every: 2}
variants:
  - {name: l1, set: {loss.reg.kind: l1}}
  - {name: giou, set: {loss.reg.kind: giou}}
  - {name: ugs, set: {loss.reg: {kind: ugs, lambda: 0.5}}}
table: {metrics: [AP, AP50]}
"#;

fn starts(out: &Path) -> usize {
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    events
        .lines()
        .filter(|l| l.contains("\"state\":\"running\""))
        .count()
}

#[test]
fn tiny_sweep_runs_reruns_and_renders() {
    let dir = temp_dir("tiny-sweep");
    let spec = write(&dir, "tiny.yaml", TINY);
    let out = dir.join("out");

    let (code, stdout, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {err}");
    let first = results(&out);
    assert_eq!(first.len(), 3, "every job finished (UGS included): {err}");
    for bytes in first.values() {
        let r: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(r["status"], "done");
        assert_eq!(r["metrics"].as_object().unwrap().len(), 12, "{r}");
        assert!(r["metrics"]["AP"].as_f64().unwrap() >= 0.0);
        assert_eq!(r["iterations"], 6);
    }
    assert!(
        stdout.contains("| ugs |") && !stdout.contains("not implemented"),
        "{stdout}"
    );
    assert!(stdout.contains("| l1 |"), "{stdout}");
    let md = std::fs::read_to_string(out.join("tables/tiny.md")).unwrap();
    assert!(md.contains("| Configuration | AP | AP50 |"), "{md}");
    assert_eq!(starts(&out), 3);

    // The same command again: nothing is trained twice, nothing finished is rewritten.
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 of 3 jobs already done"), "{err}");
    assert_eq!(results(&out), first);
    assert_eq!(starts(&out), 3);

    // A lost result reruns only that job (through `resume`, which reads the directory).
    let lost = first.keys().next().unwrap().clone();
    std::fs::remove_file(out.join("jobs").join(&lost).join("result.json")).unwrap();
    let (code, _, err) = run(sweep().arg("resume").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert_eq!(starts(&out), 4);
    assert_eq!(results(&out).len(), 3);

    let (code, stdout, _) = run(sweep().arg("status").arg(&out).arg("--json"));
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["counts"]["done"], 3, "{status}");
    assert!(status["counts"].get("unsupported").is_none(), "{status}");

    let (code, csv, _) = run(sweep().arg("table").arg(&out).args(["--format", "csv"]));
    assert_eq!(code, 0);
    assert!(
        csv.starts_with("Configuration,AP,AP_std,AP_seeds,AP_paper,AP50"),
        "{csv}"
    );
    assert!(
        csv.contains("\nugs,") && !csv.contains("not implemented"),
        "{csv}"
    );
}

#[test]
fn train_one_config_without_a_sweep() {
    let dir = temp_dir("train-one");
    let cfg = write(&dir, "c.yaml", "dataset: {kind: synthetic, image_size: 64, train_images: 16, val_images: 4, max_object_size: 40}\nmodel: {fpn_channels: 16, backbone: {kind: tiny_resnet, width: 8}}\ntrain: {iterations: 4, batch_size: 2, warmup_iterations: 1, log_every: 1}\n");
    let out = dir.join("job");
    let (code, stdout, err) = run(sweep()
        .arg("train")
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .args(["--threads", "1"]));
    assert_eq!(code, 0, "{err}");
    let metrics: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(metrics["AP50"].is_number(), "{stdout}");
    for f in [
        "config.yaml",
        "state.json",
        "result.json",
        "train.log",
        "curves.csv",
        "checkpoint",
    ] {
        assert!(out.join(f).exists(), "{f} missing in {}", out.display());
    }
    let log = std::fs::read_to_string(out.join("train.log")).unwrap();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("\"event\":\"progress\""))
            .count(),
        4,
        "{log}"
    );
}
