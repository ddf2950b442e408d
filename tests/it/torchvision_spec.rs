//! Specs of the torchvision detectors: the weights a job starts from are part of its id, a
//! missing weights file or an impossible combination is a located error before anything runs.

use serde_json::Value;

use crate::util::{run, sweep, temp_dir, write};

const SPEC: &str = "name: tv\nbase:\n  model:\n    detector: {kind: torchvision_retinanet}\n    backbone: {kind: resnet, depth: 50, weights: r50.safetensors}\n";

fn plan(dir: &std::path::Path, spec: &std::path::Path) -> (i32, String, String) {
    run(sweep().current_dir(dir).arg("plan").arg(spec).arg("--json"))
}

fn ids(dir: &std::path::Path, spec: &std::path::Path) -> Vec<(String, String)> {
    let (code, out, err) = plan(dir, spec);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let sha = j["config"]["model"]["backbone"]["weights_sha256"]
                .as_str()
                .unwrap_or("");
            (j["id"].as_str().unwrap().to_string(), sha.to_string())
        })
        .collect()
}

#[test]
fn the_weights_content_is_part_of_the_job_id() {
    let dir = temp_dir("tv-weights-id");
    let spec = write(&dir, "s.yaml", SPEC);
    write(&dir, "r50.safetensors", "first");
    let a = ids(&dir, &spec);
    write(&dir, "r50.safetensors", "second");
    let b = ids(&dir, &spec);
    assert_eq!(a[0].1.len(), 64, "{a:?}");
    assert_ne!(a[0].0, b[0].0, "other weights, other job");
    assert_ne!(a[0].1, b[0].1);
}

#[test]
fn a_missing_weights_file_is_a_located_error() {
    let dir = temp_dir("tv-weights-missing");
    let spec = write(&dir, "s.yaml", SPEC);
    let (code, _, err) = plan(&dir, &spec);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s.yaml:5:"), "{err}");
    assert!(
        err.contains("model.backbone.weights") && err.contains("r50.safetensors"),
        "{err}"
    );
    assert!(err.contains("scripts/convert-weights"), "{err}");
}

#[test]
fn the_tiny_backbone_under_a_torchvision_detector_is_a_located_error() {
    let dir = temp_dir("tv-wrong-backbone");
    let text = "name: tv\nbase:\n  model:\n    detector: {kind: torchvision_retinanet}\n    backbone: {kind: tiny_resnet}\n";
    let spec = write(&dir, "s.yaml", text);
    let (code, _, err) = plan(&dir, &spec);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("model.backbone.kind") && err.contains("resnet"),
        "{err}"
    );
    let text = "name: tv\nbase:\n  model:\n    detector: {kind: torchvision_retinanet}\n    backbone: {kind: resnet, depth: 42}\n";
    let spec = write(&dir, "s2.yaml", text);
    let (code, _, err) = plan(&dir, &spec);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("s2.yaml:5:") && err.contains("18, 34, 50, 101 or 152"),
        "{err}"
    );
}

#[test]
fn torchvision_fcos_plans_and_its_detector_weights_are_part_of_the_job_id() {
    let dir = temp_dir("tv-fcos-weights-id");
    let text = "name: tv\nbase:\n  model:\n    detector: {kind: torchvision_fcos, weights: fcos.safetensors}\n    backbone: {kind: resnet, depth: 50}\n";
    let spec = write(&dir, "s.yaml", text);
    let detector_sha = || {
        let (code, out, err) = plan(&dir, &spec);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let j = &v["jobs"][0];
        assert_eq!(j["config"]["model"]["detector"]["min_size"], 800);
        assert_eq!(j["config"]["model"]["detector"]["num_convs"], 4);
        let sha = j["config"]["model"]["detector"]["weights_sha256"]
            .as_str()
            .unwrap_or("")
            .to_string();
        (j["id"].as_str().unwrap().to_string(), sha)
    };
    write(&dir, "fcos.safetensors", "first");
    let a = detector_sha();
    write(&dir, "fcos.safetensors", "second");
    let b = detector_sha();
    assert_eq!(a.1.len(), 64, "{a:?}");
    assert_ne!(a.0, b.0, "other weights, other job");
    std::fs::remove_file(dir.join("fcos.safetensors")).unwrap();
    let (code, _, err) = plan(&dir, &spec);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("s.yaml:4:") && err.contains("model.detector.weights"),
        "{err}"
    );
}

#[test]
fn torchvision_ssd_plans_on_vgg16_and_its_backbone_weights_are_part_of_the_job_id() {
    let dir = temp_dir("tv-ssd-weights-id");
    let text = "name: tv\nbase:\n  model:\n    detector: {kind: torchvision_ssd}\n    backbone: {kind: vgg16, weights: vgg16.safetensors}\n  loss:\n    cls: {kind: ce_ohem}\n    reg: {kind: smooth_l1, beta: 1}\n";
    let spec = write(&dir, "s.yaml", text);
    let backbone_sha = || {
        let (code, out, err) = plan(&dir, &spec);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let j = &v["jobs"][0];
        assert_eq!(j["config"]["model"]["detector"]["topk_candidates"], 400);
        assert_eq!(j["config"]["model"]["backbone"]["trainable_layers"], 4);
        let sha = j["config"]["model"]["backbone"]["weights_sha256"]
            .as_str()
            .unwrap_or("")
            .to_string();
        (j["id"].as_str().unwrap().to_string(), sha)
    };
    write(&dir, "vgg16.safetensors", "first");
    let a = backbone_sha();
    write(&dir, "vgg16.safetensors", "second");
    let b = backbone_sha();
    assert_eq!(a.1.len(), 64, "{a:?}");
    assert_ne!(a.0, b.0, "other weights, other job");
    let text = text.replace("kind: vgg16, weights: vgg16.safetensors", "kind: resnet");
    let spec = write(&dir, "s2.yaml", &text);
    let (code, _, err) = plan(&dir, &spec);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s2.yaml:5:") && err.contains("vgg16"), "{err}");
}
