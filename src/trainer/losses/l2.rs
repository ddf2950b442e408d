//! L2 loss: `ℓ = Σ_c (p_c − t_c)²` over the four coordinates (the plain squared error, no ½;
//! the "L2 (Baseline)" row of the UGS ablation), on the detector's encoded targets or on a box
//! coder's.
//!
//! `normalize: encoded` compares the encoded targets as they are: FCOS's ltrb / stride (up to 8
//! at P3, so per-box values of 10–50 at the start) or RetinaNet's anchor deltas.
//! `normalize: box_coder` scales the targets so that a typical value is about 1, as the UGS
//! paper's detector does (supplementary Eq. 1 and 5: the centre offset divided by the anchor's
//! width, the log of the size over the anchor's). RetinaNet's deltas already are that box
//! coder's, so the spec accepts `box_coder` for FCOS only. FCOS regresses distances, not a
//! centre and a size: we divide each distance by the location's anchor side, taken as
//! [`FCOS_ANCHOR_STRIDES`] strides, the bound FCOS puts on `max(l, t, r, b)` per level, so the
//! targets lie in [0, 1] on the levels with an upper bound. Why not the log of the distance:
//! the FCOS head's distances are ReLU outputs that start at or near 0, where a log has no
//! gradient (clamped) or an unbounded one; a linear scale keeps L2's shape and only changes
//! its size (the loss and its gradient shrink by 8² = 64). Near the target its curvature per
//! pixel, `2 / (8 s)²`, is the box coder's `2 / w_a²` (Eq. 4) for an anchor of side `8 s`.

use super::{RegLoss, Space};
use crate::spec::config::L2Normalize;
use tch::Tensor;

/// The side of an FCOS location's anchor for `normalize: box_coder`, in strides: FCOS's
/// per-level bound on `max(l, t, r, b)` (torchvision's FCOS bounds its levels at 8 anchor
/// sides too).
pub const FCOS_ANCHOR_STRIDES: f64 = crate::trainer::fcos::RANGE_PER_STRIDE as f64;

#[derive(Debug, Clone)]
pub struct L2 {
    pub normalize: L2Normalize,
}

impl L2 {
    /// What the encoded targets are divided by before the squared error.
    pub fn scale(&self) -> f64 {
        match self.normalize {
            L2Normalize::Encoded => 1.0,
            L2Normalize::BoxCoder => FCOS_ANCHOR_STRIDES,
        }
    }
}

impl RegLoss for L2 {
    fn name(&self) -> &'static str {
        "l2"
    }
    fn space(&self) -> Space {
        Space::Encoded
    }
    fn per_box(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        let d = pred - target;
        let d = match self.normalize {
            L2Normalize::Encoded => d,
            L2Normalize::BoxCoder => d / self.scale(),
        };
        d.square().sum_dim_intlist(1, false, pred.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{reduce, RegLoss};
    use super::*;
    use crate::trainer::synth::Rng;

    fn reference(p: &[f64], t: &[f64], w: &[f64]) -> f64 {
        let num: f64 = (0..w.len())
            .map(|i| {
                w[i] * (0..4)
                    .map(|c| (p[i * 4 + c] - t[i * 4 + c]).powi(2))
                    .sum::<f64>()
            })
            .sum();
        num / w.iter().sum::<f64>()
    }

    const ENCODED: L2 = L2 {
        normalize: L2Normalize::Encoded,
    };

    #[test]
    fn l2_matches_formula_and_finite_differences() {
        let mut rng = Rng::new(2);
        let (p, t, w) = (
            uniform(&mut rng, 40, -2.0, 2.0),
            uniform(&mut rng, 40, -2.0, 2.0),
            uniform(&mut rng, 10, 0.1, 1.0),
        );
        let pt = leaf(&p, &[10, 4]);
        let loss = reduce(
            &ENCODED.per_box(&pt, &constant(&t, &[10, 4])),
            &constant(&w, &[10]),
            w.iter().sum(),
        );
        loss.backward();
        assert_close(
            &[scalar(&loss)],
            &[reference(&p, &t, &w)],
            1e-12,
            "l2 value",
        );
        let ws: f64 = w.iter().sum();
        let analytic: Vec<f64> = (0..40)
            .map(|j| w[j / 4] * 2.0 * (p[j] - t[j]) / ws)
            .collect();
        assert_close(&to_vec(&pt.grad()), &analytic, 1e-12, "l2 grad vs analytic");
        assert_close(
            &to_vec(&pt.grad()),
            &finite_diff(|p| reference(p, &t, &w), &p, 1e-6),
            1e-6,
            "l2 grad vs fd",
        );
    }

    /// Box-coder targets: FCOS distances in strides divided by the anchor side (8), value and
    /// gradient against a transcription that divides the pixel distances by the anchor's side
    /// in pixels (Eq. 1's `(x − x̂)/w_a` per coordinate), and against finite differences.
    #[test]
    fn l2_box_coder_matches_pixel_transcription_and_finite_differences() {
        let mut rng = Rng::new(5);
        let n = 12;
        let (p, t, w) = (
            uniform(&mut rng, 4 * n, 0.0, 8.0),
            uniform(&mut rng, 4 * n, 0.0, 8.0),
            uniform(&mut rng, n, 0.1, 1.0),
        );
        let strides: Vec<f64> = (0..n).map(|i| [8.0, 16.0, 32.0][i % 3]).collect();
        // In pixels: distance = encoded × stride, anchor side = 8 × stride.
        let pixels = |p: &[f64]| -> f64 {
            let num: f64 = (0..n)
                .map(|i| {
                    let (s, wa) = (strides[i], 8.0 * strides[i]);
                    w[i] * (0..4)
                        .map(|c| ((p[i * 4 + c] * s - t[i * 4 + c] * s) / wa).powi(2))
                        .sum::<f64>()
                })
                .sum();
            num / w.iter().sum::<f64>()
        };
        let coder = L2 {
            normalize: L2Normalize::BoxCoder,
        };
        let pt = leaf(&p, &[n as i64, 4]);
        let loss = reduce(
            &coder.per_box(&pt, &constant(&t, &[n as i64, 4])),
            &constant(&w, &[n as i64]),
            w.iter().sum(),
        );
        loss.backward();
        assert_close(&[scalar(&loss)], &[pixels(&p)], 1e-12, "box coder value");
        assert_close(
            &[scalar(&loss)],
            &[reference(&p, &t, &w) / 64.0],
            1e-12,
            "box coder = encoded / 8²",
        );
        assert_close(
            &to_vec(&pt.grad()),
            &finite_diff(pixels, &p, 1e-6),
            1e-6,
            "box coder grad vs fd",
        );
    }
}
