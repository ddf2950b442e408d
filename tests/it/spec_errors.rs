//! Bad specs: one clear message with file:line:column and what is allowed, exit code 2.

use crate::util::{run, sweep, temp_dir, write};

fn plan_error(name: &str, text: &str, extra: &[&str]) -> String {
    let dir = temp_dir(name);
    let spec = write(&dir, "s.yaml", text);
    let (code, out, err) = run(sweep().arg("plan").arg(&spec).args(extra));
    assert_eq!(
        code, 2,
        "bad spec must exit 2; stdout: {out}\nstderr: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn yaml_syntax_error_has_position() {
    let err = plan_error("syntax", "name: x\nbase: {train: [1, 2}\n", &[]);
    assert!(err.contains("s.yaml:2:"), "{err}");
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let text =
        "name: x\nvariants:\n  - name: a\n    set:\n      loss.reg: {kind: ugs, lamda: 0.5}\n";
    let err = plan_error("unknown-key", text, &[]);
    assert!(err.contains("s.yaml:5:"), "{err}");
    assert!(err.contains("variants[0].set.loss.reg.lamda"), "{err}");
    assert!(err.contains("did you mean `lambda`?"), "{err}");
    assert!(
        err.contains("allowed: n, alpha, beta, in_labels, lambda, gamma, rho, ur_loss"),
        "{err}"
    );
}

#[test]
fn unknown_kind_lists_the_kinds() {
    let err = plan_error(
        "unknown-kind",
        "name: x\nbase:\n  loss:\n    reg: {kind: smoth_l1}\n",
        &[],
    );
    assert!(err.contains("s.yaml:4:"), "{err}");
    assert!(err.contains("did you mean `smooth_l1`?"), "{err}");
    assert!(
        err.contains("l1, smooth_l1, l2, iou, giou, diou, ciou, hiou, ugs"),
        "{err}"
    );
}

#[test]
fn unknown_top_level_key() {
    let err = plan_error("top-level", "name: x\nsedes: [1]\n", &[]);
    assert!(err.contains("s.yaml:2:1"), "{err}");
    assert!(err.contains("did you mean `seeds`?"), "{err}");
}

#[test]
fn wrong_type_is_located() {
    let err = plan_error(
        "wrong-type",
        "name: x\nbase:\n  train:\n    iterations: many\n",
        &[],
    );
    assert!(err.contains("s.yaml:4:5: base.train.iterations"), "{err}");
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn empty_axis_and_duplicate_names_reported_together() {
    let text = "name: x\nvariants:\n  - {name: a}\n  - {name: a}\ngrid:\n  train.lr: []\n";
    let err = plan_error("empty-axis", text, &[]);
    assert!(
        err.contains("s.yaml:4:") && err.contains("duplicate variant name `a`"),
        "{err}"
    );
    assert!(
        err.contains("s.yaml:6:3: grid.train.lr: empty axis"),
        "{err}"
    );
}

#[test]
fn out_of_range_value_names_the_range() {
    let text = "name: x\nbase:\n  train: {lr: 0.01}\ngrid:\n  train.batch_size: [8, 0]\n";
    let err = plan_error("range", text, &[]);
    assert!(
        err.contains("s.yaml:5:3: grid.train.batch_size: 0 is out of range; allowed: >= 1"),
        "{err}"
    );
}

#[test]
fn bad_override_on_the_command_line() {
    let err = plan_error("override", "name: x\n", &["--set", "train.lr=-1"]);
    assert!(
        err.contains("--set train.lr=-1: train.lr: -1 is out of range; allowed: > 0"),
        "{err}"
    );
    let err = plan_error("override2", "name: x\n", &["--set", "train.lr"]);
    assert!(err.contains("missing `=`"), "{err}");
}

#[test]
fn missing_spec_file() {
    let (code, _, err) = run(sweep().args(["plan", "no_such_spec_anywhere.yaml"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("no_such_spec_anywhere.yaml: no such spec file"),
        "{err}"
    );
}

#[test]
fn torchvision_fcos_refuses_coco_weights_with_ugs_and_channels_its_group_norm_cannot_split() {
    let text = "name: x\nbase:\n  model:\n    detector: {kind: torchvision_fcos, fpn_channels: 48, weights: coco.safetensors}\n    backbone: {kind: resnet, depth: 18}\n  loss:\n    reg: {kind: ugs}\n";
    let err = plan_error("tv-fcos", text, &[]);
    assert!(
        err.contains("model.detector.fpn_channels: 48 is out of range; allowed: a multiple of 32"),
        "{err}"
    );
    assert!(err.contains("s.yaml:4:"), "{err}");
    assert!(
        err.contains("model.detector.weights: coco.safetensors is out of range; allowed: no model.detector.weights with loss.reg ugs"),
        "{err}"
    );
    assert!(!err.contains("loss.reg.kind"), "{err}");
    assert!(!err.contains("model.detector.kind"), "{err}");
}
