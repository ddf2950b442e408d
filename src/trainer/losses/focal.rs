//! Sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, Eq. 5).
//!
//! With `p = σ(x)` per (prior, class), `t ∈ {0, 1}` the one-hot target, `p_t = p` if `t = 1`
//! else `1 − p`, and `α_t = α` if `t = 1` else `1 − α`:
//! `FL = −α_t (1 − p_t)^γ log(p_t)`, summed over all non-ignored priors × classes and divided by
//! the number of positives (the paper's normalisation, Section 4 "Focal Loss"). The log term is
//! computed as binary cross-entropy with logits, stable for large |x|. Background rows (label 0)
//! have `t = 0` for every class; ignored rows (label −1) contribute nothing.

use super::{ClsBatch, ClsLoss, ClsOut};
use tch::{Reduction, Tensor};

#[derive(Debug, Clone)]
pub struct Focal {
    pub alpha: f64,
    pub gamma: f64,
}

impl ClsLoss for Focal {
    fn name(&self) -> &'static str {
        "focal"
    }

    fn loss(&self, b: &ClsBatch) -> ClsOut {
        ClsOut::same(self.value(b.logits, b.labels, b.num_pos))
    }
}

impl Focal {
    /// The loss of `logits [N, C]` with `labels [N]`, divided by `num_pos`.
    pub fn value(&self, logits: &Tensor, labels: &Tensor, num_pos: f64) -> Tensor {
        let classes = logits.size()[1];
        let kind = logits.kind();
        let t = labels
            .clamp_min(0)
            .one_hot(classes + 1)
            .narrow(1, 1, classes)
            .to_kind(kind);
        let ce = logits.binary_cross_entropy_with_logits::<Tensor>(&t, None, None, Reduction::None);
        let p = logits.sigmoid();
        // 1 − p_t = p + t − 2 p t
        let one_minus_pt = &p + &t - &p * &t * 2.0;
        let mut l = ce * (&t * (2.0 * self.alpha - 1.0) + (1.0 - self.alpha));
        if self.gamma != 0.0 {
            l *= one_minus_pt.pow_tensor_scalar(self.gamma);
        }
        let valid = labels.ge(0).to_kind(kind).unsqueeze(1);
        (l * valid).sum(kind) / num_pos.max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::trainer::synth::Rng;

    /// Plain f64 reference: value and analytic gradient dFL/dx.
    fn reference(
        x: &[f64],
        labels: &[i64],
        c: usize,
        a: f64,
        g: f64,
        num_pos: f64,
    ) -> (f64, Vec<f64>) {
        let mut grad = vec![0.0; x.len()];
        let mut v = 0.0;
        for (i, &lab) in labels.iter().enumerate() {
            if lab < 0 {
                continue;
            }
            for k in 0..c {
                let j = i * c + k;
                let p = 1.0 / (1.0 + (-x[j]).exp());
                if lab == k as i64 + 1 {
                    v += -a * (1.0 - p).powf(g) * p.ln();
                    grad[j] = a * (1.0 - p).powf(g) * (g * p * p.ln() - (1.0 - p));
                } else {
                    v += -(1.0 - a) * p.powf(g) * (1.0 - p).ln();
                    grad[j] = -(1.0 - a) * p.powf(g) * (g * (1.0 - p) * (1.0 - p).ln() - p);
                }
            }
        }
        (v / num_pos, grad.iter().map(|d| d / num_pos).collect())
    }

    #[test]
    fn focal_matches_formula_and_finite_differences() {
        let mut rng = Rng::new(7);
        let (n, c) = (12usize, 3usize);
        for &(a, g) in &[(0.25, 2.0), (0.5, 0.0), (0.75, 1.5)] {
            let x = uniform(&mut rng, n * c, -4.0, 4.0);
            let labels: Vec<i64> = (0..n).map(|_| rng.below(c as u64 + 2) as i64 - 1).collect();
            let num_pos = labels.iter().filter(|&&l| l > 0).count().max(1) as f64;
            let xt = leaf(&x, &[n as i64, c as i64]);
            let loss =
                Focal { alpha: a, gamma: g }.value(&xt, &Tensor::from_slice(&labels), num_pos);
            loss.backward();
            let (want, want_grad) = reference(&x, &labels, c, a, g, num_pos);
            assert_close(&[scalar(&loss)], &[want], 1e-12, "focal value");
            assert_close(
                &to_vec(&xt.grad()),
                &want_grad,
                1e-10,
                "focal grad vs analytic",
            );
            let fd = finite_diff(|x| reference(x, &labels, c, a, g, num_pos).0, &x, 1e-6);
            assert_close(
                &to_vec(&xt.grad()),
                &fd,
                1e-6,
                "focal grad vs finite differences",
            );
        }
    }

    #[test]
    fn focal_ignores_label_minus_one_and_is_finite_at_extremes() {
        let x = leaf(&[60.0, -60.0, 0.0, 5.0], &[2, 2]);
        let l = Focal {
            alpha: 0.25,
            gamma: 2.0,
        }
        .value(&x, &Tensor::from_slice(&[1i64, -1]), 1.0);
        l.backward();
        assert!(scalar(&l).is_finite() && to_vec(&x.grad()).iter().all(|g| g.is_finite()));
        assert_eq!(to_vec(&x.grad())[2..], [0.0, 0.0]);
    }
}
