//! torchvision's `GeneralizedRCNNTransform` (`models/detection/transform.py`), the input side
//! of its detectors: normalise each image with the ImageNet mean and std, resize it so that its
//! shorter side is `min_size` unless its longer side would then exceed `max_size` (scale
//! `min(min_size / short, max_size / long)`, output side `floor(side · scale)`, bilinear,
//! `align_corners=False`, the scale recomputed from the sizes as `recompute_scale_factor=True`
//! does), and pad the batch with zeros at the right and bottom to a multiple of
//! `size_divisible`. Boxes follow with torchvision's float32 ratios, and detections go back to
//! the original image with the inverse ratios ([`Transform::postprocess_boxes`]). With
//! `fixed_size` (SSD) every image is resized to that size instead.

use tch::{Kind, Tensor};

/// ImageNet statistics, torchvision's defaults.
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// The transform's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Transform {
    /// Target shorter side (torchvision's `min_size[-1]` at evaluation).
    pub min_size: u32,
    pub max_size: u32,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub size_divisible: i64,
    /// Every image resized to this `(height, width)` instead (torchvision's `fixed_size`, SSD).
    pub fixed_size: Option<(i64, i64)>,
}

/// A padded batch and the size of each image in it before padding.
#[derive(Debug)]
pub struct ImageList {
    /// `[B, 3, H, W]`, H and W multiples of `size_divisible`.
    pub tensors: Tensor,
    /// `(height, width)` of each resized image.
    pub image_sizes: Vec<(i64, i64)>,
}

impl Transform {
    /// RetinaNet's and FCOS's settings in torchvision: 800 / 1333, ImageNet statistics, 32.
    pub fn torchvision(min_size: u32, max_size: u32) -> Transform {
        Transform {
            min_size,
            max_size,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
            size_divisible: 32,
            fixed_size: None,
        }
    }

    /// `ssd300_vgg16`'s: every image to 300×300, mean (0.48235, 0.45882, 0.40784) and std 1/255
    /// (pixels back in 0–255 around the mean), no padding (`size_divisible` 1).
    pub fn ssd300() -> Transform {
        Transform {
            min_size: 300,
            max_size: 300,
            mean: [0.48235, 0.45882, 0.40784],
            std: [1.0 / 255.0; 3],
            size_divisible: 1,
            fixed_size: Some((300, 300)),
        }
    }

    /// The resized `(height, width)` of an image of `(h, w)`.
    pub fn resized_size(&self, h: i64, w: i64) -> (i64, i64) {
        if let Some(size) = self.fixed_size {
            return size;
        }
        let (short, long) = (h.min(w) as f64, h.max(w) as f64);
        let scale = (self.min_size as f64 / short).min(self.max_size as f64 / long);
        (
            (h as f64 * scale).floor() as i64,
            (w as f64 * scale).floor() as i64,
        )
    }

    /// Normalises and resizes one image `[3, h, w]` with values in [0, 1].
    pub fn image(&self, img: &Tensor) -> Tensor {
        let dev = img.device();
        let stat = |v: [f64; 3]| {
            Tensor::from_slice(&v.map(|x| x as f32))
                .to_device(dev)
                .view([3, 1, 1])
        };
        let x = (img.to_kind(Kind::Float) - stat(self.mean)) / stat(self.std);
        let s = x.size();
        let (h, w) = self.resized_size(s[1], s[2]);
        x.unsqueeze(0)
            .upsample_bilinear2d([h, w], false, None, None)
            .squeeze_dim(0)
    }

    /// `boxes [N, 4]` of an image of `from` `(h, w)` in the pixels of one of `to`.
    pub fn postprocess_boxes(boxes: &Tensor, from: (i64, i64), to: (i64, i64)) -> Tensor {
        let ratio = |new: i64, old: i64| new as f32 / old as f32;
        let (rh, rw) = (ratio(to.0, from.0) as f64, ratio(to.1, from.1) as f64);
        let f32r = |r: f64| Tensor::from(r as f32).to_device(boxes.device());
        let (rh, rw) = (f32r(rh), f32r(rw));
        let b = |i: i64| boxes.select(1, i);
        Tensor::stack(&[b(0) * &rw, b(1) * &rh, b(2) * &rw, b(3) * &rh], 1)
    }

    /// The padded batch of `images` (each `[3, h, w]` in [0, 1]) and, when given, each image's
    /// boxes in the resized pixels.
    pub fn batch(&self, images: &[Tensor], boxes: Option<&[Tensor]>) -> (ImageList, Vec<Tensor>) {
        let resized: Vec<Tensor> = images.iter().map(|i| self.image(i)).collect();
        let sizes: Vec<(i64, i64)> = resized.iter().map(|r| (r.size()[1], r.size()[2])).collect();
        let d = self.size_divisible;
        let up = |v: i64| (v + d - 1) / d * d;
        let hmax = up(sizes.iter().map(|s| s.0).max().unwrap_or(d));
        let wmax = up(sizes.iter().map(|s| s.1).max().unwrap_or(d));
        let dev = images.first().map_or(tch::Device::Cpu, |i| i.device());
        let batch = Tensor::zeros([resized.len() as i64, 3, hmax, wmax], (Kind::Float, dev));
        for (i, r) in resized.iter().enumerate() {
            let (h, w) = sizes[i];
            batch.get(i as i64).narrow(1, 0, h).narrow(2, 0, w).copy_(r);
        }
        let scaled = boxes.map_or_else(Vec::new, |bs| {
            bs.iter()
                .zip(images)
                .zip(&sizes)
                .map(|((b, img), &to)| {
                    let s = img.size();
                    Self::postprocess_boxes(b, (s[1], s[2]), to)
                })
                .collect()
        });
        (
            ImageList {
                tensors: batch,
                image_sizes: sizes,
            },
            scaled,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_side_to_min_size_unless_the_longer_exceeds_max_size() {
        let t = Transform::torchvision(800, 1333);
        assert_eq!(t.resized_size(480, 640), (800, 1066));
        // 800 / 300 would make the longer side 2666 > 1333.
        assert_eq!(t.resized_size(300, 1000), (399, 1333));
    }

    #[test]
    fn batch_is_padded_to_a_multiple_of_32() {
        let t = Transform::torchvision(100, 1000);
        // No random numbers: libtorch's generator is global, and the training tests seed it.
        let imgs = [
            Tensor::ones([3, 50, 70], (Kind::Float, tch::Device::Cpu)),
            Tensor::ones([3, 60, 60], (Kind::Float, tch::Device::Cpu)),
        ];
        let (list, _) = t.batch(&imgs, None);
        assert_eq!(list.image_sizes, vec![(100, 140), (100, 100)]);
        assert_eq!(list.tensors.size(), vec![2, 3, 128, 160]);
    }
}
