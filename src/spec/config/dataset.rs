//! `dataset:`: the synthetic set and the formats read from disk (COCO, VOC, VisDrone), with
//! the input pipeline they share.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[allow(unused_imports)]
use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DatasetSpec {
    /// Embedded, generated from a seed: no files needed.
    Synthetic(SyntheticSpec),
    /// COCO detection JSON (`instances_*.json`) and directories of images.
    Coco(CocoSpec),
    /// Pascal VOC's layout: `Annotations/*.xml`, `ImageSets/Main/*.txt`, `JPEGImages/`.
    Voc(VocSpec),
    /// VisDrone2019-DET's layout: `images/` and `annotations/*.txt` per split.
    Visdrone(VisdroneSpec),
}

impl Default for DatasetSpec {
    fn default() -> Self {
        DatasetSpec::Synthetic(SyntheticSpec::default())
    }
}

impl DatasetSpec {
    /// The value of `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            DatasetSpec::Synthetic(_) => "synthetic",
            DatasetSpec::Coco(_) => "coco",
            DatasetSpec::Voc(_) => "voc",
            DatasetSpec::Visdrone(_) => "visdrone",
        }
    }

    /// Side of the square network input in pixels.
    pub fn image_size(&self) -> u32 {
        match self {
            DatasetSpec::Synthetic(s) => s.image_size,
            DatasetSpec::Coco(c) => c.image_size,
            DatasetSpec::Voc(v) => v.image_size,
            DatasetSpec::Visdrone(v) => v.image_size,
        }
    }

    /// The input pipeline of a dataset read from disk (none for the synthetic one).
    pub fn pipeline(&self) -> Option<Pipeline> {
        match self {
            DatasetSpec::Synthetic(_) => None,
            DatasetSpec::Coco(c) => Some(c.pipeline()),
            DatasetSpec::Voc(v) => Some(v.pipeline()),
            DatasetSpec::Visdrone(v) => Some(v.pipeline()),
        }
    }
}

/// Textured shapes on cluttered backgrounds; many small objects plus medium and large ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticSpec {
    /// Seed of the images (the same for every training seed of a sweep).
    pub seed: u64,
    /// Square image side in pixels.
    pub image_size: u32,
    pub train_images: u32,
    pub val_images: u32,
    /// Shape classes (at most 4: square, disc, triangle, cross).
    pub num_classes: u32,
    pub min_objects: u32,
    pub max_objects: u32,
    /// Object side range in pixels (sampled log-uniformly, so small objects dominate).
    pub min_object_size: f64,
    pub max_object_size: f64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            seed: 0,
            image_size: 128,
            train_images: 4096,
            val_images: 256,
            num_classes: 4,
            min_objects: 1,
            max_objects: 8,
            min_object_size: 6.0,
            max_object_size: 78.0,
        }
    }
}

/// The input pipeline of a dataset read from disk. Its fields are written inline in each kind
/// (`image_size`, `flip`, `multi_scale`, `max_train_images`, `max_val_images`).
///
/// Each image is resized keeping its aspect ratio so that its longer side is `image_size` (with
/// `multi_scale`, a side drawn per training image), then padded at the right and bottom to
/// `image_size` × `image_size`; boxes follow, and detections are mapped back to the original
/// image's pixels before evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipeline {
    /// Side of the square network input in pixels (a multiple of 32).
    pub image_size: u32,
    /// Random horizontal flip of training images (probability ½).
    pub flip: bool,
    /// `[min, max]`: the longer side of a training image is drawn uniformly from this range of
    /// pixels (at most `image_size`; the rest is padding); absent: always `image_size`.
    pub multi_scale: Option<[u32; 2]>,
    /// Train on the first N images of the training list only (absent: all).
    pub max_train_images: Option<u32>,
    /// Evaluate on the first N val images only (absent: all).
    pub max_val_images: Option<u32>,
}

/// What becomes of the boxes a format marks as special (COCO `iscrowd`, VOC `difficult`,
/// VisDrone's category 11 "others") in training. Evaluation sees crowd and difficult boxes as
/// the protocol says (they stay in the ground truth with their flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoxHandling {
    /// An ignore region: anchors and points inside it take no loss.
    Ignore,
    /// Left out: its pixels train as background.
    Drop,
    /// An ordinary object of its class (VisDrone: "others" becomes an 11th class, evaluated too).
    Train,
}

/// COCO detection JSON. `file_name`s are relative to `images` (train) and `val_images` (val);
/// category ids become contiguous labels in id order, and go back into the results JSON.
/// Paths are used as written: absolute, or relative to the directory sweep runs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CocoSpec {
    /// Directory of the training images.
    pub images: PathBuf,
    /// Directory of the val images (absent: `images`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_images: Option<PathBuf>,
    /// Training annotation file.
    pub train: PathBuf,
    /// Val annotation file: also the evaluation's ground truth, as it is.
    pub val: PathBuf,
    /// `iscrowd` boxes in training.
    #[serde(default = "defaults::ignore")]
    pub crowd: BoxHandling,
    #[serde(default = "defaults::real_image_size")]
    pub image_size: u32,
    #[serde(default = "defaults::yes")]
    pub flip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_scale: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_images: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_val_images: Option<u32>,
}

/// Pascal VOC (or any dataset in its layout). A set `YEAR/NAME` is the list
/// `root/YEAR/ImageSets/Main/NAME.txt`, its annotations `root/YEAR/Annotations/ID.xml` and images
/// `root/YEAR/JPEGImages/ID.jpg`. Class `k` of `classes` has label `k` and category id `k + 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocSpec {
    /// The `VOCdevkit` directory.
    pub root: PathBuf,
    #[serde(default = "defaults::voc_train")]
    pub train: Vec<String>,
    #[serde(default = "defaults::voc_val")]
    pub val: String,
    /// Class names in label order (default: VOC's 20); `[]`: the names found in the
    /// annotations, sorted. Another name in an annotation is an error.
    #[serde(default = "defaults::voc_classes")]
    pub classes: Vec<String>,
    /// `difficult` objects in training (evaluation keeps them, flagged, as VOC's metric says).
    #[serde(default = "defaults::ignore")]
    pub difficult: BoxHandling,
    #[serde(default = "defaults::real_image_size")]
    pub image_size: u32,
    #[serde(default = "defaults::yes")]
    pub flip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_scale: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_images: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_val_images: Option<u32>,
}

/// VisDrone2019-DET: `root/SPLIT/images/NAME.jpg` and `root/SPLIT/annotations/NAME.txt`, lines
/// `left,top,width,height,score,category,truncation,occlusion`. Category 0 ("ignored regions")
/// and score 0 are ignore regions: no loss inside in training, and detections mostly inside are
/// dropped before evaluation. Categories 1–10 are the classes (pedestrian, people, bicycle, car,
/// van, truck, tricycle, awning-tricycle, bus, motor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisdroneSpec {
    /// The directory holding the split directories.
    pub root: PathBuf,
    #[serde(default = "defaults::visdrone_train")]
    pub train: String,
    #[serde(default = "defaults::visdrone_val")]
    pub val: String,
    /// Category 11 ("others"): `ignore` (an ignore region, also at evaluation), `drop`, or
    /// `train` (an 11th class).
    #[serde(default = "defaults::ignore")]
    pub others: BoxHandling,
    #[serde(default = "defaults::visdrone_image_size")]
    pub image_size: u32,
    #[serde(default = "defaults::yes")]
    pub flip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_scale: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_images: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_val_images: Option<u32>,
}

macro_rules! pipeline_of {
    ($($spec:ty),*) => {$(
        impl $spec {
            /// Its pipeline keys.
            pub fn pipeline(&self) -> Pipeline {
                Pipeline {
                    image_size: self.image_size,
                    flip: self.flip,
                    multi_scale: self.multi_scale,
                    max_train_images: self.max_train_images,
                    max_val_images: self.max_val_images,
                }
            }
        }
    )*};
}
pipeline_of!(CocoSpec, VocSpec, VisdroneSpec);
