//! The torchvision RetinaNet through the whole job: train, checkpoint, resume, evaluate.
//! (Its numerics against torchvision itself: tests/it/golden_detectors.rs.)

use super::tests::{fresh_dir, run_job};
use crate::spec::config::*;

fn tv() -> JobConfig {
    JobConfig {
        dataset: DatasetSpec::Synthetic(SyntheticSpec {
            image_size: 64,
            train_images: 8,
            val_images: 4,
            num_classes: 2,
            max_objects: 3,
            max_object_size: 40.0,
            ..Default::default()
        }),
        model: ModelSpec {
            detector: DetectorSpec::TorchvisionRetinanet(TorchvisionRetinanetSpec {
                min_size: 64,
                max_size: 64,
                fpn_channels: 16,
                ..Default::default()
            }),
            backbone: BackboneSpec::Resnet(ResnetSpec {
                depth: 18,
                trainable_layers: 5,
                ..Default::default()
            }),
            ..Default::default()
        },
        train: TrainSpec {
            iterations: 4,
            batch_size: 2,
            lr: 0.001,
            warmup_iterations: 1,
            log_every: 2,
            checkpoint_every: 2,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn torchvision_retinanet_trains_resumes_bit_identically_and_evaluates() {
    let cfg = tv();
    let whole = fresh_dir("tv-whole");
    let (r, seen) = run_job(&cfg, &whole, None);
    let out = r.unwrap();
    assert_eq!(out.iterations, 4);
    assert!(
        seen.iter()
            .all(|p| p.losses.iter().all(|(_, v)| v.is_finite())),
        "{seen:?}"
    );
    assert!(whole.join("detections.json").is_file());
    let parts = fresh_dir("tv-parts");
    let (r, _) = run_job(&cfg, &parts, Some(2));
    assert!(
        matches!(r, Err(super::TrainError::Interrupted { iteration: 2 })),
        "{r:?}"
    );
    let (r, _) = run_job(&cfg, &parts, None);
    let resumed = r.unwrap();
    assert_eq!(resumed.resumed_from, Some(2));
    assert_eq!(resumed.metrics, out.metrics);
    let curve = |d: &std::path::Path| std::fs::read_to_string(d.join("curves.csv")).unwrap();
    let strip = |s: String| -> Vec<String> {
        // images_per_sec (the last column) is a timing.
        s.lines()
            .map(|l| l.rsplit_once(',').map_or(l, |x| x.0).to_string())
            .collect()
    };
    assert_eq!(strip(curve(&whole)), strip(curve(&parts)));
}
