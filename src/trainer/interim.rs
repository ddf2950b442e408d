//! Evaluations during training (`eval.at`): the iterations they fall on, and how the ones
//! already taken ride in the checkpoint, so that a resumed run neither loses nor redoes them.
//!
//! They are one `f64` tensor, `meta.progress`, of shape `[n, 13]`: per evaluation its
//! iteration, then the 12 COCO values in [`CocoSummary::NAMES`] order. Being in the archive,
//! they are exactly those the restored model had passed: a fallback to `previous.ot` drops the
//! later ones, which the resumed run takes again at the same points with the same weights.

use super::checkpoint::Loaded;
use super::TrainError;
use crate::eval::CocoSummary;
use crate::spec::config::JobConfig;
use tch::{Device, Kind, Tensor};

const KEY: &str = "meta.progress";
const COLUMNS: i64 = 1 + CocoSummary::NAMES.len() as i64;

/// The iterations of `eval.at` before the end (the final evaluation is the run's own), in
/// order: a fraction f lands on round(f × iterations), at least 1; two on one iteration are one.
pub fn iterations(cfg: &JobConfig) -> Vec<u64> {
    let n = cfg.train.iterations;
    let mut at: Vec<u64> = cfg
        .eval
        .at
        .iter()
        .map(|f| ((f * n as f64).round() as u64).max(1))
        .filter(|&it| it < n)
        .collect();
    at.dedup();
    at
}

/// The evaluations taken so far as a checkpoint tensor; none when there are none (as in a
/// checkpoint written before `eval.at` existed).
pub fn state(taken: &[(u64, CocoSummary)]) -> Option<(String, Tensor)> {
    if taken.is_empty() {
        return None;
    }
    let rows: Vec<f64> = taken
        .iter()
        .flat_map(|(it, m)| std::iter::once(*it as f64).chain(m.values()))
        .collect();
    let t = Tensor::from_slice(&rows).view([taken.len() as i64, COLUMNS]);
    Some((KEY.to_string(), t))
}

/// The evaluations a checkpoint holds (none when it has no `meta.progress`); a tensor of
/// another shape is an error naming the file, as for any tensor that does not fit.
pub fn restore(ck: &Loaded) -> Result<Vec<(u64, CocoSummary)>, TrainError> {
    let Some(t) = ck.tensors.get(KEY) else {
        return Ok(Vec::new());
    };
    let size = t.size();
    if size.len() != 2 || size[1] != COLUMNS {
        return Err(TrainError::Io {
            path: ck.path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("checkpoint tensor {KEY} has shape {size:?}, not [n, {COLUMNS}]"),
            ),
        });
    }
    let flat = t
        .to_device(Device::Cpu)
        .to_kind(Kind::Double)
        .contiguous()
        .view([-1]);
    let values = Vec::<f64>::try_from(&flat).map_err(|e| TrainError::Torch(e.to_string()))?;
    Ok(values
        .chunks(COLUMNS as usize)
        .map(|row| {
            let mut m = [0.0; 12];
            m.copy_from_slice(&row[1..]);
            (row[0] as u64, CocoSummary::from_values(m))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(iterations: u64, at: &[f64]) -> JobConfig {
        let mut c = JobConfig::default();
        c.train.iterations = iterations;
        c.eval.at = at.to_vec();
        c
    }

    #[test]
    fn fractions_land_on_rounded_iterations_before_the_end() {
        assert_eq!(iterations(&cfg(800, &[0.5, 0.75, 1.0])), [400, 600]);
        assert_eq!(iterations(&cfg(30, &[0.5, 0.75, 1.0])), [15, 23]);
        assert_eq!(iterations(&cfg(800, &[1.0])), Vec::<u64>::new());
        // Too short a schedule: points merge, none at 0, none at the end.
        assert_eq!(iterations(&cfg(2, &[0.1, 0.2, 0.5, 0.75, 1.0])), [1]);
    }

    /// A run stopped right after its evaluation at 50% resumes with it (the resumed loop starts
    /// past it, so it can only come from the checkpoint) and ends with the uninterrupted run's
    /// evaluations, bit for bit.
    #[test]
    fn a_resumed_run_keeps_the_evaluations_already_taken() {
        use super::super::tests::{fresh_dir, run_job};
        use crate::spec::config::*;
        let cfg = JobConfig {
            dataset: DatasetSpec::Synthetic(SyntheticSpec {
                image_size: 64,
                train_images: 32,
                val_images: 8,
                max_objects: 4,
                max_object_size: 40.0,
                ..Default::default()
            }),
            model: super::super::tests::tiny_model(),
            train: TrainSpec {
                iterations: 20,
                batch_size: 2,
                warmup_iterations: 2,
                log_every: 5,
                // No checkpoint of its own at 10 or 15: those of `eval.at` are the evaluations'.
                checkpoint_every: 20,
                ..Default::default()
            },
            ..Default::default()
        };
        let (a, b) = (fresh_dir("interim-full"), fresh_dir("interim-resumed"));
        let full = run_job(&cfg, &a, None).0.unwrap();
        let at: Vec<u64> = full.progress.iter().map(|(it, _)| *it).collect();
        assert_eq!(at, [10, 15, 20]);
        assert_eq!(
            full.progress[2].1, full.metrics,
            "the last point is the final evaluation"
        );
        let (r, _) = run_job(&cfg, &b, Some(10));
        assert!(
            matches!(r, Err(TrainError::Interrupted { iteration: 10 })),
            "{r:?}"
        );
        let (r, seen) = run_job(&cfg, &b, None);
        let resumed = r.unwrap();
        assert_eq!(resumed.resumed_from, Some(10));
        assert_eq!(seen.first().map(|p| p.iteration), Some(15));
        assert_eq!(resumed.progress, full.progress);
        let _ = (std::fs::remove_dir_all(&a), std::fs::remove_dir_all(&b));
    }

    #[test]
    fn evaluations_round_trip_through_a_checkpoint_tensor() {
        let a = CocoSummary::from_values(std::array::from_fn(|i| i as f64 / 100.0));
        let b = CocoSummary::from_values(std::array::from_fn(|i| 0.5 - i as f64 / 1000.0));
        let taken = vec![(400, a), (600, b)];
        let (key, t) = state(&taken).expect("two evaluations");
        assert!(state(&[]).is_none());
        let ck = |tensors: Vec<(String, Tensor)>| Loaded {
            iteration: 600,
            tensors: tensors.into_iter().collect(),
            path: "latest.ot".into(),
        };
        assert_eq!(restore(&ck(vec![(key, t)])).unwrap(), taken);
        assert_eq!(restore(&ck(Vec::new())).unwrap(), Vec::new());
        let wrong = ck(vec![(
            KEY.into(),
            Tensor::zeros([2, 5], (Kind::Double, Device::Cpu)),
        )]);
        let e = restore(&wrong).unwrap_err().to_string();
        assert!(
            e.contains("latest.ot") && e.contains("meta.progress"),
            "{e}"
        );
    }
}
