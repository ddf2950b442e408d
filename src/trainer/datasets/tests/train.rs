//! A short training run on a COCO fixture: the AP rises, and the detections file is the
//! evaluated one, in the original images' coordinates.

use super::super::fixture::{scene, write_coco};
use crate::eval::{coco, load_coco_dt, load_coco_gt};
use crate::spec::config::*;
use crate::trainer::{train, DeviceChoice, TrainOptions};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn config(spec: &CocoSpec, iterations: u64) -> JobConfig {
    JobConfig {
        dataset: DatasetSpec::Coco(spec.clone()),
        model: crate::trainer::tests::tiny_model(),
        train: TrainSpec {
            iterations,
            batch_size: 4,
            lr: 0.02,
            warmup_iterations: 10,
            lr_steps: vec![],
            log_every: 10,
            checkpoint_every: 1000,
            ..Default::default()
        },
        // An untrained model scores everything alike: keep its NMS small.
        eval: EvalSpec {
            pre_nms_top_k: 100,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn training_on_a_coco_fixture_raises_the_ap() {
    let dir = tempfile::tempdir().unwrap();
    let scenes = |first: u64, n: u64| -> Vec<_> {
        (first..first + n)
            .map(|i| scene(11, i, (96, 72), 2, 3, (16, 36)))
            .collect()
    };
    let spec = write_coco(dir.path(), &scenes(0, 32), &scenes(100, 8), "jpg", 2, 64);
    let opts = TrainOptions {
        threads: 2,
        device: DeviceChoice::Cpu,
        stop: Arc::new(AtomicBool::new(false)),
        notes: None,
    };
    let mut ap = Vec::new();
    for iterations in [4, 60] {
        let job = dir.path().join(format!("job-{iterations}"));
        std::fs::create_dir_all(&job).unwrap();
        let out = train(&config(&spec, iterations), &job, &opts, &mut |_| {}).unwrap();
        // The written detections, read back against the val file, give the reported metrics.
        let gt = load_coco_gt(&spec.val).unwrap();
        let dets = load_coco_dt(&job.join("detections.json"), &gt).unwrap();
        assert_eq!(coco::evaluate(&gt, &dets).unwrap().summary, out.metrics);
        assert!(dets
            .iter()
            .all(|d| d.bbox[0] + d.bbox[2] <= 96.0 && d.bbox[1] + d.bbox[3] <= 72.0));
        eprintln!(
            "{iterations} iterations: {:?} {:.1}s",
            out.metrics, out.seconds
        );
        ap.push(out.metrics.ap50);
    }
    assert!(
        ap[1] > ap[0] + 0.2,
        "AP50 after 4 and 60 iterations: {ap:?}"
    );
}
