//! `sweep predict --job DIR`: a finished job's own model (its `config.yaml` and the weights of
//! its last checkpoint) on a COCO split or a folder of images, written as a COCO results JSON.
//!
//! The job's session is built as training built it and evaluates exactly as the job's
//! evaluation did (same input size and padding, same post-processing, detections mapped back
//! to each original image, labels back to the job's category ids); only the val images are
//! replaced by the ones asked for. On the job's own val split, with the job's thread count,
//! the file equals the job's `detections.json`.
//!
//! The job's dataset is opened for its categories (a job on data from disk needs its
//! annotation files where the config says); the images asked for need no annotations.

use super::checkpoint;
use super::datasets::transform::dimensions;
use super::datasets::{Class, Dataset, Entry, Notes, Real};
use super::predict::image_list;
use super::TrainError;
use crate::eval::GtSet;
use crate::journal::JobDir;
use crate::spec::config::Pipeline;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::Device;

/// What to run and on what.
#[derive(Debug, Clone)]
pub struct JobPredictOptions {
    /// A finished job's directory (`config.yaml`, `result.json`, `checkpoint/latest.ot`).
    pub job: PathBuf,
    pub images: PathBuf,
    /// A COCO file naming the images (absent: every image of `images`, ids 1, 2, …).
    pub coco: Option<PathBuf>,
    pub out: PathBuf,
    pub device: Device,
}

fn job_err(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Job {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The config and the final checkpoint's path of a finished job, or why there are none.
fn finished_job(dir: &Path) -> Result<(crate::spec::JobConfig, PathBuf), TrainError> {
    let job = JobDir::new(dir);
    let config = job.config_path();
    if !dir.is_dir() || !config.exists() {
        return Err(job_err(
            dir,
            "not a job directory (no config.yaml); give one job's directory, \
             e.g. results/<sweep>/jobs/<id> or the --out of `sweep train`",
        ));
    }
    let result = job
        .read_result()
        .map_err(|e| job_err(&dir.join("result.json"), e.to_string()))?;
    match result {
        None => {
            return Err(job_err(
                dir,
                "the job has not finished (no result.json): its weights are not final",
            ))
        }
        Some(r) if r.status != "done" => {
            return Err(job_err(
                dir,
                format!(
                    "the job ended `{}`{}: it has no trained model to run",
                    r.status,
                    r.diverged_at
                        .map(|i| format!(" at iteration {i}"))
                        .unwrap_or_default()
                ),
            ))
        }
        Some(_) => {}
    }
    let cfg = crate::spec::read_config(&config).map_err(|e| job_err(&config, e.to_string()))?;
    let weights = dir.join(checkpoint::DIR).join("latest.ot");
    if !weights.exists() {
        return Err(job_err(
            dir,
            format!(
                "no final weights ({}/latest.ot is missing)",
                checkpoint::DIR
            ),
        ));
    }
    Ok((cfg, weights))
}

/// The job's data with its val split replaced by `images`: same categories, same input size.
fn with_images(
    data: Dataset,
    images: Vec<(u64, PathBuf)>,
    coco: Option<&Path>,
) -> Result<Dataset, TrainError> {
    let mut val = Vec::with_capacity(images.len());
    for (i, (id, path)) in images.into_iter().enumerate() {
        let record = match coco {
            Some(ann) => format!("{}: images[{i}] (id {id})", ann.display()),
            None => format!("image {id}"),
        };
        let (width, height) = dimensions(&path, &record)?;
        val.push(Entry {
            path,
            record,
            id,
            width,
            height,
            objects: Vec::new(),
            ignore: Vec::new(),
        });
    }
    let real = match data {
        Dataset::Real(r) => Real { val, ..r },
        Dataset::Synthetic(s) => Real {
            kind: "images",
            // The synthetic set's records: label k is category k + 1.
            classes: (0..s.spec.num_classes as u64)
                .map(|k| Class {
                    id: k + 1,
                    name: format!("class {}", k + 1),
                })
                .collect(),
            // Never drawn from (no training here), but a loader needs a list.
            train: val.clone(),
            val,
            val_gt: GtSet::default(),
            drop_in_ignore: false,
            pipeline: Pipeline {
                image_size: s.spec.image_size,
                flip: false,
                multi_scale: None,
                max_train_images: None,
                max_val_images: None,
            },
            notes: Notes::default(),
        },
    };
    Ok(Dataset::Real(real))
}

/// Runs the job's model over the images and writes the results JSON; returns the detections
/// written.
pub fn predict_job(o: &JobPredictOptions) -> Result<usize, TrainError> {
    let (cfg, weights) = finished_job(&o.job)?;
    let ck = checkpoint::load_final(&weights, o.device)?;
    if ck.iteration != cfg.train.iterations {
        return Err(job_err(
            &weights,
            format!(
                "holds iteration {} but the job ran {}: not its final weights",
                ck.iteration, cfg.train.iterations
            ),
        ));
    }
    let (images, _) = image_list(&o.images, o.coco.as_deref())?;
    let data = with_images(Dataset::open(&cfg.dataset)?, images, o.coco.as_deref())?;
    let mut session = super::job::open_with(&cfg, o.device, Arc::new(data))?;
    session.restore(&ck)?;
    let (dets, _) = session.evaluate()?;
    checkpoint::write_atomic(&o.out, super::run::detections_json(&dets).as_bytes())?;
    Ok(dets.len())
}
