//! The embedded synthetic dataset, the batch order, and the conversion of images to tensors.
//!
//! Everything here except [`to_tensor`] is pure Rust. An image is a pure function of
//! (dataset seed, split, index) ([`Synthetic::image`]); the training order is a pure function of
//! (train seed, position) ([`Sampler`]): position `p = iteration · batch + j` lies in epoch
//! `p / n`, which is a Fisher–Yates permutation of the train indices seeded by (seed, epoch), and
//! a horizontal flip is drawn from (seed, p). So a resumed run sees exactly the batches an
//! uninterrupted one would, with no loader state in the checkpoint.

use super::synth::{key, render, Image, Rng};
use crate::eval::{GroundTruth, GtSet};
use crate::spec::config::SyntheticSpec;
use tch::{Device, Tensor};

/// The two index streams of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
}

/// Pixel normalisation: `(v / 255 − 0.5) / 0.25`.
pub const MEAN: f32 = 0.5;
pub const STD: f32 = 0.25;

/// The synthetic dataset of one config.
#[derive(Debug, Clone)]
pub struct Synthetic {
    pub spec: SyntheticSpec,
}

impl Synthetic {
    pub fn new(spec: &SyntheticSpec) -> Synthetic {
        Synthetic { spec: spec.clone() }
    }

    pub fn len(&self, split: Split) -> usize {
        match split {
            Split::Train => self.spec.train_images as usize,
            Split::Val => self.spec.val_images as usize,
        }
    }

    /// Image `index` of `split`, rendered from scratch (about 0.3 ms at 128 px in release).
    pub fn image(&self, split: Split, index: usize) -> Image {
        let tag = match split {
            Split::Train => 0x0074_7261_696e,
            Split::Val => 0x76_616c,
        };
        render(
            &self.spec,
            &mut Rng::new(key(&[self.spec.seed, tag, index as u64])),
        )
    }

    /// The val split as COCO ground truth: image ids `index + 1`, category ids `class + 1`,
    /// annotation ids `1..`, bbox `[x, y, w, h]`, area `w · h`.
    pub fn val_ground_truth(&self) -> GtSet {
        let mut gt = GtSet {
            image_ids: (1..=self.len(Split::Val) as u64).collect(),
            category_ids: (1..=self.spec.num_classes as u64).collect(),
            annotations: Vec::new(),
        };
        for i in 0..self.len(Split::Val) {
            for o in self.image(Split::Val, i).objects {
                let b = o.bbox.map(f64::from);
                let (w, h) = (b[2] - b[0], b[3] - b[1]);
                gt.annotations.push(GroundTruth {
                    id: gt.annotations.len() as u64 + 1,
                    image_id: i as u64 + 1,
                    category_id: o.class as u64 + 1,
                    bbox: [b[0], b[1], w, h],
                    area: w * h,
                    iscrowd: false,
                    difficult: false,
                });
            }
        }
        gt
    }
}

/// Mirrors an image left–right, pixels and boxes together.
pub fn flip_horizontal(img: &mut Image) {
    let s = img.size;
    for row in img.pixels.chunks_exact_mut(s * 3) {
        for x in 0..s / 2 {
            for k in 0..3 {
                row.swap(x * 3 + k, (s - 1 - x) * 3 + k);
            }
        }
    }
    let sf = s as f32;
    for o in &mut img.objects {
        o.bbox = [sf - o.bbox[2], o.bbox[1], sf - o.bbox[0], o.bbox[3]];
    }
}

/// The training order: which image (and whether flipped) sits at each position. Batches are
/// made from it by [`super::datasets::Loader`], ahead of time in background threads.
#[derive(Debug, Clone)]
pub struct Sampler {
    seed: u64,
    n: usize,
    epoch: Option<(u64, Vec<u32>)>,
}

impl Sampler {
    pub fn new(seed: u64, n: usize) -> Sampler {
        Sampler {
            seed,
            n,
            epoch: None,
        }
    }

    /// (image index, flip) at global position `pos`; the permutation of the current epoch is cached.
    pub fn at(&mut self, pos: u64) -> (usize, bool) {
        let (epoch, offset) = (pos / self.n as u64, (pos % self.n as u64) as usize);
        if self.epoch.as_ref().map(|e| e.0) != Some(epoch) {
            let mut rng = Rng::new(key(&[self.seed, 0x0065_706f_6368, epoch]));
            let mut perm: Vec<u32> = (0..self.n as u32).collect();
            for i in (1..self.n).rev() {
                perm.swap(i, rng.below(i as u64 + 1) as usize);
            }
            self.epoch = Some((epoch, perm));
        }
        let index = self.epoch.as_ref().expect("just filled").1[offset] as usize;
        let flip = Rng::new(key(&[self.seed, 0x666c_6970, pos])).next_u64() >> 63 == 1;
        (index, flip)
    }
}

/// A normalised `[B, 3, S, S]` float tensor on `device`.
pub fn to_tensor(images: &[Image], device: Device) -> Tensor {
    let s = images[0].size;
    let mut v = vec![0f32; images.len() * 3 * s * s];
    for (b, img) in images.iter().enumerate() {
        let base = b * 3 * s * s;
        for (p, px) in img.pixels.chunks_exact(3).enumerate() {
            for k in 0..3 {
                v[base + k * s * s + p] = (px[k] as f32 / 255.0 - MEAN) / STD;
            }
        }
    }
    Tensor::from_slice(&v)
        .view([images.len() as i64, 3, s as i64, s as i64])
        .to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SyntheticSpec {
        SyntheticSpec {
            image_size: 64,
            max_object_size: 40.0,
            ..Default::default()
        }
    }

    #[test]
    fn images_are_deterministic_and_splits_differ() {
        let d = Synthetic::new(&spec());
        assert_eq!(d.image(Split::Train, 3), d.image(Split::Train, 3));
        assert_ne!(
            d.image(Split::Train, 3).pixels,
            d.image(Split::Val, 3).pixels
        );
        assert_ne!(
            d.image(Split::Train, 3).pixels,
            d.image(Split::Train, 4).pixels
        );
        let other = Synthetic::new(&SyntheticSpec { seed: 1, ..spec() });
        assert_ne!(
            d.image(Split::Train, 3).pixels,
            other.image(Split::Train, 3).pixels
        );
    }

    #[test]
    fn boxes_are_inside_and_counts_in_range() {
        let s = spec();
        let d = Synthetic::new(&s);
        for i in 0..40 {
            let img = d.image(Split::Val, i);
            assert!((1..=s.max_objects as usize).contains(&img.objects.len()));
            for o in &img.objects {
                let b = o.bbox;
                assert!(o.class < s.num_classes as usize);
                assert!(
                    0.0 <= b[0]
                        && b[0] < b[2]
                        && b[2] <= 64.0
                        && 0.0 <= b[1]
                        && b[1] < b[3]
                        && b[3] <= 64.0,
                    "{b:?}"
                );
                assert!(b[2] - b[0] >= 0.85 * s.min_object_size as f32 - 1e-3);
            }
        }
    }

    #[test]
    fn sizes_cover_small_medium_and_large() {
        let s = SyntheticSpec {
            image_size: 160,
            min_object_size: 6.0,
            max_object_size: 150.0,
            ..Default::default()
        };
        let d = Synthetic::new(&s);
        let mut counts = [0usize; 3];
        for i in 0..60 {
            for o in d.image(Split::Train, i).objects {
                let area = (o.bbox[2] - o.bbox[0]) * (o.bbox[3] - o.bbox[1]);
                counts[if area < 1024.0 {
                    0
                } else if area < 9216.0 {
                    1
                } else {
                    2
                }] += 1;
            }
        }
        let n: usize = counts.iter().sum();
        assert!(
            counts[0] * 2 > n && counts[1] * 10 > n && counts[2] * 20 > n,
            "{counts:?}"
        );
    }

    #[test]
    fn flip_moves_boxes_where_the_pixels_went() {
        let d = Synthetic::new(&spec());
        let img = d.image(Split::Train, 5);
        let mut f = img.clone();
        flip_horizontal(&mut f);
        let s = img.size;
        for (o, fo) in img.objects.iter().zip(&f.objects) {
            for y in o.bbox[1].ceil() as usize..o.bbox[3].floor() as usize {
                for x in o.bbox[0].ceil() as usize..o.bbox[2].floor() as usize {
                    let fx = s - 1 - x;
                    assert!(
                        fx as f32 >= fo.bbox[0] && fx as f32 + 1.0 <= fo.bbox[2],
                        "pixel {x} of {:?} left {:?}",
                        o.bbox,
                        fo.bbox
                    );
                    assert_eq!(
                        img.pixels[(y * s + x) * 3..][..3],
                        f.pixels[(y * s + fx) * 3..][..3]
                    );
                }
            }
        }
        flip_horizontal(&mut f);
        assert!(f.pixels == img.pixels, "flipping twice restores the pixels");
        for (a, b) in f.objects.iter().zip(&img.objects) {
            assert!(
                a.bbox
                    .iter()
                    .zip(&b.bbox)
                    .all(|(x, y)| (x - y).abs() < 1e-4)
                    && a.class == b.class
            );
        }
    }

    #[test]
    fn batch_order_is_a_pure_function_of_seed_and_position() {
        let (mut a, mut b) = (Sampler::new(3, 10), Sampler::new(3, 10));
        let fwd: Vec<_> = (0..30).map(|p| a.at(p)).collect();
        let bwd: Vec<_> = (0..30)
            .rev()
            .map(|p| b.at(p))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert_eq!(fwd, bwd);
        for e in 0..3 {
            let mut idx: Vec<usize> = fwd[e * 10..e * 10 + 10].iter().map(|x| x.0).collect();
            idx.sort();
            assert_eq!(idx, (0..10).collect::<Vec<_>>());
        }
        assert_ne!(fwd[..10], fwd[10..20]);
        assert!(fwd.iter().any(|x| x.1) && fwd.iter().any(|x| !x.1));
        assert_ne!(
            fwd,
            (0..30)
                .map(|p| Sampler::new(4, 10).at(p))
                .collect::<Vec<_>>()
        );
    }
}
