//! COCO JSON files: the annotation file (ground truth) and the results file (detections).
//!
//! Read: only the fields evaluation needs; other keys are skipped. Ground truth: `images[].id`,
//! `categories[].id`, `annotations[]` with `id`, `image_id`, `category_id`, `bbox`, `area`
//! (required: pycocotools fails without them) and `iscrowd`, `difficult` (optional, 0/1 or
//! bool, default 0); `annotations` may be absent (an image-info file: nothing to evaluate).
//! Results: a list of `{image_id, category_id, bbox, score}`; a result's own `id` and `area` are
//! ignored, as pycocotools' `loadRes` overwrites them. Records must name listed images and
//! categories; the error says which record, which id, and what is allowed.
//!
//! Written files go to a temporary file in the same directory, are synced, then renamed over the
//! target, so a reader never sees half a file.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use serde::de::{self, MapAccess};
use serde::{Deserialize, Serialize};

use super::index::{check_gt, finite, Catalog};
use super::records::{next_key, required, skip, value, Flag, Record, Records};
use super::{Detection, EvalError, GroundTruth, GtSet};

/// A record with only an `id` that matters (`images[]`, `categories[]`).
struct IdRecord(u64);

impl Record for IdRecord {
    const FIELDS: &'static [&'static str] = &["id"];
    const EXPECTING: &'static str = "an object with an id";
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut id = None;
        while let Some(k) = next_key(&mut map, Self::FIELDS)? {
            match k {
                Some(_) => id = Some(value(&mut map, "id")?),
                None => skip(&mut map)?,
            }
        }
        Ok(IdRecord(required(id, "id")?))
    }
}

impl Record for GroundTruth {
    const FIELDS: &'static [&'static str] = &[
        "id",
        "image_id",
        "category_id",
        "bbox",
        "area",
        "iscrowd",
        "difficult",
    ];
    const EXPECTING: &'static str = "an annotation object";
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut id, mut image_id, mut category_id, mut bbox, mut area) =
            (None, None, None, None, None);
        let (mut iscrowd, mut difficult) = (false, false);
        while let Some(k) = next_key(&mut map, Self::FIELDS)? {
            match k {
                Some(0) => id = Some(value(&mut map, "id")?),
                Some(1) => image_id = Some(value(&mut map, "image_id")?),
                Some(2) => category_id = Some(value(&mut map, "category_id")?),
                Some(3) => bbox = Some(value(&mut map, "bbox")?),
                Some(4) => area = Some(value(&mut map, "area")?),
                Some(5) => iscrowd = value::<Flag, _>(&mut map, "iscrowd")?.0,
                Some(_) => difficult = value::<Flag, _>(&mut map, "difficult")?.0,
                None => skip(&mut map)?,
            }
        }
        Ok(GroundTruth {
            id: required(id, "id")?,
            image_id: required(image_id, "image_id")?,
            category_id: required(category_id, "category_id")?,
            bbox: required(bbox, "bbox")?,
            area: required(area, "area")?,
            iscrowd,
            difficult,
        })
    }
}

impl Record for Detection {
    const FIELDS: &'static [&'static str] = &["image_id", "category_id", "bbox", "score"];
    const EXPECTING: &'static str = "a result object {image_id, category_id, bbox, score}";
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut image_id, mut category_id, mut bbox, mut score) = (None, None, None, None);
        while let Some(k) = next_key(&mut map, Self::FIELDS)? {
            match k {
                Some(0) => image_id = Some(value(&mut map, "image_id")?),
                Some(1) => category_id = Some(value(&mut map, "category_id")?),
                Some(2) => bbox = Some(value(&mut map, "bbox")?),
                Some(_) => score = Some(value(&mut map, "score")?),
                None => skip(&mut map)?,
            }
        }
        Ok(Detection {
            image_id: required(image_id, "image_id")?,
            category_id: required(category_id, "category_id")?,
            bbox: required(bbox, "bbox")?,
            score: required(score, "score")?,
        })
    }
}

/// The top level of an annotation file.
struct GtFile {
    images: Vec<IdRecord>,
    categories: Vec<IdRecord>,
    annotations: Vec<GroundTruth>,
}

impl<'de> Deserialize<'de> for GtFile {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = GtFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a COCO annotation object {images, annotations, categories}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GtFile, A::Error> {
                const FIELDS: &[&str] = &["images", "categories", "annotations"];
                let (mut images, mut categories, mut annotations) = (None, None, None);
                while let Some(k) = next_key(&mut map, FIELDS)? {
                    match k {
                        Some(0) => images = Some(value::<Records<_>, _>(&mut map, "images")?.0),
                        Some(1) => {
                            categories = Some(value::<Records<_>, _>(&mut map, "categories")?.0)
                        }
                        Some(_) => {
                            annotations = Some(value::<Records<_>, _>(&mut map, "annotations")?.0)
                        }
                        None => skip(&mut map)?,
                    }
                }
                Ok(GtFile {
                    images: required(images, "images")?,
                    categories: required(categories, "categories")?,
                    annotations: annotations.unwrap_or_default(),
                })
            }
        }
        d.deserialize_map(V)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, EvalError> {
    std::fs::read(path).map_err(|e| EvalError::io(path, "read", e))
}

/// serde's message, with the leading "." of a top-level field error dropped.
fn json_error(path: &Path, e: serde_json::Error) -> EvalError {
    let msg = e.to_string();
    let detail = msg.strip_prefix('.').map(str::to_string).unwrap_or(msg);
    EvalError::Json {
        path: path.to_path_buf(),
        detail,
    }
}

/// Reads a COCO annotation file.
pub fn load_coco_gt(path: &Path) -> Result<GtSet, EvalError> {
    parse_coco_gt(&read(path)?, path)
}

/// Parses the bytes of a COCO annotation file; `path` names it in errors.
pub fn parse_coco_gt(bytes: &[u8], path: &Path) -> Result<GtSet, EvalError> {
    let file: GtFile = serde_json::from_slice(bytes).map_err(|e| json_error(path, e))?;
    let gt = GtSet {
        image_ids: file.images.into_iter().map(|r| r.0).collect(),
        category_ids: file.categories.into_iter().map(|r| r.0).collect(),
        annotations: file.annotations,
    };
    check_gt(&gt, &Catalog::new(&gt, path)?, path)?;
    Ok(gt)
}

/// Reads a COCO results file whose records must refer to `gt`'s images and categories.
pub fn load_coco_dt(path: &Path, gt: &GtSet) -> Result<Vec<Detection>, EvalError> {
    parse_coco_dt(&read(path)?, path, gt)
}

/// Parses the bytes of a COCO results file; `path` names it in errors.
pub fn parse_coco_dt(bytes: &[u8], path: &Path, gt: &GtSet) -> Result<Vec<Detection>, EvalError> {
    let Records(dts) =
        serde_json::from_slice::<Records<Detection>>(bytes).map_err(|e| json_error(path, e))?;
    let catalog = Catalog::new(gt, path)?;
    for (i, d) in dts.iter().enumerate() {
        let rec = || format!("[{i}]");
        catalog.key(d.image_id, d.category_id, path, rec)?;
        for v in d.bbox {
            finite(v, path, rec, "bbox")?;
        }
        finite(d.score, path, rec, "score")?;
    }
    Ok(dts)
}

/// The results JSON of `dts` (a list of `{image_id, category_id, bbox, score}`).
pub fn coco_dt_to_json(dts: &[Detection]) -> String {
    serde_json::to_string(dts).expect("detections always serialize")
}

/// Writes `dts` as a COCO results file, atomically.
pub fn write_coco_dt(path: &Path, dts: &[Detection]) -> Result<(), EvalError> {
    write_atomic(path, |w| serde_json::to_writer(w, dts))
}

/// A COCO annotation record as written: flags as 0/1 integers, `difficult` only when set.
#[derive(Serialize)]
struct OutAnn<'a> {
    id: u64,
    image_id: u64,
    category_id: u64,
    bbox: &'a [f64; 4],
    area: f64,
    iscrowd: u8,
    #[serde(skip_serializing_if = "is_zero")]
    difficult: u8,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

#[derive(Serialize)]
struct OutId {
    id: u64,
    /// pycocotools never reads it, but some tools require it; the id as text.
    name: String,
}

#[derive(Serialize)]
struct OutGt<'a> {
    images: Vec<OutId>,
    annotations: Vec<OutAnn<'a>>,
    categories: Vec<OutId>,
}

fn out_gt(gt: &GtSet) -> OutGt<'_> {
    let ids = |v: &[u64]| {
        v.iter()
            .map(|&id| OutId {
                id,
                name: id.to_string(),
            })
            .collect()
    };
    OutGt {
        images: ids(&gt.image_ids),
        categories: ids(&gt.category_ids),
        annotations: gt
            .annotations
            .iter()
            .map(|a| OutAnn {
                id: a.id,
                image_id: a.image_id,
                category_id: a.category_id,
                bbox: &a.bbox,
                area: a.area,
                iscrowd: a.iscrowd.into(),
                difficult: a.difficult.into(),
            })
            .collect(),
    }
}

/// The COCO annotation JSON of `gt`.
pub fn coco_gt_to_json(gt: &GtSet) -> String {
    serde_json::to_string(&out_gt(gt)).expect("a ground truth always serializes")
}

/// Writes `gt` as a COCO annotation file, atomically.
pub fn write_coco_gt(path: &Path, gt: &GtSet) -> Result<(), EvalError> {
    write_atomic(path, |w| serde_json::to_writer(w, &out_gt(gt)))
}

/// The journal's atomic replace (temp file, fsync, rename, fsync dir), streaming the JSON.
fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), serde_json::Error>,
) -> Result<(), EvalError> {
    crate::journal::atomic::write_atomic_with(path, |w| write(w).map_err(std::io::Error::from))
        .map_err(|e| EvalError::io(path, "write", e))
}
