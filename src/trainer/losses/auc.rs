//! AUC-loss: the ranking baseline of the AP-loss paper (Section 3.1.2, Eq. 7; Table 2).
//!
//! The same error-driven scheme as AP-loss ([`super::ap`]) with the activation
//! `L'_ij = f(x_ij) / |N|` (no rank denominator, no interpolation), `x_ij = s_j − s_i`, `f` the
//! piecewise step function of width δ (Eq. 21), `i ∈ P`, `j ∈ N` (all negatives: |N| counts the
//! trivial ones too). Update: `g_i = −Σ_j L'_ij`, `g_j = Σ_i L'_ij`, divided by |P| as for
//! AP-loss; logged value `1 − AUC = (1/(|P||N|)) Σ_i Σ_j f(x_ij) = −Σ_{i ∈ P} g_i`.
//! [`reference`] is the double loop; [`fast`] uses the sorted-positive sums of
//! [`super::ranking`] (O((|P| + |N|) log |P|)). Minibatch or per-image ranking as for AP-loss.

use super::ranking::{inject, step, SortedPositives, Update, NEG, POS};
use super::{ClsBatch, ClsLoss, ClsOut};

#[derive(Debug, Clone)]
pub struct AucLoss {
    pub delta: f64,
    pub minibatch: bool,
}

impl ClsLoss for AucLoss {
    fn name(&self) -> &'static str {
        "auc"
    }

    fn loss(&self, b: &ClsBatch) -> ClsOut {
        inject(b, self.minibatch, |s, l| fast(s, l, self.delta))
    }
}

/// The double loop over positives and negatives (the reference).
pub fn reference(scores: &[f64], labels: &[i8], delta: f64) -> Update {
    let mut g = vec![0.0; scores.len()];
    let pos: Vec<usize> = (0..labels.len()).filter(|&k| labels[k] == POS).collect();
    let neg: Vec<usize> = (0..labels.len()).filter(|&k| labels[k] == NEG).collect();
    if pos.is_empty() || neg.is_empty() {
        return Update { grad: g, loss: 0.0 };
    }
    let (p, n) = (pos.len() as f64, neg.len() as f64);
    for &i in &pos {
        for &j in &neg {
            let l = step(scores[j] - scores[i], delta) / n / p;
            g[i] -= l;
            g[j] += l;
        }
    }
    let loss = -pos.iter().map(|&i| g[i]).sum::<f64>();
    Update { grad: g, loss }
}

/// The same update in O((|P| + |N|) log |P|).
pub fn fast(scores: &[f64], labels: &[i8], delta: f64) -> Update {
    let mut g = vec![0.0; scores.len()];
    let pos: Vec<usize> = (0..labels.len()).filter(|&k| labels[k] == POS).collect();
    let neg: Vec<usize> = (0..labels.len()).filter(|&k| labels[k] == NEG).collect();
    if pos.is_empty() || neg.is_empty() {
        return Update { grad: g, loss: 0.0 };
    }
    let (p, n) = (pos.len() as f64, neg.len() as f64);
    let neg_scores: Vec<f64> = neg.iter().map(|&j| scores[j]).collect();
    let sp = SortedPositives::new(scores, &pos);
    let mut loss = 0.0;
    for (r, s) in sp.negatives_above(&neg_scores, delta).iter().enumerate() {
        g[sp.order[r]] = -s / (n * p);
        loss += s / (n * p);
    }
    let ones = vec![1.0; pos.len()];
    for (k, v) in sp
        .weighted_below(&ones, &neg_scores, delta)
        .iter()
        .enumerate()
    {
        g[neg[k]] = v / (n * p);
    }
    Update { grad: g, loss }
}

#[cfg(test)]
mod tests {
    use super::super::ranking::IGNORED;
    use super::*;
    use crate::trainer::synth::Rng;

    #[test]
    fn fast_equals_reference_and_value_is_one_minus_auc() {
        let mut rng = Rng::new(21);
        for t in 0..30 {
            let n = 10 + rng.below(120) as usize;
            let scores: Vec<f64> = (0..n)
                .map(|_| {
                    if t % 2 == 0 {
                        rng.below(5) as f64 - 2.0
                    } else {
                        rng.unit() as f64 * 4.0 - 2.0
                    }
                })
                .collect();
            let labels: Vec<i8> = (0..n)
                .map(|k| match rng.below(8) {
                    0 => IGNORED,
                    1 | 2 => POS,
                    _ if k == 0 => POS,
                    _ => NEG,
                })
                .collect();
            let want = reference(&scores, &labels, 1.0);
            let got = fast(&scores, &labels, 1.0);
            for (x, y) in got.grad.iter().zip(&want.grad) {
                assert!((x - y).abs() < 1e-12, "case {t}: {x} vs {y}");
            }
            assert!((got.loss - want.loss).abs() < 1e-12);
            assert!(want.grad.iter().sum::<f64>().abs() < 1e-12);
        }
        // Heaviside limit: 1 − AUC counts misordered pairs (ties half).
        let u = fast(&[2.0, 0.0, 1.0, 0.0], &[POS, POS, NEG, NEG], 1e-9);
        assert!(
            (u.loss - (0.0 + 1.0 + 0.5) / 4.0).abs() < 1e-12,
            "{}",
            u.loss
        );
    }
}
