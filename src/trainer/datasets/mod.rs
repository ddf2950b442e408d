//! Datasets read from disk (COCO, Pascal VOC, VisDrone) and the one interface the session uses
//! for them and for the synthetic set ([`Dataset`]). Pure Rust: decoding with the `image`
//! crate, XML with `roxmltree`; tensors are made in [`super::data::to_tensor`].
//!
//! Opening a dataset reads every annotation once ([`coco`], [`voc`], [`visdrone`]) into
//! [`Entry`]s: the image file, its size, its training objects and ignore regions in the
//! original image's continuous pixel coordinates (pixel `i` covers `[i, i + 1)`; VOC's 1-based
//! inclusive pixels are converted in one place, [`voc::voc_box`]), and the val split's ground
//! truth exactly as the format states it ([`crate::eval::GtSet`], crowd and difficult flags
//! included). Images are decoded when a batch needs them, in background threads ([`loader`]),
//! resized and padded to the square input ([`transform`]).
//!
//! Training boxes are cleaned, never fatal: a box reaching outside its image is clipped to it,
//! one with no area left (non-positive size, or wholly outside) is dropped; both are counted in
//! the log line of [`Dataset::open`], which names the first dropped one. Training images left
//! without an object are skipped (also counted). The evaluation's ground truth is not cleaned:
//! it is what the protocol scores.
//!
//! Ignore regions (VisDrone's category 0 and score-0 boxes; crowd, difficult or "others"
//! boxes when their handling is `ignore`): a background prior inside one is ignored, i.e. takes
//! no loss (a prior assigned to an object keeps it: the annotated object wins), see
//! [`super::layout::Layout::assign_with_ignore`]. For VisDrone, val detections whose area lies
//! mostly inside an ignore region are dropped before evaluation, as its toolkit does.

pub mod coco;
mod error;
pub mod fixture;
pub mod loader;
pub mod raw;
pub mod transform;
pub mod visdrone;
pub mod voc;

pub use error::DatasetError;
pub use loader::{Loader, Pick, Picker};

use super::data::{Split, Synthetic};
use super::postprocess::{drop_in_regions, records, Det};
use super::synth::{Image, Object};
use crate::eval::{Detection, GtSet};
use crate::spec::config::{DatasetSpec, Pipeline};
use std::path::PathBuf;
use transform::Placement;

/// A detection is dropped when at least this fraction of its area is inside one ignore
/// region (VisDrone's toolkit drops those "mostly inside").
pub const IGNORE_FRACTION: f32 = 0.5;

/// One annotated image.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: PathBuf,
    /// How errors name it: the annotation file and record (`instances_val.json: images[3] (id 42)`).
    pub record: String,
    /// Its image id in the ground truth and the results JSON.
    pub id: u64,
    pub width: u32,
    pub height: u32,
    /// Training targets (class = label), `[x1, y1, x2, y2]` clipped to the image.
    pub objects: Vec<Object>,
    /// Regions without loss (training) or without detections (VisDrone's evaluation).
    pub ignore: Vec<[f32; 4]>,
}

/// A category: its id in the annotations and the results JSON, and its name. Label `k` is the
/// `k`-th of [`Real::classes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub id: u64,
    pub name: String,
}

/// What cleaning changed, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes {
    /// Training boxes clipped to their image.
    pub clipped: usize,
    /// Training boxes dropped: no area inside their image.
    pub dropped: usize,
    /// `file: record` of the first dropped box.
    pub first_dropped: Option<String>,
    /// Training images without any object, skipped.
    pub skipped_images: usize,
}

impl Notes {
    /// Clips a training box `[x1, y1, x2, y2]` to a `w × h` image; `None` when no area is left
    /// (counted, and the first one remembered as `at()`).
    pub fn clean(
        &mut self,
        b: [f64; 4],
        w: u32,
        h: u32,
        at: impl FnOnce() -> String,
    ) -> Option<[f32; 4]> {
        let (w, h) = (w as f64, h as f64);
        let c = [b[0].max(0.0), b[1].max(0.0), b[2].min(w), b[3].min(h)];
        if !c.iter().all(|v| v.is_finite()) || c[2] <= c[0] || c[3] <= c[1] {
            self.dropped += 1;
            if self.first_dropped.is_none() {
                self.first_dropped = Some(at());
            }
            return None;
        }
        if c != b {
            self.clipped += 1;
        }
        Some(c.map(|v| v as f32))
    }
}

/// A dataset read from disk.
#[derive(Debug, Clone)]
pub struct Real {
    /// `coco`, `voc` or `visdrone`.
    pub kind: &'static str,
    pub classes: Vec<Class>,
    pub train: Vec<Entry>,
    pub val: Vec<Entry>,
    /// The val split's ground truth, as the annotations state it.
    pub val_gt: GtSet,
    /// Drop val detections mostly inside an ignore region (VisDrone).
    pub drop_in_ignore: bool,
    pub pipeline: Pipeline,
    pub notes: Notes,
}

impl Real {
    fn entries(&self, split: Split) -> &[Entry] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    /// The input image of `entry` placed by `p`, with its boxes moved along.
    pub fn prepare(&self, entry: &Entry, p: &Placement) -> Result<Image, DatasetError> {
        let img = transform::decode(&entry.path, &entry.record)?;
        if img.dimensions() != (entry.width, entry.height) {
            return Err(DatasetError::SizeMismatch {
                path: entry.path.clone(),
                record: entry.record.clone(),
                found: img.dimensions(),
                expected: (entry.width, entry.height),
            });
        }
        let size = self.pipeline.image_size as usize;
        let objects = entry
            .objects
            .iter()
            .map(|o| Object {
                class: o.class,
                bbox: p.forward(o.bbox),
            })
            .filter(|o| o.bbox[2] > o.bbox[0] && o.bbox[3] > o.bbox[1])
            .collect();
        Ok(Image {
            size,
            pixels: p.render(&img, size),
            objects,
            ignore: entry.ignore.iter().map(|&r| p.forward(r)).collect(),
        })
    }

    /// Where a val (or unaugmented) image sits: longer side `image_size`, no flip.
    pub fn placement(&self, e: &Entry) -> Placement {
        Placement::new(e.width, e.height, self.pipeline.image_size as f64, false)
    }

    /// COCO records of val image `index` from detections in input coordinates: mapped back to
    /// the original image, clipped, empty boxes and (VisDrone) boxes mostly inside an ignore
    /// region dropped, labels turned back into category ids.
    pub fn records(&self, index: usize, dets: &[Det]) -> Vec<Detection> {
        self.records_in(index, dets, &self.placement(&self.val[index]))
    }

    /// [`Real::records`] of detections in the input placed by `p`.
    pub fn records_in(&self, index: usize, dets: &[Det], p: &Placement) -> Vec<Detection> {
        let e = &self.val[index];
        let mapped: Vec<Det> = dets
            .iter()
            .map(|d| Det {
                bbox: p.backward(d.bbox),
                ..*d
            })
            .filter(|d| d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1])
            .collect();
        let kept = if self.drop_in_ignore {
            drop_in_regions(mapped, &e.ignore, IGNORE_FRACTION)
        } else {
            mapped
        };
        kept.iter()
            .map(|d| {
                let b = d.bbox.map(f64::from);
                Detection {
                    image_id: e.id,
                    category_id: self.classes[d.class].id,
                    bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    score: d.score as f64,
                }
            })
            .collect()
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        let n = &self.notes;
        let regions: usize = self.train.iter().map(|e| e.ignore.len()).sum();
        let mut s = format!(
            "{}: {} classes, {} training images ({} without objects skipped), {} val images, \
             {} training ignore regions; training boxes: {} clipped to their image, {} dropped",
            self.kind,
            self.classes.len(),
            self.train.len(),
            n.skipped_images,
            self.val.len(),
            regions,
            n.clipped,
            n.dropped,
        );
        if let Some(first) = &n.first_dropped {
            s.push_str(&format!(" (first: {first})"));
        }
        s
    }
}

/// The data of a job: generated or read from disk.
#[derive(Debug, Clone)]
pub enum Dataset {
    Synthetic(Synthetic),
    Real(Real),
}

impl Dataset {
    /// Builds the synthetic set, or reads every annotation of a dataset on disk (checking that
    /// each image exists) and logs one summary line on stderr.
    pub fn open(spec: &DatasetSpec) -> Result<Dataset, DatasetError> {
        let real = match spec {
            DatasetSpec::Synthetic(s) => return Ok(Dataset::Synthetic(Synthetic::new(s))),
            DatasetSpec::Coco(s) => coco::open(s)?,
            DatasetSpec::Voc(s) => voc::open(s)?,
            DatasetSpec::Visdrone(s) => visdrone::open(s)?,
        };
        eprintln!("dataset: {}", real.summary());
        Ok(Dataset::Real(real))
    }

    pub fn num_classes(&self) -> usize {
        match self {
            Dataset::Synthetic(s) => s.spec.num_classes as usize,
            Dataset::Real(r) => r.classes.len(),
        }
    }

    /// Side of the square input.
    pub fn image_size(&self) -> usize {
        match self {
            Dataset::Synthetic(s) => s.spec.image_size as usize,
            Dataset::Real(r) => r.pipeline.image_size as usize,
        }
    }

    pub fn len(&self, split: Split) -> usize {
        match self {
            Dataset::Synthetic(s) => s.len(split),
            Dataset::Real(r) => r.entries(split).len(),
        }
    }

    pub fn is_empty(&self, split: Split) -> bool {
        self.len(split) == 0
    }

    /// [`Dataset::try_image`] for data that cannot fail to load (the synthetic set; tests).
    pub fn image(&self, split: Split, index: usize) -> Image {
        self.try_image(split, index)
            .expect("the image loads (use try_image for data from disk)")
    }

    /// Image `index` of `split` without augmentation (evaluation's input).
    pub fn try_image(&self, split: Split, index: usize) -> Result<Image, DatasetError> {
        match self {
            Dataset::Synthetic(s) => Ok(s.image(split, index)),
            Dataset::Real(r) => {
                let e = &r.entries(split)[index];
                r.prepare(e, &r.placement(e))
            }
        }
    }

    /// The training image of one pick (flipped, scaled as drawn).
    pub fn train_image(&self, pick: Pick) -> Result<Image, DatasetError> {
        match self {
            Dataset::Synthetic(s) => {
                let mut img = s.image(Split::Train, pick.index);
                if pick.flip {
                    super::data::flip_horizontal(&mut img);
                }
                Ok(img)
            }
            Dataset::Real(r) => {
                let e = &r.train[pick.index];
                r.prepare(e, &Placement::new(e.width, e.height, pick.side, pick.flip))
            }
        }
    }

    /// The val split's ground truth.
    pub fn val_ground_truth(&self) -> GtSet {
        match self {
            Dataset::Synthetic(s) => s.val_ground_truth(),
            Dataset::Real(r) => r.val_gt.clone(),
        }
    }

    /// COCO records of val image `index` from its detections in input coordinates.
    pub fn records(&self, index: usize, dets: &[Det]) -> Vec<Detection> {
        match self {
            Dataset::Synthetic(_) => records(index as u64 + 1, dets),
            Dataset::Real(r) => r.records(index, dets),
        }
    }

    /// How training positions become picks (the synthetic set always flips, at full size).
    pub fn picker(&self, seed: u64) -> Picker {
        match self {
            Dataset::Synthetic(s) => {
                Picker::new(seed, s.len(Split::Train), true, None, s.spec.image_size)
            }
            Dataset::Real(r) => Picker::new(
                seed,
                r.train.len(),
                r.pipeline.flip,
                r.pipeline.multi_scale,
                r.pipeline.image_size,
            ),
        }
    }
}

#[cfg(test)]
mod tests;
