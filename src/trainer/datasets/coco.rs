//! COCO detection JSON (`instances_*.json`).
//!
//! The annotations are read by the evaluation's own reader ([`crate::eval::parse_coco_gt`]: it
//! checks every record's image, category and id and names the record in its errors, and a
//! truncated file fails there with its line and column); the image records' `file_name`,
//! `width` and `height` and the category names are read here from the same bytes. Category ids
//! become labels in id order. The val file is the evaluation's ground truth as it is (crowd
//! boxes included, which the COCO protocol ignores), restricted to the first `max_val_images`
//! images when set. `width`/`height` missing from an image record are read from the file's
//! header.

use super::transform::dimensions;
use super::{Class, DatasetError, Entry, Notes, Real};
use crate::eval::{GroundTruth, GtSet};
use crate::spec::config::{BoxHandling, CocoSpec};
use crate::trainer::synth::Object;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One split: its images (in file order) and the ground truth read from the file.
struct Split {
    images: Vec<ImageInfo>,
    categories: Vec<Class>,
    gt: GtSet,
}

struct ImageInfo {
    id: u64,
    record: String,
    path: PathBuf,
    width: u32,
    height: u32,
}

fn read(path: &Path) -> Result<Vec<u8>, DatasetError> {
    std::fs::read(path).map_err(|e| DatasetError::io(path, "read", e))
}

/// The parts of a COCO file the evaluation's reader skips.
#[derive(serde::Deserialize)]
struct Info {
    images: Vec<Map<String, Value>>,
    categories: Vec<Map<String, Value>>,
}

fn field<'a>(rec: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    rec.get(name).filter(|v| !v.is_null())
}

/// Reads `file` (a COCO annotation file) and checks the first `limit` images exist in `dir`.
fn split(file: &Path, dir: &Path, limit: Option<u32>) -> Result<Split, DatasetError> {
    let bytes = read(file)?;
    let gt = crate::eval::parse_coco_gt(&bytes, file)?;
    let info: Info = serde_json::from_slice(&bytes)
        .map_err(|e| DatasetError::parse(file, "images/categories", e.to_string()))?;
    let n = limit.map_or(info.images.len(), |l| (l as usize).min(info.images.len()));
    let mut images = Vec::with_capacity(n);
    for (i, rec) in info.images.iter().take(n).enumerate() {
        let id = field(rec, "id").and_then(Value::as_u64).unwrap_or(0);
        let record = format!("images[{i}] (id {id})");
        let bad = |f: &str, what: &str| {
            DatasetError::parse(file, format!("{record}.{f}"), what.to_string())
        };
        let name = field(rec, "file_name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("file_name", "missing or not a string"))?;
        let path = dir.join(name);
        if !path.is_file() {
            return Err(DatasetError::MissingImage {
                path: file.to_path_buf(),
                record,
                image: path,
            });
        }
        let size = |f: &str| match field(rec, f) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|&s| (1..=u32::MAX as u64).contains(&s))
                .map(|s| Some(s as u32))
                .ok_or_else(|| bad(f, "not a positive integer")),
        };
        let (width, height) = match (size("width")?, size("height")?) {
            (Some(w), Some(h)) => (w, h),
            _ => dimensions(&path, &record)?,
        };
        images.push(ImageInfo {
            id,
            record: format!("{}: {record}", file.display()),
            path,
            width,
            height,
        });
    }
    let mut categories = Vec::with_capacity(info.categories.len());
    for (i, rec) in info.categories.iter().enumerate() {
        let id = field(rec, "id").and_then(Value::as_u64).ok_or_else(|| {
            DatasetError::parse(
                file,
                format!("categories[{i}].id"),
                "missing or not an integer",
            )
        })?;
        let name = field(rec, "name").and_then(Value::as_str).unwrap_or("");
        categories.push(Class {
            id,
            name: if name.is_empty() {
                id.to_string()
            } else {
                name.to_string()
            },
        });
    }
    categories.sort_by_key(|c| c.id);
    categories.dedup_by_key(|c| c.id);
    Ok(Split {
        images,
        categories,
        gt,
    })
}

/// The training entries of a split: objects cleaned, crowd boxes handled as `crowd` says.
fn entries(
    s: &Split,
    labels: &HashMap<u64, usize>,
    crowd: BoxHandling,
    file: &Path,
    notes: &mut Notes,
) -> Vec<Entry> {
    let mut by_image: HashMap<u64, Vec<(usize, &GroundTruth)>> = HashMap::new();
    for (i, a) in s.gt.annotations.iter().enumerate() {
        by_image.entry(a.image_id).or_default().push((i, a));
    }
    s.images
        .iter()
        .map(|im| {
            let (mut objects, mut ignore) = (Vec::new(), Vec::new());
            for &(i, a) in by_image.get(&im.id).map(Vec::as_slice).unwrap_or(&[]) {
                if a.iscrowd && crowd == BoxHandling::Drop {
                    continue;
                }
                let [x, y, w, h] = a.bbox;
                let at = || format!("{}: annotations[{i}] (id {})", file.display(), a.id);
                let Some(bbox) = notes.clean([x, y, x + w, y + h], im.width, im.height, at) else {
                    continue;
                };
                if a.iscrowd && crowd == BoxHandling::Ignore {
                    ignore.push(bbox);
                } else {
                    let class = labels[&a.category_id];
                    objects.push(Object { class, bbox });
                }
            }
            Entry {
                path: im.path.clone(),
                record: im.record.clone(),
                id: im.id,
                width: im.width,
                height: im.height,
                objects,
                ignore,
            }
        })
        .collect()
}

fn describe(c: &[Class]) -> String {
    let ids: Vec<String> = c.iter().map(|c| c.id.to_string()).collect();
    format!("[{}]", ids.join(", "))
}

/// Reads a COCO dataset.
pub fn open(spec: &CocoSpec) -> Result<Real, DatasetError> {
    let p = spec.pipeline();
    let train = split(&spec.train, &spec.images, p.max_train_images)?;
    let val_dir = spec.val_images.as_ref().unwrap_or(&spec.images);
    let mut val = split(&spec.val, val_dir, p.max_val_images)?;
    if train.categories.is_empty() {
        return Err(DatasetError::Empty {
            path: spec.train.clone(),
            what: "no categories".into(),
            allowed: "one or more categories",
        });
    }
    if val
        .categories
        .iter()
        .map(|c| c.id)
        .ne(train.categories.iter().map(|c| c.id))
    {
        return Err(DatasetError::Categories {
            path: spec.val.clone(),
            found: describe(&val.categories),
            expected: describe(&train.categories),
        });
    }
    let labels: HashMap<u64, usize> = train
        .categories
        .iter()
        .enumerate()
        .map(|(k, c)| (c.id, k))
        .collect();
    let mut notes = Notes::default();
    let mut train_entries = entries(&train, &labels, spec.crowd, &spec.train, &mut notes);
    let before = train_entries.len();
    train_entries.retain(|e| !e.objects.is_empty());
    notes.skipped_images = before - train_entries.len();
    if train_entries.is_empty() {
        return Err(DatasetError::Empty {
            path: spec.train.clone(),
            what: "no training image has an object".into(),
            allowed: "at least one image with a non-crowd box of positive size",
        });
    }
    let val_entries = entries(&val, &labels, spec.crowd, &spec.val, &mut Notes::default());
    if val_entries.is_empty() {
        return Err(DatasetError::Empty {
            path: spec.val.clone(),
            what: "no images".into(),
            allowed: "at least one image",
        });
    }
    if p.max_val_images.is_some() {
        let kept: std::collections::HashSet<u64> = val_entries.iter().map(|e| e.id).collect();
        val.gt.image_ids.retain(|i| kept.contains(i));
        val.gt.annotations.retain(|a| kept.contains(&a.image_id));
    }
    Ok(Real {
        kind: "coco",
        classes: train.categories,
        train: train_entries,
        val: val_entries,
        val_gt: val.gt,
        drop_in_ignore: false,
        pipeline: p,
        notes,
    })
}
