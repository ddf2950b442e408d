//! VisDrone2019-DET: `ROOT/SPLIT/annotations/NAME.txt` beside `ROOT/SPLIT/images/NAME.jpg`,
//! one object a line: `left,top,width,height,score,category,truncation,occlusion` (pixels,
//! continuous, left/top from 0; a trailing comma is allowed).
//!
//! - Category 0 ("ignored regions") and any box with score 0 are ignore regions: no loss inside
//!   in training; val detections mostly inside one are dropped before evaluation
//!   ([`super::IGNORE_FRACTION`]); they are not ground truth.
//! - Categories 1–10 are the classes ([`CLASSES`]), category id = VisDrone's category.
//! - Category 11 ("others") as the spec's `others` says: `ignore` (an ignore region, in
//!   evaluation too), `drop` (not used anywhere), or `train` (an 11th class, evaluated too).
//!
//! Image ids are positions in the split's sorted annotation files, from 1. The annotations do
//! not give the image size, so it is read from each image's header.

use super::transform::dimensions;
use super::{Class, DatasetError, Entry, Notes, Real};
use crate::eval::{GroundTruth, GtSet};
use crate::spec::config::{BoxHandling, VisdroneSpec};
use crate::trainer::synth::Object;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The ten classes, category ids 1 to 10.
pub const CLASSES: [&str; 10] = [
    "pedestrian",
    "people",
    "bicycle",
    "car",
    "van",
    "truck",
    "tricycle",
    "awning-tricycle",
    "bus",
    "motor",
];

/// One line of an annotation file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// `[left, top, width, height]`.
    pub bbox: [f64; 4],
    pub score: u32,
    pub category: u32,
}

/// Parses an annotation file's text; `path` names it in errors.
pub fn parse(src: &str, path: &Path) -> Result<Vec<(usize, Line)>, DatasetError> {
    let mut out = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let record = format!("line {}", i + 1);
        let fields: Vec<&str> = line
            .trim_end_matches(',')
            .split(',')
            .map(str::trim)
            .collect();
        if fields.len() < 6 {
            let detail = format!(
                "{} fields; allowed: left,top,width,height,score,category[,truncation,occlusion]",
                fields.len()
            );
            return Err(DatasetError::parse(path, record, detail));
        }
        let num = |k: usize, name: &str| -> Result<f64, DatasetError> {
            fields[k]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    DatasetError::parse(
                        path,
                        format!("{record}.{name}"),
                        format!("{:?} is not a number", fields[k]),
                    )
                })
        };
        let int = |k: usize, name: &str| -> Result<u32, DatasetError> {
            fields[k].parse::<u32>().map_err(|_| {
                let detail = format!("{:?} is not a non-negative integer", fields[k]);
                DatasetError::parse(path, format!("{record}.{name}"), detail)
            })
        };
        let bbox = [
            num(0, "left")?,
            num(1, "top")?,
            num(2, "width")?,
            num(3, "height")?,
        ];
        let (score, category) = (int(4, "score")?, int(5, "category")?);
        if category > 11 {
            return Err(DatasetError::UnknownCategory {
                path: path.to_path_buf(),
                record: format!("{record}.category"),
                found: category.to_string(),
                allowed: "0 (ignored region), 1 to 10 (the classes), 11 (others)".into(),
            });
        }
        out.push((
            i + 1,
            Line {
                bbox,
                score,
                category,
            },
        ));
    }
    Ok(out)
}

/// One image of a split with its lines.
struct Annotated {
    txt: PathBuf,
    image: PathBuf,
    width: u32,
    height: u32,
    lines: Vec<(usize, Line)>,
}

fn read_split(dir: &Path, limit: Option<u32>) -> Result<Vec<Annotated>, DatasetError> {
    let ann = dir.join("annotations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&ann)
        .map_err(|e| DatasetError::io(&ann, "list", e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files.truncate(limit.map_or(usize::MAX, |l| l as usize));
    files
        .par_iter()
        .map(|txt| {
            let stem = txt
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let candidates =
                ["jpg", "jpeg", "png"].map(|x| dir.join("images").join(format!("{stem}.{x}")));
            let image = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
                DatasetError::MissingImage {
                    path: txt.clone(),
                    record: "the annotated image".into(),
                    image: candidates[0].clone(),
                }
            })?;
            let src = std::fs::read_to_string(txt).map_err(|e| DatasetError::io(txt, "read", e))?;
            let lines = parse(&src, txt)?;
            let (width, height) = dimensions(image, &txt.display().to_string())?;
            Ok(Annotated {
                txt: txt.clone(),
                image: image.clone(),
                width,
                height,
                lines,
            })
        })
        .collect()
}

/// Whether a line is an ignore region under `others`.
fn is_ignore(l: &Line, others: BoxHandling) -> bool {
    l.category == 0 || l.score == 0 || (l.category == 11 && others == BoxHandling::Ignore)
}

/// Whether a line is an object (ground truth and training target) under `others`.
fn is_object(l: &Line, others: BoxHandling) -> bool {
    !is_ignore(l, others) && (l.category <= 10 || others == BoxHandling::Train)
}

fn entry(a: &Annotated, id: u64, others: BoxHandling, notes: &mut Notes) -> Entry {
    let (mut objects, mut ignore) = (Vec::new(), Vec::new());
    for (n, l) in &a.lines {
        let [x, y, w, h] = l.bbox;
        let at = || format!("{}: line {n}", a.txt.display());
        if is_ignore(l, others) {
            // Regions are cleaned too but not counted: they are not objects.
            if let Some(r) = Notes::default().clean([x, y, x + w, y + h], a.width, a.height, at) {
                ignore.push(r);
            }
        } else if is_object(l, others) {
            if let Some(bbox) = notes.clean([x, y, x + w, y + h], a.width, a.height, at) {
                objects.push(Object {
                    class: l.category as usize - 1,
                    bbox,
                });
            }
        }
    }
    Entry {
        path: a.image.clone(),
        record: a.txt.display().to_string(),
        id,
        width: a.width,
        height: a.height,
        objects,
        ignore,
    }
}

/// Reads a VisDrone dataset.
pub fn open(spec: &VisdroneSpec) -> Result<Real, DatasetError> {
    let p = spec.pipeline();
    let train = read_split(&spec.root.join(&spec.train), p.max_train_images)?;
    let val = read_split(&spec.root.join(&spec.val), p.max_val_images)?;
    let mut notes = Notes::default();
    let mut train_entries = Vec::with_capacity(train.len());
    for (k, a) in train.iter().enumerate() {
        let e = entry(a, k as u64 + 1, spec.others, &mut notes);
        if e.objects.is_empty() {
            notes.skipped_images += 1;
        } else {
            train_entries.push(e);
        }
    }
    let empty = |split: &str, what: &str| DatasetError::Empty {
        path: spec.root.join(split).join("annotations"),
        what: what.into(),
        allowed: "annotation files with objects",
    };
    if train_entries.is_empty() {
        return Err(empty(&spec.train, "no training image has an object"));
    }
    if val.is_empty() {
        return Err(empty(&spec.val, "no annotation files"));
    }
    let mut classes: Vec<Class> = CLASSES
        .iter()
        .enumerate()
        .map(|(k, n)| Class {
            id: k as u64 + 1,
            name: n.to_string(),
        })
        .collect();
    if spec.others == BoxHandling::Train {
        classes.push(Class {
            id: 11,
            name: "others".into(),
        });
    }
    let mut gt = GtSet {
        image_ids: (1..=val.len() as u64).collect(),
        category_ids: classes.iter().map(|c| c.id).collect(),
        annotations: Vec::new(),
    };
    let mut val_entries = Vec::with_capacity(val.len());
    for (k, a) in val.iter().enumerate() {
        val_entries.push(entry(a, k as u64 + 1, spec.others, &mut Notes::default()));
        for (_, l) in a.lines.iter().filter(|(_, l)| is_object(l, spec.others)) {
            gt.annotations.push(GroundTruth {
                id: gt.annotations.len() as u64 + 1,
                image_id: k as u64 + 1,
                category_id: l.category as u64,
                bbox: l.bbox,
                area: l.bbox[2] * l.bbox[3],
                iscrowd: false,
                difficult: false,
            });
        }
    }
    Ok(Real {
        kind: "visdrone",
        classes,
        train: train_entries,
        val: val_entries,
        val_gt: gt,
        drop_in_ignore: true,
        pipeline: p,
        notes,
    })
}
