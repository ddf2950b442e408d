//! Pascal VOC's layout: `ROOT/YEAR/ImageSets/Main/NAME.txt` lists image ids, one a line;
//! `ROOT/YEAR/Annotations/ID.xml` holds `size/{width,height}` and `object/{name, difficult,
//! bndbox/{xmin,ymin,xmax,ymax}}`; `ROOT/YEAR/JPEGImages/ID.jpg` is the image.
//!
//! Pixel convention, handled here only ([`voc_box`]): VOC's coordinates are 1-based inclusive
//! pixel indices, so `xmin = 1, xmax = 10` is the first ten pixels, the continuous box
//! `[0, 10)`: `[x1, y1, x2, y2] = [xmin − 1, ymin − 1, xmax, ymax]`. The ground truth is stored
//! as COCO `[x, y, w, h] = [xmin − 1, ymin − 1, xmax − xmin + 1, ymax − ymin + 1]`, which
//! [`crate::eval::voc`] turns back into exactly the XML's numbers (detectron2's convention), so
//! `sweep eval --protocol voc07` scores like `voc_eval.py` on the original files.
//!
//! Image ids are positions in the val list, from 1; category ids are label + 1. The ground
//! truth keeps every object as written (difficult ones flagged); training uses `difficult`
//! objects as the spec's `difficult` says.

use super::transform::dimensions;
use super::{Class, DatasetError, Entry, Notes, Real};
use crate::eval::{GroundTruth, GtSet};
use crate::spec::config::{BoxHandling, VocSpec};
use crate::trainer::synth::Object;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// VOC's 1-based inclusive pixel box as a continuous `[x1, y1, x2, y2]` box.
pub fn voc_box(xmin: f64, ymin: f64, xmax: f64, ymax: f64) -> [f64; 4] {
    [xmin - 1.0, ymin - 1.0, xmax, ymax]
}

/// One object of an annotation file.
#[derive(Debug, Clone, PartialEq)]
pub struct VocObject {
    pub name: String,
    pub difficult: bool,
    /// Continuous `[x1, y1, x2, y2]` ([`voc_box`]).
    pub bbox: [f64; 4],
    /// `object[j]`.
    pub record: String,
}

/// One annotated image.
#[derive(Debug, Clone, PartialEq)]
pub struct VocImage {
    pub xml: PathBuf,
    pub image: PathBuf,
    pub width: u32,
    pub height: u32,
    pub objects: Vec<VocObject>,
}

fn child<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> Option<roxmltree::Node<'a, 'a>> {
    n.children().find(|c| c.has_tag_name(name))
}

fn text<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    child(n, name).and_then(|c| c.text()).map(str::trim)
}

/// Parses one annotation file's text; `xml` names it in errors, `image` is its image.
pub fn parse(src: &str, xml: &Path, image: PathBuf) -> Result<VocImage, DatasetError> {
    let doc = roxmltree::Document::parse(src)
        .map_err(|e| DatasetError::parse(xml, "annotation", e.to_string()))?;
    let root = doc.root_element();
    let size = |f: &str| -> Result<u32, DatasetError> {
        let s = child(root, "size").and_then(|n| text(n, f)).unwrap_or("0");
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v as u32)
            .ok_or_else(|| {
                DatasetError::parse(
                    xml,
                    format!("size.{f}"),
                    format!("{s:?} is not a size in pixels"),
                )
            })
    };
    let (mut width, mut height) = (size("width")?, size("height")?);
    if width == 0 || height == 0 {
        // Some converted datasets leave the size out or at 0: the image's header knows it.
        (width, height) = dimensions(&image, &xml.display().to_string())?;
    }
    let mut objects = Vec::new();
    for (j, obj) in root
        .children()
        .filter(|c| c.has_tag_name("object"))
        .enumerate()
    {
        let record = format!("object[{j}]");
        let name = text(obj, "name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| DatasetError::parse(xml, format!("{record}.name"), "missing"))?;
        let difficult = match text(obj, "difficult").unwrap_or("0") {
            "0" | "" => false,
            "1" => true,
            other => {
                let detail = format!("{other:?}; allowed: 0 or 1");
                return Err(DatasetError::parse(
                    xml,
                    format!("{record}.difficult"),
                    detail,
                ));
            }
        };
        let bndbox = child(obj, "bndbox")
            .ok_or_else(|| DatasetError::parse(xml, format!("{record}.bndbox"), "missing"))?;
        let mut v = [0f64; 4];
        for (k, f) in ["xmin", "ymin", "xmax", "ymax"].iter().enumerate() {
            let s = text(bndbox, f).unwrap_or("");
            v[k] = s
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    DatasetError::parse(
                        xml,
                        format!("{record}.bndbox.{f}"),
                        format!("{s:?} is not a number"),
                    )
                })?;
        }
        objects.push(VocObject {
            name: name.to_string(),
            difficult,
            bbox: voc_box(v[0], v[1], v[2], v[3]),
            record,
        });
    }
    Ok(VocImage {
        xml: xml.to_path_buf(),
        image,
        width,
        height,
        objects,
    })
}

/// The images of one set `YEAR/NAME`, in list order (the first `limit`).
fn read_set(root: &Path, set: &str, limit: Option<u32>) -> Result<Vec<VocImage>, DatasetError> {
    let (year, name) = set.split_once('/').unwrap_or((set, ""));
    let dir = root.join(year);
    let list = dir.join("ImageSets/Main").join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&list).map_err(|e| DatasetError::io(&list, "read", e))?;
    let ids: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| l.split_whitespace().next().map(|id| (i + 1, id)))
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .collect();
    ids.par_iter()
        .map(|&(line, id)| {
            let xml = dir.join("Annotations").join(format!("{id}.xml"));
            let image = dir.join("JPEGImages").join(format!("{id}.jpg"));
            let record = format!("line {line} ({id})");
            let src = std::fs::read_to_string(&xml).map_err(|e| {
                DatasetError::parse(
                    &list,
                    &record,
                    format!("cannot read {}: {e}", xml.display()),
                )
            })?;
            if !image.is_file() {
                return Err(DatasetError::MissingImage {
                    path: list.clone(),
                    record,
                    image,
                });
            }
            parse(&src, &xml, image)
        })
        .collect()
}

/// The labels: the spec's names, or (`[]`) the names found, sorted.
fn classes(spec: &VocSpec, sets: &[&[VocImage]]) -> Vec<String> {
    if !spec.classes.is_empty() {
        return spec.classes.clone();
    }
    let mut names: Vec<String> = sets
        .iter()
        .flat_map(|s| s.iter())
        .flat_map(|i| i.objects.iter().map(|o| o.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn label(names: &[String], img: &VocImage, o: &VocObject) -> Result<usize, DatasetError> {
    names
        .iter()
        .position(|n| *n == o.name)
        .ok_or_else(|| DatasetError::UnknownCategory {
            path: img.xml.clone(),
            record: format!("{}.name", o.record),
            found: format!("{:?}", o.name),
            allowed: names.join(", "),
        })
}

fn entry(
    img: &VocImage,
    id: u64,
    names: &[String],
    difficult: BoxHandling,
    notes: &mut Notes,
) -> Result<Entry, DatasetError> {
    let (mut objects, mut ignore) = (Vec::new(), Vec::new());
    for o in &img.objects {
        let class = label(names, img, o)?;
        if o.difficult && difficult == BoxHandling::Drop {
            continue;
        }
        let at = || format!("{}: {}", img.xml.display(), o.record);
        let Some(bbox) = notes.clean(o.bbox, img.width, img.height, at) else {
            continue;
        };
        if o.difficult && difficult == BoxHandling::Ignore {
            ignore.push(bbox);
        } else {
            objects.push(Object { class, bbox });
        }
    }
    Ok(Entry {
        path: img.image.clone(),
        record: img.xml.display().to_string(),
        id,
        width: img.width,
        height: img.height,
        objects,
        ignore,
    })
}

/// Reads a VOC dataset.
pub fn open(spec: &VocSpec) -> Result<Real, DatasetError> {
    let p = spec.pipeline();
    let mut train = Vec::new();
    for set in &spec.train {
        let left = p
            .max_train_images
            .map(|m| m.saturating_sub(train.len() as u32));
        if left == Some(0) {
            break;
        }
        train.extend(read_set(&spec.root, set, left)?);
    }
    let val = read_set(&spec.root, &spec.val, p.max_val_images)?;
    let names = classes(spec, &[&train, &val]);
    if names.is_empty() {
        return Err(DatasetError::Empty {
            path: spec.root.clone(),
            what: "no object in any annotation".into(),
            allowed: "annotations with objects",
        });
    }
    let mut notes = Notes::default();
    let mut train_entries = Vec::with_capacity(train.len());
    for (k, img) in train.iter().enumerate() {
        let e = entry(img, k as u64 + 1, &names, spec.difficult, &mut notes)?;
        if e.objects.is_empty() {
            notes.skipped_images += 1;
        } else {
            train_entries.push(e);
        }
    }
    if train_entries.is_empty() {
        return Err(DatasetError::Empty {
            path: spec.root.clone(),
            what: format!("no training image of {:?} has an object", spec.train),
            allowed: "at least one image with an object of positive size",
        });
    }
    let mut gt = GtSet {
        image_ids: (1..=val.len() as u64).collect(),
        category_ids: (1..=names.len() as u64).collect(),
        annotations: Vec::new(),
    };
    let mut val_entries = Vec::with_capacity(val.len());
    for (k, img) in val.iter().enumerate() {
        val_entries.push(entry(
            img,
            k as u64 + 1,
            &names,
            BoxHandling::Train,
            &mut Notes::default(),
        )?);
        for o in &img.objects {
            let [x1, y1, x2, y2] = o.bbox;
            let (w, h) = (x2 - x1, y2 - y1);
            gt.annotations.push(GroundTruth {
                id: gt.annotations.len() as u64 + 1,
                image_id: k as u64 + 1,
                category_id: label(&names, img, o)? as u64 + 1,
                bbox: [x1, y1, w, h],
                area: w * h,
                iscrowd: false,
                difficult: o.difficult,
            });
        }
    }
    if val_entries.is_empty() {
        return Err(DatasetError::Empty {
            path: spec.root.clone(),
            what: format!("the val set {} lists no image", spec.val),
            allowed: "at least one image",
        });
    }
    Ok(Real {
        kind: "voc",
        classes: names
            .into_iter()
            .enumerate()
            .map(|(k, name)| Class {
                id: k as u64 + 1,
                name,
            })
            .collect(),
        train: train_entries,
        val: val_entries,
        val_gt: gt,
        drop_in_ignore: false,
        pipeline: p,
        notes,
    })
}
