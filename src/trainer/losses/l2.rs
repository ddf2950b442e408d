//! L2 loss on the encoded targets: `ℓ = Σ_c (p_c − t_c)²` over the four coordinates (the plain
//! squared error, no ½; the "L2 (Baseline)" row of the UGS ablation).

use super::{RegLoss, Space};
use tch::Tensor;

#[derive(Debug, Clone)]
pub struct L2;

impl RegLoss for L2 {
    fn name(&self) -> &'static str {
        "l2"
    }
    fn space(&self) -> Space {
        Space::Encoded
    }
    fn per_box(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        (pred - target)
            .square()
            .sum_dim_intlist(1, false, pred.kind())
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
            &L2.per_box(&pt, &constant(&t, &[10, 4])),
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
}
