//! Perturbed val images for the robustness evaluation of the AP-loss paper (Table 3).
//!
//! Every function takes one normalised image tensor `[3, H, W]` (the network's input, see
//! [`super::data::to_tensor`]) and the image's ground-truth boxes `[x1, y1, x2, y2]` in the same
//! pixel coordinates, and returns a perturbed copy; the input is left alone.
//!
//! The patch of a box is its centre half: `round(w / 2) × round(h / 2)` pixels (at least 1),
//! centred on the box centre and rounded to whole pixels ([`centre_patch`]). The patches are
//! written in the boxes' order, each from the *unperturbed* image, so where two patches overlap
//! the later box's patch wins.
//!
//! - [`black_patch`]: every patch black. "Zero" is the raw pixel value 0 (black) of the 8-bit
//!   image before normalisation, i.e. [`BLACK`] `= (0 − 0.5) / 0.25 = −2` in the normalised
//!   tensor; a normalised 0 would be mid-grey (the mean), not black.
//! - [`flip_patch`]: every patch replaced by itself flipped left/right, top/bottom or both,
//!   each with probability 1/3.
//! - [`random_patch`]: every patch replaced by a same-sized region copied from a position,
//!   uniform over the positions whose region touches no ground-truth box of the image. 64 random
//!   draws are tried first, then every position is scanned; when no position is free of boxes
//!   (a box covering most of the image), the region overlapping the boxes least (summed
//!   intersection area) is used, ties drawn at random. For data read from disk the letterbox
//!   padding counts as "outside every box" (the image does not record where its content ends).
//! - [`gaussian_noise`]: zero-mean Gaussian noise of variance 0.01 (σ = 0.1) added to every
//!   value of the normalised image (Box–Muller from the pure-Rust stream, no clipping).
//!
//! Randomness is a pure function of (job seed, perturbation, val image index) ([`perturb`]), and
//! the work is done on the CPU in plain Rust and tch copies, so a rerun evaluates bit-identical
//! inputs. The paper's Adversarial-Patch and DeepFool perturbations need an attack on the trained
//! model and are out of scope.

use super::data::{MEAN, STD};
use super::synth::{key, Rng};
use crate::spec::config::Perturbation;
use tch::Tensor;

/// A raw pixel value of 0, normalised.
pub const BLACK: f64 = (0.0 - MEAN as f64) / STD as f64;

/// Standard deviation of [`gaussian_noise`] (variance 0.01), in normalised units.
pub const NOISE_STD: f64 = 0.1;

/// Random positions tried by [`random_source`] before it scans them all.
const RANDOM_TRIES: usize = 64;

/// A whole-pixel rectangle: columns `x..x + w`, rows `y..y + h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

impl Patch {
    /// The view of `img` (`[C, H, W]`) under the patch.
    pub fn view(&self, img: &Tensor) -> Tensor {
        img.narrow(1, self.y, self.h).narrow(2, self.x, self.w)
    }

    /// Area of the patch inside box `b`.
    fn overlap(&self, b: &[f32; 4]) -> f64 {
        let ix = ((self.x + self.w) as f64).min(b[2] as f64) - (self.x as f64).max(b[0] as f64);
        let iy = ((self.y + self.h) as f64).min(b[3] as f64) - (self.y as f64).max(b[1] as f64);
        if ix > 0.0 && iy > 0.0 {
            ix * iy
        } else {
            0.0
        }
    }
}

/// The centre patch of box `b` in a `width × height` image: half its width and half its height
/// (rounded, at least one pixel), centred on its centre and kept inside the image; `None` for a
/// box with no area inside the image.
pub fn centre_patch(b: [f32; 4], width: i64, height: i64) -> Option<Patch> {
    let side = |lo: f32, hi: f32, n: i64| -> Option<(i64, i64)> {
        let (lo, hi) = (
            (lo as f64).clamp(0.0, n as f64),
            (hi as f64).clamp(0.0, n as f64),
        );
        if hi <= lo {
            return None;
        }
        let len = ((hi - lo) / 2.0).round().clamp(1.0, n as f64);
        let start = ((lo + hi) / 2.0 - len / 2.0)
            .round()
            .clamp(0.0, n as f64 - len);
        Some((start as i64, len as i64))
    };
    let (x, w) = side(b[0], b[2], width)?;
    let (y, h) = side(b[1], b[3], height)?;
    Some(Patch { x, y, w, h })
}

/// Width and height of a `[C, H, W]` image.
fn dims(img: &Tensor) -> (i64, i64) {
    let s = img.size();
    assert_eq!(s.len(), 3, "a [C, H, W] image, got {s:?}");
    (s[2], s[1])
}

/// The centre patches of `boxes` in `img`, in the boxes' order.
fn patches(img: &Tensor, boxes: &[[f32; 4]]) -> Vec<Patch> {
    let (w, h) = dims(img);
    boxes
        .iter()
        .filter_map(|&b| centre_patch(b, w, h))
        .collect()
}

/// Black-Patch: the centre patch of every box set to a raw pixel value of 0 ([`BLACK`]).
pub fn black_patch(img: &Tensor, boxes: &[[f32; 4]]) -> Tensor {
    let channels = img.size()[0] as usize;
    black_patch_per_channel(img, boxes, &vec![BLACK; channels])
}

/// Black-Patch with each channel's own black (the value a raw 0 takes in that channel).
fn black_patch_per_channel(img: &Tensor, boxes: &[[f32; 4]], black: &[f64]) -> Tensor {
    let out = img.copy();
    for p in patches(img, boxes) {
        for (c, &v) in black.iter().enumerate() {
            let _ = p.view(&out).get(c as i64).fill_(v);
        }
    }
    out
}

/// Flip-Patch: the centre patch of every box replaced by itself flipped left/right,
/// top/bottom or both (uniformly at random from `rng`).
pub fn flip_patch(img: &Tensor, boxes: &[[f32; 4]], rng: &mut Rng) -> Tensor {
    let out = img.copy();
    for p in patches(img, boxes) {
        let dims: &[i64] = match rng.below(3) {
            0 => &[2],
            1 => &[1],
            _ => &[1, 2],
        };
        p.view(&out).copy_(&p.view(img).flip(dims));
    }
    out
}

/// Where [`random_patch`] copies a `w × h` region from: a position whose region overlaps none of
/// `boxes` in a `width × height` image, uniform over those positions; the least-overlapping one
/// when there is none (see the module notes).
pub fn random_source(
    boxes: &[[f32; 4]],
    (w, h): (i64, i64),
    (width, height): (i64, i64),
    rng: &mut Rng,
) -> Patch {
    let (nx, ny) = ((width - w + 1).max(1), (height - h + 1).max(1));
    let at = |x: i64, y: i64| Patch { x, y, w, h };
    let overlap = |p: &Patch| boxes.iter().map(|b| p.overlap(b)).sum::<f64>();
    for _ in 0..RANDOM_TRIES {
        let p = at(rng.below(nx as u64) as i64, rng.below(ny as u64) as i64);
        if overlap(&p) == 0.0 {
            return p;
        }
    }
    let all: Vec<(f64, Patch)> = (0..ny)
        .flat_map(|y| (0..nx).map(move |x| at(x, y)))
        .map(|p| (overlap(&p), p))
        .collect();
    let least = all.iter().map(|a| a.0).fold(f64::INFINITY, f64::min);
    let best: Vec<Patch> = all
        .into_iter()
        .filter(|a| a.0 == least)
        .map(|a| a.1)
        .collect();
    best[rng.below(best.len() as u64) as usize]
}

/// Random-Patch: the centre patch of every box replaced by a same-sized region of the
/// unperturbed image from outside every box ([`random_source`]).
pub fn random_patch(img: &Tensor, boxes: &[[f32; 4]], rng: &mut Rng) -> Tensor {
    let out = img.copy();
    for p in patches(img, boxes) {
        let src = random_source(boxes, (p.w, p.h), dims(img), rng);
        p.view(&out).copy_(&src.view(img));
    }
    out
}

/// `n` independent draws of N(0, σ²) (Box–Muller on 53-bit uniforms).
pub fn normals(rng: &mut Rng, n: usize, sigma: f64) -> Vec<f32> {
    let unit = |rng: &mut Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut v = Vec::with_capacity(n + 1);
    while v.len() < n {
        let u1 = 1.0 - unit(rng); // in (0, 1]: ln is finite
        let u2 = unit(rng);
        let r = (-2.0 * u1.ln()).sqrt() * sigma;
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        v.push((r * c) as f32);
        v.push((r * s) as f32);
    }
    v.truncate(n);
    v
}

/// Gaussian-Noise: N(0, 0.01) added to every value of the normalised image.
pub fn gaussian_noise(img: &Tensor, rng: &mut Rng) -> Tensor {
    let noise = normals(rng, img.numel(), NOISE_STD);
    let noise = Tensor::from_slice(&noise)
        .view(img.size().as_slice())
        .to_kind(img.kind())
        .to_device(img.device());
    img + noise
}

/// `kind` applied to val image `index` of a job seeded `seed`: the random stream is a pure
/// function of the three.
pub fn perturb(
    kind: Perturbation,
    img: &Tensor,
    boxes: &[[f32; 4]],
    seed: u64,
    index: usize,
) -> Tensor {
    let tag = Perturbation::ALL
        .iter()
        .position(|&p| p == kind)
        .expect("every kind is in ALL") as u64;
    let mut rng = Rng::new(key(&[seed, 0x70_6572_7475_7262, tag, index as u64]));
    match kind {
        Perturbation::BlackPatch => black_patch(img, boxes),
        Perturbation::FlipPatch => flip_patch(img, boxes, &mut rng),
        Perturbation::RandomPatch => random_patch(img, boxes, &mut rng),
        Perturbation::GaussianNoise => gaussian_noise(img, &mut rng),
    }
}

/// As [`perturb`], for a raw `[3, H, W]` image in [0, 1] of a detector that normalises each
/// channel with `mean` and `std` itself (torchvision's): the perturbation acts on the image as
/// that detector sees it (black = a raw 0, the noise N(0, 0.01) in its normalised units, the
/// same random stream as [`perturb`]), and the image comes back raw, for the detector's own
/// transform.
pub fn perturb_raw(
    kind: Perturbation,
    raw: &Tensor,
    boxes: &[[f32; 4]],
    seed: u64,
    index: usize,
    mean: [f64; 3],
    std: [f64; 3],
) -> Tensor {
    let channel = |v: [f64; 3]| {
        Tensor::from_slice(&v)
            .to_kind(raw.kind())
            .to_device(raw.device())
            .view([3, 1, 1])
    };
    let (m, s) = (channel(mean), channel(std));
    let x = (raw - &m) / &s;
    let out = match kind {
        Perturbation::BlackPatch => {
            let black: Vec<f64> = mean.iter().zip(&std).map(|(m, s)| -m / s).collect();
            black_patch_per_channel(&x, boxes, &black)
        }
        _ => perturb(kind, &x, boxes, seed, index),
    };
    out * &s + &m
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// A `[3, h, w]` image of distinct random values (so that every region and flip differs).
    fn image(w: i64, h: i64, seed: u64) -> Tensor {
        let mut rng = Rng::new(key(&[seed]));
        let v: Vec<f32> = (0..3 * w * h).map(|_| rng.range(-2.0, 2.0)).collect();
        Tensor::from_slice(&v).view([3, h, w])
    }

    /// 1 where any patch of `boxes` lies, else 0 (`[h, w]`).
    fn patch_mask(boxes: &[[f32; 4]], w: i64, h: i64) -> Tensor {
        let m = Tensor::zeros([1, h, w], (Kind::Bool, Device::Cpu));
        for &b in boxes {
            let _ = centre_patch(b, w, h).unwrap().view(&m).fill_(1);
        }
        m.squeeze_dim(0)
    }

    /// Every value outside the patches is unchanged.
    fn same_outside(a: &Tensor, b: &Tensor, boxes: &[[f32; 4]]) {
        let (w, h) = dims(a);
        let outside = patch_mask(boxes, w, h)
            .logical_not()
            .expand([3, h, w], false);
        assert!(
            a.masked_select(&outside).equal(&b.masked_select(&outside)),
            "a value outside the patches changed"
        );
    }

    const BOXES: [[f32; 4]; 3] = [
        [10.0, 20.0, 30.0, 60.0],
        [40.3, 5.7, 52.9, 17.1],
        [70.0, 70.0, 71.0, 71.5],
    ];

    #[test]
    fn centre_patch_is_the_centre_half() {
        assert_eq!(
            centre_patch(BOXES[0], 96, 80),
            Some(Patch {
                x: 15,
                y: 30,
                w: 10,
                h: 20
            })
        );
        // 12.6 × 11.4 box centred at (46.6, 11.4): a 6 × 6 patch from (44, 8) (rounded)
        assert_eq!(
            centre_patch(BOXES[1], 96, 80),
            Some(Patch {
                x: 44,
                y: 8,
                w: 6,
                h: 6
            })
        );
        // a 1-pixel box still gets one pixel
        assert_eq!(
            centre_patch(BOXES[2], 96, 80).map(|p| (p.w, p.h)),
            Some((1, 1))
        );
        assert_eq!(centre_patch([100.0, 0.0, 120.0, 10.0], 96, 80), None);
    }

    #[test]
    fn black_patch_blackens_exactly_the_centre_halves() {
        let img = image(96, 80, 1);
        let before = img.copy();
        let out = black_patch(&img, &BOXES);
        assert!(img.equal(&before), "the input is left alone");
        for &b in &BOXES {
            let p = centre_patch(b, 96, 80).unwrap();
            let v = p.view(&out);
            assert!(v.equal(&v.full_like(BLACK)), "{p:?} is not black");
        }
        assert_eq!(BLACK, -2.0, "raw 0 normalised by (v/255 − 0.5)/0.25");
        same_outside(&img, &out, &BOXES);
        // the first box above its patch (rows 20..30) is untouched
        let ring = out.narrow(1, 20, 10).narrow(2, 10, 20);
        assert!(ring.equal(&img.narrow(1, 20, 10).narrow(2, 10, 20)));
    }

    #[test]
    fn flip_patch_is_the_flipped_original_patch_each_way() {
        let img = image(96, 80, 2);
        let mut seen = [false; 3];
        for seed in 0..30 {
            let out = perturb(Perturbation::FlipPatch, &img, &BOXES[..2], seed, 0);
            same_outside(&img, &out, &BOXES[..2]);
            for &b in &BOXES[..2] {
                let p = centre_patch(b, 96, 80).unwrap();
                let (got, orig) = (p.view(&out), p.view(&img));
                let ways = [orig.flip([2]), orig.flip([1]), orig.flip([1, 2])];
                let way = ways.iter().position(|f| f.equal(&got));
                assert!(way.is_some(), "{p:?} is not a flip of the original");
                assert!(!got.equal(&orig));
                seen[way.unwrap()] = true;
            }
        }
        assert_eq!(seen, [true; 3], "left/right, top/bottom and both all occur");
    }

    #[test]
    fn random_patch_copies_a_region_outside_every_box() {
        let (w, h) = (96, 80);
        let img = image(w, h, 3);
        let mut sources = std::collections::HashSet::new();
        for index in 0..10 {
            let out = perturb(Perturbation::RandomPatch, &img, &BOXES[..2], 7, index);
            same_outside(&img, &out, &BOXES[..2]);
            for &b in &BOXES[..2] {
                let p = centre_patch(b, w, h).unwrap();
                let got = p.view(&out);
                // find where it came from: every position whose region equals the patch
                let from: Vec<(i64, i64)> = (0..=h - p.h)
                    .flat_map(|y| (0..=w - p.w).map(move |x| (x, y)))
                    .filter(|&(x, y)| Patch { x, y, ..p }.view(&img).equal(&got))
                    .collect();
                assert_eq!(from.len(), 1, "{p:?} copies one region: {from:?}");
                let src = Patch {
                    x: from[0].0,
                    y: from[0].1,
                    ..p
                };
                for bb in &BOXES[..2] {
                    assert_eq!(src.overlap(bb), 0.0, "source {src:?} touches box {bb:?}");
                }
                sources.insert(from[0]);
            }
        }
        assert!(sources.len() > 10, "the sources vary: {sources:?}");
    }

    #[test]
    fn random_patch_falls_back_to_the_least_covered_region() {
        // one box covers all but the last 4 columns: no 10-wide region is free of it
        let boxes = [[0.0, 0.0, 28.0, 32.0]];
        let mut rng = Rng::new(5);
        let src = random_source(&boxes, (10, 10), (32, 32), &mut rng);
        assert_eq!(src.x, 22, "the rightmost regions overlap least: {src:?}");
        // a free region exists only at the far right when the patch is 4 wide
        let src = random_source(&boxes, (4, 10), (32, 32), &mut rng);
        assert_eq!((src.x, src.overlap(&boxes[0])), (28, 0.0));
        let img = image(32, 32, 4);
        let out = random_patch(&img, &boxes, &mut rng);
        same_outside(&img, &out, &boxes);
    }

    #[test]
    fn gaussian_noise_has_variance_a_hundredth_and_repeats_per_seed() {
        let img = Tensor::zeros([3, 256, 256], (Kind::Float, Device::Cpu));
        let a = perturb(Perturbation::GaussianNoise, &img, &[], 3, 5);
        let mean = a.mean(Kind::Double).double_value(&[]);
        let var = a.var(false).double_value(&[]);
        assert!(mean.abs() < 1e-3, "mean {mean}");
        assert!((var - 0.01).abs() < 2e-4, "variance {var}");
        // a normal distribution: about 68.3 % within one σ
        let within = a
            .abs()
            .le(0.1)
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[]);
        assert!((within - 0.6827).abs() < 0.005, "{within}");
        assert!(a.equal(&perturb(Perturbation::GaussianNoise, &img, &[], 3, 5)));
        assert!(!a.equal(&perturb(Perturbation::GaussianNoise, &img, &[], 3, 6)));
        assert!(!a.equal(&perturb(Perturbation::GaussianNoise, &img, &[], 4, 5)));
        // added to the image, not replacing it
        let one = img.ones_like();
        let b = perturb(Perturbation::GaussianNoise, &one, &[], 3, 5);
        assert!((b - 1.0).allclose(&a, 1e-6, 1e-6, false));
    }

    #[test]
    fn every_kind_is_deterministic_per_seed_and_index() {
        let img = image(64, 64, 9);
        let boxes = [[4.0, 4.0, 30.0, 20.0], [40.0, 30.0, 60.0, 62.0]];
        for kind in Perturbation::ALL {
            let a = perturb(kind, &img, &boxes, 1, 2);
            assert!(a.equal(&perturb(kind, &img, &boxes, 1, 2)), "{kind:?}");
            assert!(!a.equal(&img), "{kind:?} changes the image");
        }
    }

    #[test]
    fn names_are_the_config_spelling() {
        for kind in Perturbation::ALL {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.name())
            );
        }
        assert_eq!(
            Perturbation::BlackPatch.metric_key("AP50"),
            "AP50@black_patch"
        );
    }

    #[test]
    fn raw_perturbations_act_in_the_detectors_normalised_space() {
        let (mean, std) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
        let raw = (image(24, 20, 9) * 0.2 + 0.5).clamp(0.0, 1.0);
        let boxes = [[2.0, 3.0, 14.0, 15.0]];
        // Black: a raw 0 inside the patch, the image untouched elsewhere.
        let out = perturb_raw(Perturbation::BlackPatch, &raw, &boxes, 1, 0, mean, std);
        let mask = patch_mask(&boxes, 24, 20);
        let inside = out.masked_select(&mask.unsqueeze(0).expand([3, 20, 24], false));
        assert!(inside.abs().max().double_value(&[]) < 1e-6);
        let outside = (&out - &raw)
            .masked_select(&mask.logical_not().unsqueeze(0).expand([3, 20, 24], false));
        assert!(outside.abs().max().double_value(&[]) < 1e-6);
        // Noise: the stream of `perturb`, scaled by each channel's std.
        let noisy = perturb_raw(Perturbation::GaussianNoise, &raw, &[], 3, 5, mean, std);
        let zero = Tensor::zeros([3, 20, 24], (Kind::Float, Device::Cpu));
        let unit = perturb(Perturbation::GaussianNoise, &zero, &[], 3, 5);
        for c in 0..3 {
            let want = unit.get(c) * std[c as usize];
            let got = noisy.get(c) - raw.get(c);
            assert!(
                (got - want).abs().max().double_value(&[]) < 1e-5,
                "channel {c}"
            );
        }
        // Flips move raw values, whatever the normalisation.
        let flipped = perturb_raw(Perturbation::FlipPatch, &raw, &boxes, 1, 0, mean, std);
        let same_space = perturb(Perturbation::FlipPatch, &raw, &boxes, 1, 0);
        assert!((flipped - same_space).abs().max().double_value(&[]) < 1e-6);
    }
}
