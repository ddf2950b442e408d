//! The machinery shared by AP-loss ([`super::ap`]) and AUC-loss ([`super::auc`]): samples,
//! the piecewise step function, the sums that make the fast forms O((|P| + |N|) log |P|), and
//! the injection of an error-driven update through a surrogate.
//!
//! **Samples** (AP-loss paper, Section 3.1.1): a sample is an (prior, class) pair. Labels are the
//! one-hot class targets flattened over priors × classes: a prior of class `k` gives a positive
//! at `k` and negatives at the other classes, a background prior `C` negatives, an ignored prior
//! (label −1) nothing. Scores are the raw logits.
//!
//! **Step function** (Eq. 21): `f(x) = 0` for `x < −δ`, `x/(2δ) + ½` on `[−δ, δ]`, 1 above;
//! `f(0) = ½`, so tied scores count half.
//!
//! **Fast sums.** With the positives' scores sorted ascending, every negative `j` splits them
//! into three index ranges: `s_i < s_j − δ` (f(s_j − s_i) = 1), `[s_j − δ, s_j + δ]` (linear in
//! `s_i`), `s_i > s_j + δ` (0); two binary searches find them. Adding each negative's
//! contribution to difference arrays (a constant and a slope per range) gives every positive's
//! `Σ_j f(s_j − s_i)` in one pass; prefix sums of weights `w_i` and `w_i s_i` over the sorted
//! positives give every negative's `Σ_i w_i f(s_j − s_i)` with the same two searches. Both are
//! exact up to float rounding (scores are centred first to keep the sums small).
//!
//! **Surrogate.** The update `g` is not the gradient of any function (Section 3.3.2); it is
//! injected as `surrogate = Σ logits · g` with `g` a constant, whose gradient is `g`.

use super::{host_f64, scalar_tensor, ClsBatch, ClsOut};
use tch::Tensor;

/// Sample label: positive, negative, or not counted.
pub const POS: i8 = 1;
pub const NEG: i8 = 0;
pub const IGNORED: i8 = -1;

/// The piecewise step function of Eq. 21.
pub fn step(x: f64, delta: f64) -> f64 {
    if x < -delta {
        0.0
    } else if x > delta {
        1.0
    } else {
        x / (2.0 * delta) + 0.5
    }
}

/// An update: `grad[k]` for every sample, and the loss value it reduces.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub grad: Vec<f64>,
    pub loss: f64,
}

/// Positives sorted ascending by (score, index), scores centred on their mean.
#[derive(Debug)]
pub struct SortedPositives {
    /// Indices into the input, in ascending score order (ties: lower index first).
    pub order: Vec<usize>,
    /// Their centred scores, ascending.
    pub s: Vec<f64>,
    /// The centre subtracted from every score.
    pub centre: f64,
}

impl SortedPositives {
    pub fn new(scores: &[f64], positives: &[usize]) -> SortedPositives {
        let mut order = positives.to_vec();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
        let centre = order.iter().map(|&i| scores[i]).sum::<f64>() / order.len().max(1) as f64;
        let s = order.iter().map(|&i| scores[i] - centre).collect();
        SortedPositives { order, s, centre }
    }

    /// `[lo, hi)`: the sorted positives in the linear range of a score `x` (centred), i.e.
    /// `x − δ ≤ s_i ≤ x + δ`; those below `lo` are more than δ below `x`.
    pub fn range(&self, x: f64, delta: f64) -> (usize, usize) {
        let lo = self.s.partition_point(|&v| v < x - delta);
        let hi = self.s.partition_point(|&v| v <= x + delta);
        (lo, hi)
    }

    /// For each sorted positive `i`: `Σ_{k ∈ P, k ≠ i} f(s_k − s_i)`.
    pub fn among_positives(&self, delta: f64) -> Vec<f64> {
        let n = self.s.len();
        let mut prefix = vec![0.0; n + 1];
        for (k, v) in self.s.iter().enumerate() {
            prefix[k + 1] = prefix[k] + v;
        }
        self.s
            .iter()
            .map(|&x| {
                let (lo, hi) = self.range(x, delta);
                let m = (hi - lo) as f64;
                // above the range: f = 1; in it: (s_k − x)/(2δ) + ½; minus f(0) = ½ for k = i
                (n - hi) as f64 + (prefix[hi] - prefix[lo] - m * x) / (2.0 * delta) + 0.5 * m - 0.5
            })
            .collect()
    }

    /// For each sorted positive `i`: `Σ_j f(s_j − s_i)` over the negatives' scores `negs`
    /// (uncentred), through difference arrays.
    pub fn negatives_above(&self, negs: &[f64], delta: f64) -> Vec<f64> {
        let n = self.s.len();
        let (mut ones, mut constant, mut slope) =
            (vec![0.0; n + 1], vec![0.0; n + 1], vec![0.0; n + 1]);
        for &sj in negs {
            let y = sj - self.centre;
            let (lo, hi) = self.range(y, delta);
            // s_i < y − δ: f = 1
            ones[0] += 1.0;
            ones[lo] -= 1.0;
            // linear: f = (y − s_i)/(2δ) + ½ = (y/(2δ) + ½) − s_i/(2δ)
            let c = y / (2.0 * delta) + 0.5;
            constant[lo] += c;
            constant[hi] -= c;
            slope[lo] += 1.0;
            slope[hi] -= 1.0;
        }
        let (mut o, mut c, mut k) = (0.0, 0.0, 0.0);
        (0..n)
            .map(|i| {
                o += ones[i];
                c += constant[i];
                k += slope[i];
                o + c - k * self.s[i] / (2.0 * delta)
            })
            .collect()
    }

    /// For each negative `j`: `Σ_i w_i f(s_j − s_i)`, `w` in sorted order.
    pub fn weighted_below(&self, w: &[f64], negs: &[f64], delta: f64) -> Vec<f64> {
        let n = self.s.len();
        let (mut pw, mut pws) = (vec![0.0; n + 1], vec![0.0; n + 1]);
        for i in 0..n {
            pw[i + 1] = pw[i] + w[i];
            pws[i + 1] = pws[i] + w[i] * self.s[i];
        }
        negs.iter()
            .map(|&sj| {
                let y = sj - self.centre;
                let (lo, hi) = self.range(y, delta);
                let lin = (y / (2.0 * delta) + 0.5) * (pw[hi] - pw[lo])
                    - (pws[hi] - pws[lo]) / (2.0 * delta);
                pw[lo] + lin
            })
            .collect()
    }
}

/// Sample labels `[N · C]` of prior labels `[N]` (see the module doc).
pub fn sample_labels(prior_labels: &[i64], classes: usize) -> Vec<i8> {
    let mut out = Vec::with_capacity(prior_labels.len() * classes);
    for &l in prior_labels {
        for k in 0..classes {
            out.push(match l {
                l if l < 0 => IGNORED,
                l if l == k as i64 + 1 => POS,
                _ => NEG,
            });
        }
    }
    out
}

/// Runs `f` on the whole batch (`minibatch`) or on each image's samples, averaging the images
/// that have a positive (an image without one has no AP: it gets no update).
pub fn by_images(
    scores: &[f64],
    labels: &[i8],
    images: usize,
    minibatch: bool,
    f: impl Fn(&[f64], &[i8]) -> Update,
) -> Update {
    if minibatch || images <= 1 {
        return f(scores, labels);
    }
    let per = scores.len() / images;
    let mut grad = vec![0.0; scores.len()];
    let (mut loss, mut counted) = (0.0, 0usize);
    for b in 0..images {
        let r = b * per..(b + 1) * per;
        if !labels[r.clone()].contains(&POS) {
            continue;
        }
        let u = f(&scores[r.clone()], &labels[r.clone()]);
        grad[r].copy_from_slice(&u.grad);
        loss += u.loss;
        counted += 1;
    }
    let k = counted.max(1) as f64;
    grad.iter_mut().for_each(|g| *g /= k);
    Update {
        grad,
        loss: loss / k,
    }
}

/// Computes an update on the host from a batch and injects it: the surrogate
/// `Σ logits · g` (g constant) to back-propagate, the update's loss to log.
pub fn inject(b: &ClsBatch, minibatch: bool, f: impl Fn(&[f64], &[i8]) -> Update) -> ClsOut {
    let classes = b.logits.size()[1] as usize;
    let scores = host_f64(b.logits);
    let prior_labels =
        Vec::<i64>::try_from(b.labels.to_device(tch::Device::Cpu)).expect("int64 labels");
    let labels = sample_labels(&prior_labels, classes);
    let u = by_images(&scores, &labels, b.images.max(1) as usize, minibatch, f);
    let g = Tensor::from_slice(&u.grad)
        .view_as(b.logits)
        .to_kind(b.logits.kind())
        .to_device(b.logits.device());
    ClsOut {
        backprop: (b.logits * g).sum(b.logits.kind()),
        value: scalar_tensor(u.loss, b.logits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trainer::synth::Rng;

    #[test]
    fn step_function_is_eq_21() {
        let d = 0.5;
        let got: Vec<f64> = [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
            .iter()
            .map(|&x| step(x, d))
            .collect();
        assert_eq!(got, [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
    }

    #[test]
    fn fast_sums_equal_direct_sums_with_ties() {
        let mut rng = Rng::new(5);
        for case in 0..20 {
            // scores on a coarse grid: many exact ties, and ties at ±δ
            let n = 1 + rng.below(30) as usize;
            let scores: Vec<f64> = (0..n).map(|_| rng.below(9) as f64 * 0.5 - 2.0).collect();
            let negs: Vec<f64> = (0..40).map(|_| rng.below(9) as f64 * 0.5 - 2.0).collect();
            let delta = [0.5, 1.0, 0.3][case % 3];
            let idx: Vec<usize> = (0..n).collect();
            let sp = SortedPositives::new(&scores, &idx);
            let w: Vec<f64> = (0..n).map(|i| 0.1 + i as f64).collect();
            let (among, above, below) = (
                sp.among_positives(delta),
                sp.negatives_above(&negs, delta),
                sp.weighted_below(&w, &negs, delta),
            );
            for (r, &i) in sp.order.iter().enumerate() {
                let direct_p: f64 = (0..n)
                    .filter(|&k| k != i)
                    .map(|k| step(scores[k] - scores[i], delta))
                    .sum();
                let direct_n: f64 = negs.iter().map(|&s| step(s - scores[i], delta)).sum();
                assert!((among[r] - direct_p).abs() < 1e-9, "{case}: {among:?}");
                assert!((above[r] - direct_n).abs() < 1e-9, "{case}: {above:?}");
            }
            for (j, &sj) in negs.iter().enumerate() {
                let direct: f64 = sp
                    .order
                    .iter()
                    .enumerate()
                    .map(|(r, &i)| w[r] * step(sj - scores[i], delta))
                    .sum();
                assert!((below[j] - direct).abs() < 1e-9, "{case}: {below:?}");
            }
        }
    }

    #[test]
    fn sample_labels_are_one_hot_per_prior() {
        assert_eq!(
            sample_labels(&[2, 0, -1], 2),
            [NEG, POS, NEG, NEG, IGNORED, IGNORED]
        );
    }
}
