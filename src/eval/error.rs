//! The evaluation module's errors. Variants hold fields, not prose, so tests match on them; the
//! messages are one lowercase line naming the file, the record and field, what was found and
//! what is allowed. Inputs built in memory (not read from a file) are named `<ground truth>` and
//! `<detections>` in place of a path, and their records `annotations[i]` and `detections[i]`.

use std::path::PathBuf;

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// Reading or writing a file failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// The file (or directory) acted on.
        path: PathBuf,
        /// "read", "write", "create", "rename onto", "sync".
        action: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The file is not JSON of the expected shape.
    #[error("{}: {detail}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// serde's message prefixed with the record and field, with line and column
        /// (`annotations[3].bbox: invalid length 3, expected an array of length 4 at line 1 column 80`).
        detail: String,
    },

    /// A record names an image that the ground truth's `images` does not list.
    #[error("{}: {record}.image_id: image {found} is not in the ground truth; allowed: {allowed}", path.display())]
    UnknownImage {
        /// The file holding the record.
        path: PathBuf,
        /// The record: `annotations[i]` in a ground truth, `[i]` in a results file.
        record: String,
        /// The unknown image id.
        found: u64,
        /// The ground truth's image ids, or their count and range when many.
        allowed: String,
    },

    /// A record names a category that the ground truth's `categories` does not list.
    #[error("{}: {record}.category_id: category {found} is not in the ground truth; allowed: {allowed}", path.display())]
    UnknownCategory {
        /// The file holding the record.
        path: PathBuf,
        /// The record: `annotations[i]` in a ground truth, `[i]` in a results file.
        record: String,
        /// The unknown category id.
        found: u64,
        /// The ground truth's category ids, or their count and range when many.
        allowed: String,
    },

    /// Two annotations share an id. pycocotools indexes annotations by id and would silently
    /// evaluate the last one twice, so we refuse.
    #[error("{}: {record}.id: annotation id {id} is also used by {first}; allowed: unique ids", path.display())]
    DuplicateId {
        /// The ground-truth file.
        path: PathBuf,
        /// The later annotation with the id.
        record: String,
        /// The shared id.
        id: u64,
        /// The earlier annotation with the id.
        first: String,
    },

    /// A number that must be finite is not (only in-memory input: JSON has no NaN or infinity).
    #[error("{}: {record}.{field}: found {found}; allowed: a finite number", path.display())]
    NotFinite {
        /// The input holding the record.
        path: PathBuf,
        /// The record.
        record: String,
        /// `bbox`, `area` or `score`.
        field: &'static str,
        /// The value.
        found: f64,
    },

    /// More records than the u32 indices used inside the evaluator can address.
    #[error("{}: {what}: found {found}; allowed: at most {allowed}", path.display())]
    TooMany {
        /// The input.
        path: PathBuf,
        /// `images`, `categories` or `detections`.
        what: &'static str,
        /// How many there are.
        found: usize,
        /// The limit.
        allowed: usize,
    },

    /// `--protocol` names no protocol.
    #[error("unknown protocol {found:?}; allowed: coco, voc07, voc")]
    UnknownProtocol {
        /// The name given.
        found: String,
    },
}

impl EvalError {
    pub(crate) fn io(path: &std::path::Path, action: &'static str, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }
}
