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
const MEAN: f32 = 0.5;
const STD: f32 = 0.25;

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
            Split::Train => 0x7472_6169_6e,
            Split::Val => 0x76_616c,
        };
        render(&self.spec, &mut Rng::new(key(&[self.spec.seed, tag, index as u64])))
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

/// The training order: which image (and whether flipped) sits at each position.
#[derive(Debug, Clone)]
pub struct Sampler {
    seed: u64,
    n: usize,
    epoch: Option<(u64, Vec<u32>)>,
}

impl Sampler {
    pub fn new(seed: u64, n: usize) -> Sampler {
        Sampler { seed, n, epoch: None }
    }

    /// (image index, flip) at global position `pos`; the permutation of the current epoch is cached.
    pub fn at(&mut self, pos: u64) -> (usize, bool) {
        let (epoch, offset) = (pos / self.n as u64, (pos % self.n as u64) as usize);
        if self.epoch.as_ref().map(|e| e.0) != Some(epoch) {
            let mut rng = Rng::new(key(&[self.seed, 0x6570_6f63_68, epoch]));
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

    /// The images of training iteration `iteration` (0-based), flipped where drawn.
    pub fn batch(&mut self, data: &Synthetic, iteration: u64, batch: usize) -> Vec<Image> {
        (0..batch)
            .map(|j| {
                let (index, flip) = self.at(iteration * batch as u64 + j as u64);
                let mut img = data.image(Split::Train, index);
                if flip {
                    flip_horizontal(&mut img);
                }
                img
            })
            .collect()
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
    Tensor::from_slice(&v).view([images.len() as i64, 3, s as i64, s as i64]).to_device(device)
}
