//! Images at their own size, for detectors that resize their input themselves (the
//! torchvision detectors' `GeneralizedRCNNTransform`): decoded pixels as a `[3, h, w]` float
//! tensor in [0, 1], the boxes in the image's pixels, and detections in those pixels back to
//! COCO records.
//!
//! Crowd, difficult and ignore boxes are left out (torchvision's detection references drop
//! `iscrowd` annotations and have no ignore regions); the synthetic set's images are their
//! own size already.

use super::transform::{decode, Placement};
use super::{Dataset, DatasetError, Split};
use crate::eval::Detection;
use crate::trainer::postprocess::{records, Det};
use crate::trainer::synth::Image;
use tch::{Kind, Tensor};

/// One image at its own size.
#[derive(Debug)]
pub struct RawImage {
    /// `[3, h, w]` float in [0, 1].
    pub pixels: Tensor,
    /// `[x1, y1, x2, y2]` in the image's pixels.
    pub boxes: Vec<[f32; 4]>,
    /// Class of each box in `0..num_classes`.
    pub classes: Vec<i64>,
}

impl RawImage {
    /// `(height, width)`.
    pub fn size(&self) -> (i64, i64) {
        let s = self.pixels.size();
        (s[1], s[2])
    }
}

fn from_rgb(pixels: &[u8], w: usize, h: usize) -> Tensor {
    Tensor::from_slice(pixels)
        .view([h as i64, w as i64, 3])
        .permute([2, 0, 1])
        .to_kind(Kind::Float)
        / 255.0
}

fn flipped(b: [f32; 4], w: f32) -> [f32; 4] {
    [w - b[2], b[1], w - b[0], b[3]]
}

impl Dataset {
    /// Image `index` of `split` at its own size, mirrored left–right when `flip`.
    pub fn raw_image(
        &self,
        split: Split,
        index: usize,
        flip: bool,
    ) -> Result<RawImage, DatasetError> {
        let (pixels, w, objects) = match self {
            Dataset::Synthetic(s) => {
                let Image {
                    size,
                    pixels,
                    objects,
                    ..
                } = s.image(split, index);
                (from_rgb(&pixels, size, size), size as f32, objects)
            }
            Dataset::Real(r) => {
                let e = &r.entries(split)[index];
                let img = decode(&e.path, &e.record)?;
                if img.dimensions() != (e.width, e.height) {
                    return Err(DatasetError::SizeMismatch {
                        path: e.path.clone(),
                        record: e.record.clone(),
                        found: img.dimensions(),
                        expected: (e.width, e.height),
                    });
                }
                let t = from_rgb(img.as_raw(), e.width as usize, e.height as usize);
                (t, e.width as f32, e.objects.clone())
            }
        };
        let pixels = if flip { pixels.flip([2]) } else { pixels };
        let boxes = objects
            .iter()
            .map(|o| if flip { flipped(o.bbox, w) } else { o.bbox })
            .collect();
        Ok(RawImage {
            pixels,
            boxes,
            classes: objects.iter().map(|o| o.class as i64).collect(),
        })
    }

    /// COCO records of val image `index` from detections in its own pixels.
    pub fn raw_records(&self, index: usize, dets: &[Det]) -> Vec<Detection> {
        match self {
            Dataset::Synthetic(_) => records(index as u64 + 1, dets),
            Dataset::Real(r) => {
                let e = &r.val[index];
                let identity =
                    Placement::new(e.width, e.height, e.width.max(e.height) as f64, false);
                r.records_in(index, dets, &identity)
            }
        }
    }
}
