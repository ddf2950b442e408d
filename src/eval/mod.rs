//! Evaluation: plain boxes in, metrics out. No tch here, so the tables can be recomputed (and this
//! module tested) without libtorch.
//!
//! Two protocols:
//! - [`coco`]: a re-implementation of pycocotools 2.0.11 `COCOeval` for bounding boxes that is
//!   equal to it (to the last bit on every summary value in our golden tests, `tests/golden_coco.py`),
//!   because the papers' tables were made with pycocotools and a "close" evaluator would move the
//!   third decimal we compare against. Every place where the reference does something surprising
//!   is reproduced and commented where it happens.
//! - [`voc`]: the Pascal VOC `voc_eval.py` logic (IoU > 0.5, +1 pixel convention, difficult ignored),
//!   2007 11-point and 2010+ all-point AP.
//!
//! Input files use the COCO formats (annotation JSON for the ground truth, results JSON for the
//! detections; see [`json`]); `sweep eval` is [`command`].
//!
//! Floats in JSON must be parsed correctly rounded (as Python does) for bitwise agreement: the crate
//! enables serde_json's `float_roundtrip` feature (a test in `tests/it/eval_coco.rs` checks it).

pub mod coco;
mod error;
mod index;
pub mod json;
mod numeric;
mod records;
pub mod voc;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use coco::{CocoResult, CocoSummary};
pub use error::EvalError;
pub use json::{
    coco_dt_to_json, coco_gt_to_json, load_coco_dt, load_coco_gt, parse_coco_dt, parse_coco_gt,
    write_coco_dt, write_coco_gt,
};
pub use voc::{VocProtocol, VocResult};

/// One ground-truth object, as in a COCO annotation file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Annotation id. Must be unique. Id 0 is allowed but, as in pycocotools, a detection matched
    /// to it counts as unmatched (the reference stores the matched id and tests it against 0).
    pub id: u64,
    /// The image, one of [`GtSet::image_ids`].
    pub image_id: u64,
    /// The category, one of [`GtSet::category_ids`].
    pub category_id: u64,
    /// `[x, y, w, h]` in pixels, continuous coordinates (COCO).
    pub bbox: [f64; 4],
    /// The object's area as stored in the file (COCO: the mask area). The COCO area ranges use
    /// this, not `w * h`.
    pub area: f64,
    /// A crowd region: ignored by COCO (matches are neither TP nor FP), treated as difficult by VOC.
    pub iscrowd: bool,
    /// VOC "difficult": ignored by VOC; not used by the COCO protocol (pycocotools has no such flag).
    pub difficult: bool,
}

/// One detection, as in a COCO results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The image; must be one of the ground truth's.
    pub image_id: u64,
    /// The category; must be one of the ground truth's.
    pub category_id: u64,
    /// `[x, y, w, h]` in pixels, continuous coordinates (COCO). Its area for the COCO area
    /// ranges is `w * h`, as pycocotools' `loadRes` sets it.
    pub bbox: [f64; 4],
    /// Confidence; higher ranks first.
    pub score: f64,
}

/// A ground-truth set: which images and categories exist (an image or category without any
/// annotation still counts), and the annotations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GtSet {
    /// The evaluated images (`images[].id`); order and duplicates do not matter.
    pub image_ids: Vec<u64>,
    /// The evaluated categories (`categories[].id`); order and duplicates do not matter.
    pub category_ids: Vec<u64>,
    /// The objects; ids unique, images and categories among the lists above.
    pub annotations: Vec<GroundTruth>,
}

/// Which protocol `sweep eval` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// pycocotools COCOeval, bbox.
    Coco,
    /// Pascal VOC 2007: 11-point interpolated AP.
    Voc07,
    /// Pascal VOC 2010+: area under the precision envelope.
    Voc,
}

impl Protocol {
    /// The names accepted by `--protocol`, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["coco", "voc07", "voc"];
}

impl std::str::FromStr for Protocol {
    type Err = EvalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "coco" => Ok(Protocol::Coco),
            "voc07" => Ok(Protocol::Voc07),
            "voc" => Ok(Protocol::Voc),
            _ => Err(EvalError::UnknownProtocol {
                found: s.to_string(),
            }),
        }
    }
}

/// What `sweep eval --gt G --dt D [--protocol coco|voc07|voc] [--json]` prints (no trailing newline).
///
/// COCO: the 12-line pycocotools summary, or with `json` one object whose keys are
/// [`CocoSummary::NAMES`] (-1 where undefined). VOC: one line per category and the mAP, or with
/// `json` `{"mAP": .., "per_category": {"<category id>": ap, ..}}` (-1 for a category without
/// non-difficult ground truth, which the mean leaves out).
///
/// An empty results file (`[]`) evaluates as "nothing detected" (AP 0 where there is ground
/// truth) rather than failing as pycocotools' `loadRes` does.
pub fn command(gt: &Path, dt: &Path, protocol: Protocol, json: bool) -> Result<String, EvalError> {
    let gts = load_coco_gt(gt)?;
    let dts = load_coco_dt(dt, &gts)?;
    match protocol {
        Protocol::Coco => {
            let result = coco::evaluate(&gts, &dts)?;
            Ok(if json {
                result.summary.to_json()
            } else {
                result.summary.to_text()
            })
        }
        Protocol::Voc07 | Protocol::Voc => {
            let p = if protocol == Protocol::Voc07 {
                VocProtocol::Voc07
            } else {
                VocProtocol::Voc
            };
            let result = voc::evaluate(&gts, &dts, p)?;
            Ok(if json {
                result.to_json()
            } else {
                result.to_text(p)
            })
        }
    }
}
