//! Resuming from a checkpoint that does not load: a torn or garbled `latest.ot` falls back to
//! `previous.ot`, then to a fresh start, with one line saying which; a checkpoint of another
//! model is never half-restored. Each resumed run must end exactly where an uninterrupted one
//! does (same metrics), since every fallback point is one the full run passed through.

use super::tests::{fresh_dir, run_job_serial, serial};
use super::*;
use crate::spec::config::*;
use std::sync::atomic::AtomicBool;

fn cfg(width: i64) -> JobConfig {
    let mut model = super::tests::tiny_model();
    if let BackboneSpec::TinyResnet { width: w, .. } = &mut model.backbone {
        *w = width;
    }
    JobConfig {
        dataset: DatasetSpec::Synthetic(SyntheticSpec {
            image_size: 64,
            train_images: 32,
            val_images: 8,
            max_objects: 4,
            max_object_size: 40.0,
            ..Default::default()
        }),
        model,
        train: TrainSpec {
            iterations: 20,
            batch_size: 2,
            warmup_iterations: 2,
            log_every: 5,
            checkpoint_every: 5,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Trains to the end, returning the outcome and the notes the trainer sent.
fn resume(cfg: &JobConfig, dir: &Path) -> (TrainOutcome, Vec<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let opts = TrainOptions {
        threads: 2,
        device: DeviceChoice::Cpu,
        stop: Arc::new(AtomicBool::new(false)),
        notes: Some(tx),
    };
    let out = train(cfg, dir, &opts, &mut |_: &Progress| {}).expect("the run ends");
    (out, rx.try_iter().collect())
}

fn aside(dir: &Path, name: &str) -> usize {
    std::fs::read_dir(dir.join(checkpoint::DIR))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}.damaged-"))
        })
        .count()
}

#[test]
fn a_torn_latest_checkpoint_falls_back_to_the_previous_then_to_a_fresh_start() {
    let _serial = serial();
    let cfg = cfg(8);
    let full = run_job_serial(&cfg, &fresh_dir("ck-full"), None).0.unwrap();

    // Stopped at 15: latest.ot is iteration 15, previous.ot iteration 10.
    let dir = fresh_dir("ck-torn");
    let (r, _) = run_job_serial(&cfg, &dir, Some(15));
    assert!(
        matches!(r, Err(TrainError::Interrupted { iteration: 15 })),
        "{r:?}"
    );
    let latest = dir.join(checkpoint::DIR).join("latest.ot");
    let bytes = std::fs::read(&latest).unwrap();
    std::fs::write(&latest, &bytes[..bytes.len() / 2]).unwrap();
    let (out, notes) = resume(&cfg, &dir);
    assert_eq!(out.resumed_from, Some(10));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("checkpoint/latest.ot does not load (")
            && notes[0].ends_with("resumed from checkpoint/previous.ot (iteration 10)"),
        "{}",
        notes[0]
    );
    assert!(
        !notes[0].contains('\n') && !notes[0].contains("frame #"),
        "{}",
        notes[0]
    );
    assert_eq!(aside(&dir, "latest.ot"), 1);
    assert_eq!(out.metrics, full.metrics);

    // Both garbled: a fresh start, said once.
    let dir = fresh_dir("ck-garbled");
    let (r, _) = run_job_serial(&cfg, &dir, Some(10));
    assert!(matches!(r, Err(TrainError::Interrupted { .. })), "{r:?}");
    for name in ["latest.ot", "previous.ot"] {
        let p = dir.join(checkpoint::DIR).join(name);
        let mut bytes = std::fs::read(&p).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid..mid + 16].copy_from_slice(b"\0garbage\0garbage");
        std::fs::write(&p, bytes).unwrap();
    }
    let (out, notes) = resume(&cfg, &dir);
    assert_eq!(out.resumed_from, None);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("latest.ot does not load")
            && notes[0].contains("previous.ot does not load")
            && notes[0].ends_with("starting afresh"),
        "{}",
        notes[0]
    );
    assert_eq!(out.metrics, full.metrics);
}

#[test]
fn a_checkpoint_of_another_model_is_not_restored() {
    let _serial = serial();
    let cfg = cfg(8);
    let full = run_job_serial(&cfg, &fresh_dir("ck-own"), None).0.unwrap();
    // A wider model's checkpoint where this job's should be: same names, other shapes.
    let dir = fresh_dir("ck-foreign");
    let (r, _) = run_job_serial(&super::tests_checkpoint::cfg(16), &dir, Some(5));
    assert!(matches!(r, Err(TrainError::Interrupted { .. })), "{r:?}");
    let (out, notes) = resume(&cfg, &dir);
    assert_eq!(out.resumed_from, None);
    assert!(
        notes.len() == 1 && notes[0].contains("of shape") && notes[0].ends_with("starting afresh"),
        "{notes:?}"
    );
    assert_eq!(
        out.metrics, full.metrics,
        "a partly restored model would differ"
    );
}
