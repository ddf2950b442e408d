//! Datasets from disk through the real binary: `sweep train` on a COCO fixture this test writes,
//! then `sweep eval` of the job's detections against the fixture's val file agrees with the
//! job's result; the shipped example specs fail clearly while their paths are placeholders.

use crate::trainer::datasets::fixture::{scene, write_coco};
use crate::util::{repo, run, sweep, temp_dir, write};

#[test]
fn train_on_a_coco_fixture_then_sweep_eval_agrees_with_the_result() {
    let dir = temp_dir("coco-fixture");
    let scenes: Vec<_> = (0..16)
        .map(|i| scene(5, i, (96, 72), 2, 3, (16, 36)))
        .collect();
    let spec = write_coco(
        &dir.join("data"),
        &scenes[..12],
        &scenes[12..],
        "png",
        2,
        64,
    );
    let config = format!(
        "dataset: {{kind: coco, images: {}, train: {}, val: {}, image_size: 64, multi_scale: [48, 64]}}\n\
         model: {{fpn_channels: 16, head_convs: 1, backbone: {{kind: tiny_resnet, width: 8}}}}\n\
         train: {{iterations: 30, batch_size: 4, lr: 0.02, warmup_iterations: 5, log_every: 10}}\n\
         eval: {{pre_nms_top_k: 100}}\n",
        spec.images.display(),
        spec.train.display(),
        spec.val.display()
    );
    let cfg = write(&dir, "config.yaml", &config);
    let out = dir.join("job");
    let (code, stdout, err) = run(sweep().arg("train").arg(&cfg).arg("--out").arg(&out).args([
        "--threads",
        "2",
        "--device",
        "cpu",
    ]));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {err}");
    assert!(
        err.contains("dataset: coco: 2 classes, 12 training images"),
        "{err}"
    );
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    let metrics = &result["metrics"];

    let (code, stdout, err) = run(sweep()
        .args(["eval", "--json", "--gt"])
        .arg(&spec.val)
        .arg("--dt")
        .arg(out.join("detections.json")));
    assert_eq!(code, 0, "stderr: {err}");
    let eval: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for key in ["AP", "AP50", "AP75", "APs", "AR100"] {
        assert_eq!(
            eval[key], metrics[key],
            "{key}: sweep eval {stdout} vs result {metrics}"
        );
    }
    // Detections are in the original 96 x 72 images, with the file's category ids.
    let dets: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(out.join("detections.json")).unwrap()).unwrap();
    assert!(!dets.is_empty());
    for d in &dets {
        let b: Vec<f64> = d["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(
            b[0] >= 0.0 && b[1] >= 0.0 && b[0] + b[2] <= 96.0 && b[1] + b[3] <= 72.0,
            "{d}"
        );
        assert!([3, 7].contains(&d["category_id"].as_u64().unwrap()), "{d}");
        assert!((13..=16).contains(&d["image_id"].as_u64().unwrap()), "{d}");
    }
}

#[test]
fn shipped_examples_name_their_missing_paths() {
    for (name, key, path) in [
        ("coco", "dataset.images", "/path/to/coco/train2017"),
        ("voc", "dataset.root", "/path/to/VOCdevkit"),
        ("visdrone", "dataset.root", "/path/to/VisDrone"),
    ] {
        let spec = repo().join("sweeps/examples").join(format!("{name}.yaml"));
        let (code, out, err) = run(sweep().arg("plan").arg(&spec));
        assert_eq!(code, 2, "{name}: stdout: {out}\nstderr: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(&format!("{name}.yaml:")), "{err}");
        assert!(
            err.contains(&format!("{key}: {path} does not exist")),
            "{err}"
        );
    }
}

#[test]
fn a_missing_annotation_file_is_named_at_plan_time() {
    let dir = temp_dir("coco-missing");
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let text = format!(
        "name: x\nbase:\n  dataset:\n    kind: coco\n    images: {}\n    train: {}\n    val: {}\n",
        dir.join("images").display(),
        dir.join("train.json").display(),
        dir.join("val.json").display()
    );
    let spec = write(&dir, "s.yaml", &text);
    let (code, _, err) = run(sweep().arg("plan").arg(&spec));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("s.yaml:6:")
            && err.contains("dataset.train: ")
            && err.contains("train.json does not exist"),
        "{err}"
    );
    assert!(
        err.contains("dataset.val: ") && !err.contains("dataset.images"),
        "{err}"
    );
}
