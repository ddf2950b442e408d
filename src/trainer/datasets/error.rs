//! Why a dataset could not be read. Variants hold fields, not prose; every message is one
//! lowercase line that names the file and the record in it (`images[3] (id 42)`,
//! `object[1].bndbox.xmin`, `line 7`), what was found and what is allowed.

use std::path::PathBuf;

/// An error of reading a dataset from disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// A file or directory could not be read.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        /// "read", "list", "open".
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A COCO annotation file the evaluation's reader refused (its message names the record).
    #[error("{0}")]
    Coco(#[from] crate::eval::EvalError),
    /// A record of an annotation file is malformed.
    #[error("{}: {record}: {detail}", path.display())]
    Parse {
        path: PathBuf,
        record: String,
        detail: String,
    },
    /// An annotated image is not on disk.
    #[error("{}: {record}: image {} does not exist", path.display(), image.display())]
    MissingImage {
        /// The annotation file naming it.
        path: PathBuf,
        record: String,
        image: PathBuf,
    },
    /// An object's class is not one of the dataset's.
    #[error("{}: {record}: category {found} is not one of the dataset's; allowed: {allowed}", path.display())]
    UnknownCategory {
        path: PathBuf,
        record: String,
        found: String,
        allowed: String,
    },
    /// An image file that does not decode as JPEG or PNG.
    #[error("{}: cannot decode the image of {record}: {detail}", path.display())]
    Decode {
        /// The image file.
        path: PathBuf,
        record: String,
        detail: String,
    },
    /// The decoded image is not the size its annotation says (the boxes would not fit it).
    #[error("{}: the image of {record} is {}x{} but its annotation says {}x{}", path.display(), found.0, found.1, expected.0, expected.1)]
    SizeMismatch {
        path: PathBuf,
        record: String,
        found: (u32, u32),
        expected: (u32, u32),
    },
    /// Nothing usable: no training image with an object, no val image, no class.
    #[error("{}: {what}; allowed: {allowed}", path.display())]
    Empty {
        path: PathBuf,
        what: String,
        allowed: &'static str,
    },
    /// The val file's categories are not the training file's (labels would not mean the same).
    #[error("{}: categories {found} differ from the training file's {expected}", path.display())]
    Categories {
        path: PathBuf,
        found: String,
        expected: String,
    },
    /// A loader thread panicked (a bug, not a data problem).
    #[error("the data loader failed: {detail}")]
    Loader { detail: String },
}

impl DatasetError {
    pub(crate) fn io(path: &std::path::Path, action: &'static str, e: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.to_path_buf(),
            action,
            source: e,
        }
    }

    pub(crate) fn parse(
        path: &std::path::Path,
        record: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        DatasetError::Parse {
            path: path.to_path_buf(),
            record: record.into(),
            detail: detail.into(),
        }
    }
}
