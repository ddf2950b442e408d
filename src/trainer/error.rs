//! The trainer's error: variants hold fields (tests match on them), messages are one lowercase line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A non-finite loss (NaN or ±inf), found at a log or checkpoint step.
    #[error("training diverged at iteration {iteration}: the {loss} loss is not finite")]
    Diverged { iteration: u64, loss: String },
    /// The stop flag was set; a checkpoint of `iteration` completed iterations was saved.
    #[error("interrupted at iteration {iteration}; the checkpoint was saved")]
    Interrupted { iteration: u64 },
    /// libtorch could not allocate memory on the device.
    #[error("out of memory on {device}: {detail}")]
    OutOfMemory { device: String, detail: String },
    /// A valid config that this trainer cannot run yet.
    #[error("unsupported: {what}")]
    Unsupported { what: String },
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The dataset could not be read: a missing or undecodable image, a malformed annotation
    /// (the message names the file and the record).
    #[error("dataset: {0}")]
    Dataset(#[from] super::datasets::DatasetError),
    /// The COCO evaluation refused the detections or the ground truth.
    #[error("evaluation failed: {0}")]
    Eval(String),
    /// A weights file that cannot be read or does not fit the model (the message lists the
    /// missing, unexpected and mis-shaped keys).
    #[error("weights {}: {message}", path.display())]
    Weights { path: PathBuf, message: String },
    /// `sweep predict --job`: the directory is not a finished job's (the message says what
    /// is missing).
    #[error("{}: {message}", path.display())]
    Job { path: PathBuf, message: String },
    /// Any other libtorch failure (its message, first line).
    #[error("libtorch error: {0}")]
    Torch(String),
}

impl TrainError {
    /// Classifies a panic raised inside tch (libtorch errors surface as panics through
    /// `unwrap` in tch's infallible API).
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>, device: &str) -> TrainError {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        let first = msg
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        if msg.contains("out of memory") || msg.contains("CUDA error: out of memory") {
            TrainError::OutOfMemory {
                device: device.to_string(),
                detail: first,
            }
        } else {
            TrainError::Torch(first)
        }
    }
}
