//! `sweep predict --job`: a finished job's model on its own val split gives the job's own
//! `detections.json` (same model, same evaluation), on a COCO file or a folder of images, and
//! `sweep eval` scores it as the job's result; a directory that is not a finished job, or a
//! damaged checkpoint, is one clear line.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::trainer::datasets::fixture::{scene, write_coco};
use crate::util::{run, sweep, temp_dir, write};

fn rows(path: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Same detections in the same order: ids equal, boxes within 1e-3 px, scores within 1e-5.
fn assert_same(a: &[Value], b: &[Value], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: detection counts");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x["image_id"], y["image_id"], "{what}: {x} vs {y}");
        assert_eq!(x["category_id"], y["category_id"], "{what}: {x} vs {y}");
        let f = |v: &Value| v.as_f64().unwrap();
        assert!(
            (f(&x["score"]) - f(&y["score"])).abs() < 1e-5,
            "{what}: {x} vs {y}"
        );
        for k in 0..4 {
            assert!(
                (f(&x["bbox"][k]) - f(&y["bbox"][k])).abs() < 1e-3,
                "{what}: {x} vs {y}"
            );
        }
    }
}

fn predict(job: &Path, images: &Path, coco: Option<&Path>, out: &Path) -> (i32, String, String) {
    let mut cmd = sweep();
    cmd.args(["predict", "--job"])
        .arg(job)
        .arg("--images")
        .arg(images);
    if let Some(c) = coco {
        cmd.arg("--coco").arg(c);
    }
    run(cmd
        .arg("--out")
        .arg(out)
        .args(["--device", "cpu", "--threads", "1"]))
}

/// Trains a tiny detector for a few iterations on a COCO fixture; returns (job dir, val file,
/// images dir).
fn trained_job(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let scenes: Vec<_> = (0..10)
        .map(|i| scene(7, i, (80, 64), 2, 3, (14, 30)))
        .collect();
    let spec = write_coco(&dir.join("data"), &scenes[..6], &scenes[6..], "png", 2, 64);
    let config = format!(
        "dataset: {{kind: coco, images: {}, train: {}, val: {}, image_size: 64}}\n\
         model: {{fpn_channels: 16, head_convs: 1, backbone: {{kind: tiny_resnet, width: 8}}}}\n\
         train: {{iterations: 8, batch_size: 2, lr: 0.01, warmup_iterations: 2, log_every: 4}}\n\
         eval: {{pre_nms_top_k: 100}}\n",
        spec.images.display(),
        spec.train.display(),
        spec.val.display()
    );
    let cfg = write(dir, "config.yaml", &config);
    let job = dir.join("job");
    let (code, stdout, err) = run(sweep().arg("train").arg(&cfg).arg("--out").arg(&job).args([
        "--threads",
        "1",
        "--device",
        "cpu",
    ]));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {err}");
    (job, spec.val, spec.images)
}

fn one_clear_line(err: &str, names: &str) {
    assert!(err.contains(names), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("frame #") && !err.contains("Exception raised"),
        "{err}"
    );
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
}

#[test]
fn predict_job_reproduces_the_jobs_detections_and_its_errors_are_one_line() {
    let dir = temp_dir("predict-job");
    let (job, val, images) = trained_job(&dir);
    let own = rows(&job.join("detections.json"));
    assert!(!own.is_empty(), "the tiny job detects something");
    let result: Value =
        serde_json::from_slice(&std::fs::read(job.join("result.json")).unwrap()).unwrap();
    assert!(
        result.get("peak_gpu_memory_bytes").is_none(),
        "a CPU job records no GPU peak: {result}"
    );

    // On the job's val split through its COCO file: the job's own detections.
    let dt = dir.join("dt.json");
    let (code, _, err) = predict(&job, &images, Some(&val), &dt);
    assert_eq!(code, 0, "{err}");
    assert_same(&rows(&dt), &own, "--coco");
    assert_eq!(
        std::fs::read(&dt).unwrap(),
        std::fs::read(job.join("detections.json")).unwrap(),
        "same threads, same bytes"
    );
    // `sweep eval` scores it as the job's result.
    let (code, stdout, err) = run(sweep()
        .args(["eval", "--json", "--gt"])
        .arg(&val)
        .arg("--dt")
        .arg(&dt));
    assert_eq!(code, 0, "{err}");
    let eval: Value = serde_json::from_str(&stdout).unwrap();
    for key in ["AP", "AP50", "AR100"] {
        assert_eq!(eval[key], result["metrics"][key], "{key}: {stdout}");
    }

    // A folder of the same images: ids 1, 2, ... in file-name order, the same boxes.
    let folder = dir.join("val-images");
    std::fs::create_dir_all(&folder).unwrap();
    let coco: Value = serde_json::from_slice(&std::fs::read(&val).unwrap()).unwrap();
    let mut names: Vec<(String, u64)> = coco["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let name = i["file_name"].as_str().unwrap().to_string();
            std::fs::copy(images.join(&name), folder.join(&name)).unwrap();
            (name, i["id"].as_u64().unwrap())
        })
        .collect();
    names.sort();
    let (code, _, err) = predict(&job, &folder, None, &dt);
    assert_eq!(code, 0, "{err}");
    let mut renamed: Vec<Value> = rows(&dt)
        .into_iter()
        .map(|mut r| {
            let k = r["image_id"].as_u64().unwrap() as usize;
            r["image_id"] = names[k - 1].1.into();
            r
        })
        .collect();
    // Stable: each image's detections keep their order.
    let key = |r: &Value| r["image_id"].as_u64().unwrap();
    renamed.sort_by_key(key);
    let mut own_sorted = own.clone();
    own_sorted.sort_by_key(key);
    assert_same(&renamed, &own_sorted, "folder");

    // Not a job directory.
    let (code, _, err) = predict(&dir.join("data"), &images, Some(&val), &dt);
    assert_eq!(code, 2, "{err}");
    one_clear_line(&err, "not a job directory");
    // Not finished: no result.json.
    let copy = |name: &str| {
        let to = dir.join(name);
        std::fs::create_dir_all(to.join("checkpoint")).unwrap();
        for f in ["config.yaml", "result.json"] {
            std::fs::copy(job.join(f), to.join(f)).unwrap();
        }
        for f in ["latest.ot", "latest.json"] {
            std::fs::copy(
                job.join("checkpoint").join(f),
                to.join("checkpoint").join(f),
            )
            .unwrap();
        }
        to
    };
    let unfinished = copy("unfinished");
    std::fs::remove_file(unfinished.join("result.json")).unwrap();
    let (code, _, err) = predict(&unfinished, &images, Some(&val), &dt);
    assert_eq!(code, 2, "{err}");
    one_clear_line(&err, "has not finished (no result.json)");
    // No final weights.
    let bare = copy("bare");
    std::fs::remove_file(bare.join("checkpoint/latest.ot")).unwrap();
    let (code, _, err) = predict(&bare, &images, Some(&val), &dt);
    assert_eq!(code, 2, "{err}");
    one_clear_line(&err, "no final weights");
    // A checkpoint garbled after it was saved (its recorded checksum catches it).
    let garbled = copy("garbled");
    let ck = garbled.join("checkpoint/latest.ot");
    let mut bytes = std::fs::read(&ck).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&ck, &bytes).unwrap();
    let (code, _, err) = predict(&garbled, &images, Some(&val), &dt);
    assert_eq!(code, 2, "{err}");
    one_clear_line(&err, &format!("{}: its bytes differ", ck.display()));
    // A truncated checkpoint without its record: libtorch refuses it, in one line.
    let cut = copy("cut");
    let ck = cut.join("checkpoint/latest.ot");
    std::fs::remove_file(cut.join("checkpoint/latest.json")).unwrap();
    std::fs::write(&ck, &bytes[..mid]).unwrap();
    let (code, _, err) = predict(&cut, &images, Some(&val), &dt);
    assert_eq!(code, 2, "{err}");
    one_clear_line(&err, &format!("{}: not a checkpoint", ck.display()));
}

/// Trains the job of `config` (a YAML body) with `sweep train` on one thread; returns its dir.
fn train(dir: &Path, config: &str) -> PathBuf {
    let cfg = write(dir, "config.yaml", config);
    let job = dir.join("job");
    let (code, stdout, err) = run(sweep().arg("train").arg(&cfg).arg("--out").arg(&job).args([
        "--threads",
        "1",
        "--device",
        "cpu",
    ]));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {err}");
    job
}

#[test]
fn predict_job_on_a_synthetic_jobs_val_images_saved_as_files_gives_its_detections() {
    use crate::synth::{key, render, Rng};
    let dir = temp_dir("predict-job-synthetic");
    let job = train(
        &dir,
        "dataset: {kind: synthetic, image_size: 64, train_images: 16, val_images: 5, num_classes: 2, max_object_size: 40}\n\
         model: {fpn_channels: 16, head_convs: 1, backbone: {kind: tiny_resnet, width: 8}}\n\
         train: {iterations: 6, batch_size: 2, lr: 0.01, warmup_iterations: 2, log_every: 3}\n",
    );
    // The val images exactly as the job drew them (seed 0, the val stream), as PNG files named
    // in id order.
    let folder = dir.join("val");
    std::fs::create_dir_all(&folder).unwrap();
    let spec = sweep::spec::config::SyntheticSpec {
        image_size: 64,
        train_images: 16,
        val_images: 5,
        num_classes: 2,
        max_object_size: 40.0,
        ..Default::default()
    };
    for i in 0..5u64 {
        let img = render(&spec, &mut Rng::new(key(&[spec.seed, 0x76_616c, i])));
        image::RgbImage::from_raw(64, 64, img.pixels)
            .unwrap()
            .save(folder.join(format!("val{i}.png")))
            .unwrap();
    }
    let dt = dir.join("dt.json");
    let (code, _, err) = predict(&job, &folder, None, &dt);
    assert_eq!(code, 0, "{err}");
    let own = rows(&job.join("detections.json"));
    assert!(!own.is_empty());
    assert_same(&rows(&dt), &own, "synthetic");
}

#[test]
fn predict_job_runs_a_torchvision_retinanet_job_as_its_evaluation_did() {
    let dir = temp_dir("predict-job-tv");
    let scenes: Vec<_> = (0..8)
        .map(|i| scene(3, i, (80, 64), 2, 3, (14, 30)))
        .collect();
    let spec = write_coco(&dir.join("data"), &scenes[..5], &scenes[5..], "png", 2, 64);
    let job = train(
        &dir,
        &format!(
            "dataset: {{kind: coco, images: {}, train: {}, val: {}, image_size: 64}}\n\
             model:\n  detector: {{kind: torchvision_retinanet, min_size: 64, max_size: 96, fpn_channels: 16}}\n  \
             backbone: {{kind: resnet, depth: 18, trainable_layers: 5}}\n\
             train: {{iterations: 2, batch_size: 2, lr: 0.001, warmup_iterations: 1, log_every: 1}}\n",
            spec.images.display(),
            spec.train.display(),
            spec.val.display()
        ),
    );
    let dt = dir.join("dt.json");
    let (code, _, err) = predict(&job, &spec.images, Some(&spec.val), &dt);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(&dt).unwrap(),
        std::fs::read(job.join("detections.json")).unwrap(),
        "the job's own detections, byte for byte"
    );
}
