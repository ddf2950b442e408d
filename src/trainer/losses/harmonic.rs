//! Harmonic loss (Wang & Zhang, "Reconcile Prediction Consistency for Balanced Object
//! Detection", ICCV 2021; supplementary Eq. 1–10): a joint term of the two tasks.
//!
//! Per positive `i`, with `CE_i = −log p_i` the cross-entropy of its ground-truth class and
//! `ℓ_i` its regression loss: `L_i = (1 + β_r)·CE_i + (1 + β_c)·ℓ_i`, `β_r = e^(−ℓ_i)`,
//! `β_c = e^(−CE_i) = p_i` (Eq. 4). The harmonic factors are not detached: the supplementary
//! differentiates through them (Eq. 2–5: `∂L/∂t = (1 + p + e^(−ℓ) log p)·∂ℓ/∂t`; Eq. 10:
//! `∂L/∂p = ℓ − (1 + e^(−ℓ))/p`); `detach` stops those paths for the ablation.
//!
//! How it composes with the configured losses: the configured classification loss stays the
//! "1 · CE" part over every sample and gets `Σ_i β_r,i · CE_i / P` added; the regression per-box
//! loss becomes `(1 + β_c,i)·ℓ_i`, reduced as usual. `loss.coupling.cls` names the two
//! compositions the spec accepts: `paper`, with CE + OHEM, is exactly the paper's loss on the
//! positives (`(1 + β_r)·CE` with softmax CE, as the supplementary's Eq. 4) plus CE on the mined
//! negatives; `focal`, with a sigmoid loss (focal, AUC, AP), has `p_i = σ(x_i,k)` and the base
//! loss standing in for the "1 · CE" part. `ℓ_i` is the regression kind's per-box loss (its four
//! coordinates summed). [`Harmonic::negative_fraction`] is logged: the share of positives whose
//! regression multiplier (Eq. 5) is negative.

use tch::Tensor;

#[derive(Debug, Clone)]
pub struct Harmonic {
    pub detach: bool,
}

/// The per-positive parts of the harmonic loss.
#[derive(Debug)]
pub struct Coupled {
    /// `β_r,i · CE_i`, added to the classification loss (÷ positives).
    pub cls_extra: Tensor,
    /// `(1 + β_c,i)·ℓ_i`, the new regression per-box loss.
    pub reg_per_box: Tensor,
}

impl Harmonic {
    /// `ce [P]` (`−log p_i`), `reg [P]` (`ℓ_i`).
    pub fn couple(&self, ce: &Tensor, reg: &Tensor) -> Coupled {
        let (mut beta_r, mut beta_c) = (reg.neg().exp(), ce.neg().exp());
        if self.detach {
            (beta_r, beta_c) = (beta_r.detach(), beta_c.detach());
        }
        Coupled {
            cls_extra: beta_r * ce,
            reg_per_box: (beta_c + 1.0) * reg,
        }
    }

    /// The fraction of positives whose regression multiplier (supplementary Eq. 5:
    /// `∂L/∂t = (1 + p + e^(−ℓ)·ln p)·∂ℓ/∂t`, `p = e^(−CE)`) is negative, i.e. whose box the
    /// coupled loss pushes away from its target; 0 without positives. Detached, on the device.
    pub fn negative_fraction(ce: &Tensor, reg: &Tensor) -> Tensor {
        let (ce, reg) = (ce.detach(), reg.detach());
        let multiplier = Self::multiplier(&ce, &reg);
        let negative = multiplier.lt(0.0).to_kind(ce.kind()).sum(ce.kind());
        negative / (ce.numel().max(1) as f64)
    }

    /// `1 + p + e^(−ℓ)·ln p` per positive, with `ln p = −CE` (Eq. 5).
    pub fn multiplier(ce: &Tensor, reg: &Tensor) -> Tensor {
        ce.neg().exp() + 1.0 - reg.neg().exp() * ce
    }

    /// `Σ_i (1 + β_r)·CE_i + (1 + β_c)·ℓ_i` (Eq. 1), for tests and benchmarks.
    pub fn total(&self, ce: &Tensor, reg: &Tensor) -> Tensor {
        let c = self.couple(ce, reg);
        (c.cls_extra + ce + c.reg_per_box).sum(ce.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::super::smooth_l1::SmoothL1;
    use super::super::testutil::*;
    use super::super::RegLoss;
    use super::*;
    use tch::Kind;

    /// Eq. 5 (∂L/∂t) and Eq. 10 (∂L/∂p) against autograd, with `p = σ(x)` a leaf
    /// and `ℓ(t)` a smooth-L1 of the offset `t` (any differentiable ℓ will do).
    #[test]
    fn gradients_match_supplementary_eq_5_and_10() {
        let h = Harmonic { detach: false };
        for &(x, t) in &[(0.3f64, 0.8f64), (-1.2, 0.05), (2.5, -1.7), (0.0, 3.0)] {
            let pt = leaf(&[1.0 / (1.0 + (-x).exp())], &[1]);
            let tt = leaf(&[t, 0.0, 0.0, 0.0], &[1, 4]);
            let ell = SmoothL1 { beta: 1.0 }.per_box(
                &tt,
                &Tensor::zeros([1, 4], (Kind::Double, tch::Device::Cpu)),
            );
            let ce = pt.log().neg();
            h.total(&ce, &ell).backward();
            let (p, l) = (scalar(&pt), scalar(&ell));
            let dl_dt = if t.abs() < 1.0 { t } else { t.signum() };
            let eq5 = (1.0 + p + (-l).exp() * p.ln()) * dl_dt;
            assert_close(&[to_vec(&tt.grad())[0]], &[eq5], 1e-12, "Eq. 5");
            let eq10 = l - (1.0 + (-l).exp()) / p;
            assert_close(&[scalar(&pt.grad().squeeze())], &[eq10], 1e-12, "Eq. 10");
        }
    }

    #[test]
    fn detach_keeps_the_value_and_drops_the_cross_paths() {
        let (ce, reg) = (leaf(&[0.7, 0.2], &[2]), leaf(&[1.5, 0.1], &[2]));
        let (a, b) = (Harmonic { detach: false }, Harmonic { detach: true });
        assert_eq!(scalar(&a.total(&ce, &reg)), scalar(&b.total(&ce, &reg)));
        b.total(&ce, &reg).backward();
        // detached: ∂/∂ce = 1 + β_r, ∂/∂ℓ = 1 + β_c
        let want_ce: Vec<f64> = [1.5f64, 0.1].iter().map(|l| 1.0 + (-l).exp()).collect();
        let want_reg: Vec<f64> = [0.7f64, 0.2].iter().map(|c| 1.0 + (-c).exp()).collect();
        assert_close(&to_vec(&ce.grad()), &want_ce, 1e-12, "detached ce grad");
        assert_close(&to_vec(&reg.grad()), &want_reg, 1e-12, "detached reg grad");
    }

    /// Eq. 5's multiplier against autograd's `∂L/∂t ÷ ∂ℓ/∂t` and a hand computation, and the
    /// negative fraction at focal's prior (p = 0.01: negative for ℓ below
    /// `−ln((1 + p)/(−ln p)) ≈ 1.52`, as the coupled loss at that prior predicts).
    #[test]
    fn multiplier_and_negative_fraction_match_eq_5() {
        let h = Harmonic { detach: false };
        // (p, ℓ) with the hand-computed multiplier 1 + p + e^(−ℓ) ln p.
        let cases = [
            (0.01f64, 0.1f64),
            (0.01, 3.0),
            (0.3, 0.2),
            (0.9, 0.0),
            (0.05, 1.0),
        ];
        for &(p, l) in &cases {
            let hand = 1.0 + p + (-l).exp() * p.ln();
            let (ce, ell) = (leaf(&[-p.ln()], &[1]), leaf(&[l], &[1]));
            let got = scalar(&Harmonic::multiplier(&ce, &ell).squeeze());
            assert_close(&[got], &[hand], 1e-12, "multiplier");
            // autograd: L's derivative in ℓ (ℓ = t, so ∂ℓ/∂t = 1) is the multiplier
            h.total(&ce, &ell).backward();
            assert_close(&[to_vec(&ell.grad())[0]], &[hand], 1e-12, "∂L/∂ℓ");
        }
        // p = 0.01: 1.01 − 4.605 e^(−ℓ) < 0 ⇔ ℓ < ln(4.605 / 1.01) = 1.517
        let ce = constant(&[-(0.01f64).ln(); 5], &[5]);
        let reg = constant(&[0.1, 0.5, 1.5, 1.6, 40.0], &[5]);
        assert_close(
            &[scalar(&Harmonic::negative_fraction(&ce, &reg))],
            &[3.0 / 5.0],
            1e-12,
            "fraction negative",
        );
        let none = constant(&[0.0f64; 0], &[0]);
        assert_eq!(scalar(&Harmonic::negative_fraction(&none, &none)), 0.0);
    }
}
