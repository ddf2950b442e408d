//! L1 loss on the encoded targets: `ℓ = Σ_c |p_c − t_c|` over the four coordinates
//! (the "|d|" of the regression-loss ablations, e.g. Table 3 of the UGS summary's baselines).

use super::{RegLoss, Space};
use tch::Tensor;

#[derive(Debug, Clone)]
pub struct L1;

impl RegLoss for L1 {
    fn name(&self) -> &'static str {
        "l1"
    }
    fn space(&self) -> Space {
        Space::Encoded
    }
    fn per_box(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        (pred - target).abs().sum_dim_intlist(1, false, pred.kind())
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
                    .map(|c| (p[i * 4 + c] - t[i * 4 + c]).abs())
                    .sum::<f64>()
            })
            .sum();
        num / w.iter().sum::<f64>()
    }

    #[test]
    fn l1_matches_formula_and_finite_differences() {
        let mut rng = Rng::new(1);
        let (p, t, w) = (
            uniform(&mut rng, 40, -2.0, 2.0),
            uniform(&mut rng, 40, -2.0, 2.0),
            uniform(&mut rng, 10, 0.1, 1.0),
        );
        let pt = leaf(&p, &[10, 4]);
        let loss = reduce(
            &L1.per_box(&pt, &constant(&t, &[10, 4])),
            &constant(&w, &[10]),
            w.iter().sum(),
        );
        loss.backward();
        assert_close(
            &[scalar(&loss)],
            &[reference(&p, &t, &w)],
            1e-12,
            "l1 value",
        );
        let ws: f64 = w.iter().sum();
        let analytic: Vec<f64> = (0..40)
            .map(|j| w[j / 4] * (p[j] - t[j]).signum() / ws)
            .collect();
        assert_close(&to_vec(&pt.grad()), &analytic, 1e-12, "l1 grad vs analytic");
        assert_close(
            &to_vec(&pt.grad()),
            &finite_diff(|p| reference(p, &t, &w), &p, 1e-6),
            1e-6,
            "l1 grad vs fd",
        );
    }
}
