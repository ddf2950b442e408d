//! Smooth-L1 (Girshick, "Fast R-CNN", ICCV 2015, Eq. 3, with the threshold β of Detectron and
//! mmdetection): per coordinate `d = p − t`, `0.5 d² / β` if `|d| < β`, else `|d| − 0.5 β`,
//! summed over the four coordinates. β → 0 is L1 (β = 0 is computed as L1).

use super::{RegLoss, Space};
use tch::Tensor;

#[derive(Debug, Clone)]
pub struct SmoothL1 {
    pub beta: f64,
}

impl RegLoss for SmoothL1 {
    fn name(&self) -> &'static str {
        "smooth_l1"
    }
    fn space(&self) -> Space {
        Space::Encoded
    }
    fn per_box(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        let d = (pred - target).abs();
        let l = if self.beta < 1e-12 {
            d
        } else {
            let quad = d.square() * (0.5 / self.beta);
            let lin = &d - 0.5 * self.beta;
            quad.where_self(&d.lt(self.beta), &lin)
        };
        l.sum_dim_intlist(1, false, pred.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{reduce, RegLoss};
    use super::*;
    use crate::trainer::synth::Rng;

    fn elem(d: f64, beta: f64) -> (f64, f64) {
        if d.abs() < beta {
            (0.5 * d * d / beta, d / beta)
        } else {
            (d.abs() - 0.5 * beta, d.signum())
        }
    }

    fn reference(p: &[f64], t: &[f64], w: &[f64], beta: f64) -> f64 {
        let num: f64 = (0..w.len())
            .map(|i| {
                w[i] * (0..4)
                    .map(|c| elem(p[i * 4 + c] - t[i * 4 + c], beta).0)
                    .sum::<f64>()
            })
            .sum();
        num / w.iter().sum::<f64>()
    }

    #[test]
    fn smooth_l1_matches_formula_and_finite_differences() {
        let mut rng = Rng::new(3);
        for beta in [1.0 / 9.0, 1.0, 0.0] {
            let (p, t, w) = (
                uniform(&mut rng, 40, -1.0, 1.0),
                uniform(&mut rng, 40, -1.0, 1.0),
                uniform(&mut rng, 10, 0.1, 1.0),
            );
            let pt = leaf(&p, &[10, 4]);
            let loss = reduce(
                &SmoothL1 { beta }.per_box(&pt, &constant(&t, &[10, 4])),
                &constant(&w, &[10]),
                w.iter().sum(),
            );
            loss.backward();
            assert_close(
                &[scalar(&loss)],
                &[reference(&p, &t, &w, beta)],
                1e-12,
                "smooth-l1 value",
            );
            let ws: f64 = w.iter().sum();
            let analytic: Vec<f64> = (0..40)
                .map(|j| w[j / 4] * elem(p[j] - t[j], beta).1 / ws)
                .collect();
            assert_close(
                &to_vec(&pt.grad()),
                &analytic,
                1e-12,
                "smooth-l1 grad vs analytic",
            );
            let fd = finite_diff(|p| reference(p, &t, &w, beta), &p, 1e-7);
            assert_close(&to_vec(&pt.grad()), &fd, 1e-5, "smooth-l1 grad vs fd");
        }
    }
}
