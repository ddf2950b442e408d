//! Harmonic IoU loss (Wang & Zhang, Harmonic loss supplementary, Section 3, Eq. 11–13) on
//! decoded boxes: `L = (1 + IoU)^γ · (1 − IoU)`, `IoU = I / (U + ε)` as in [`super::iou`].
//! `∂L/∂IoU = (1 + IoU)^(γ−1) · ((γ − 1) − (γ + 1)·IoU)` (Eq. 12), ≤ 0 on [0, 1] only when
//! γ ≤ 1 (Eq. 13): the spec enforces 0 < γ ≤ 1. The factor `(1 + IoU)^γ` up-weights high-IoU
//! boxes. Finite for disjoint and zero-area boxes (IoU = 0 gives L = 1).

use super::iou::Geometry;
use super::{RegLoss, Space};
use tch::Tensor;

#[derive(Debug, Clone)]
pub struct Hiou {
    pub gamma: f64,
}

/// `(1 + IoU)^γ (1 − IoU)` of an IoU tensor.
pub fn of_iou(iou: &Tensor, gamma: f64) -> Tensor {
    (iou + 1.0).pow_tensor_scalar(gamma) * (iou.neg() + 1.0)
}

impl RegLoss for Hiou {
    fn name(&self) -> &'static str {
        "hiou"
    }
    fn space(&self) -> Space {
        Space::Boxes
    }
    fn per_box(&self, p: &Tensor, g: &Tensor) -> Tensor {
        of_iou(&Geometry::new(p, g).iou, self.gamma)
    }
}

#[cfg(test)]
mod tests {
    use super::super::iou::EPS;
    use super::super::testutil::*;
    use super::*;
    use crate::trainer::synth::Rng;

    #[test]
    fn derivative_is_supplementary_eq_12_and_monotone_for_gamma_le_1() {
        let ious: Vec<f64> = (0..=20).map(|k| k as f64 / 20.0).collect();
        for &gamma in &[0.1, 0.5, 1.0, 2.0] {
            let t = leaf(&ious, &[21]);
            of_iou(&t, gamma).sum(tch::Kind::Double).backward();
            let eq12: Vec<f64> = ious
                .iter()
                .map(|u| (1.0 + u).powf(gamma - 1.0) * ((gamma - 1.0) - (gamma + 1.0) * u))
                .collect();
            let got = to_vec(&t.grad());
            assert_close(&got, &eq12, 1e-12, "Eq. 12");
            // Eq. 13: non-increasing in IoU on [0, 1] iff γ ≤ 1 (γ = 2 rises at IoU = 0)
            assert_eq!(got.iter().all(|&d| d <= 1e-15), gamma <= 1.0, "γ = {gamma}");
        }
    }

    #[test]
    fn hiou_on_boxes_matches_finite_differences() {
        let mut rng = Rng::new(12);
        let mk = |rng: &mut Rng| -> Vec<f64> {
            (0..8)
                .flat_map(|_| {
                    let v = uniform(rng, 4, 0.0, 10.0);
                    [v[0], v[1], v[0] + 3.0 + v[2], v[1] + 3.0 + v[3]]
                })
                .collect()
        };
        let (p, g) = (mk(&mut rng), mk(&mut rng));
        let f = |p: &[f64]| -> f64 {
            (0..8)
                .map(|i| {
                    let (a, b) = (&p[i * 4..i * 4 + 4], &g[i * 4..i * 4 + 4]);
                    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
                    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
                    let inter = iw * ih;
                    let u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
                    let iou = inter / (u + EPS);
                    (1.0 + iou).powf(0.5) * (1.0 - iou)
                })
                .sum()
        };
        let pt = leaf(&p, &[8, 4]);
        let l = Hiou { gamma: 0.5 }
            .per_box(&pt, &constant(&g, &[8, 4]))
            .sum(tch::Kind::Double);
        l.backward();
        assert_close(&[scalar(&l)], &[f(&p)], 1e-12, "hiou value");
        assert_close(
            &to_vec(&pt.grad()),
            &finite_diff(f, &p, 1e-6),
            1e-6,
            "hiou grad",
        );
        let zero = Hiou { gamma: 0.5 }.per_box(
            &constant(&[5.0, 5.0, 5.0, 5.0], &[1, 4]),
            &constant(&[0.0, 0.0, 9.0, 9.0], &[1, 4]),
        );
        assert_eq!(to_vec(&zero), [1.0]);
    }
}
