//! AP-loss (Chen et al., "AP-Loss for Accurate One-Stage Object Detection", TPAMI; Section 3,
//! Algorithm 1).
//!
//! Over the samples of [`super::ranking`] (P positives, N negatives), with `f` the piecewise step
//! function of width δ (Eq. 21) and `x_ij = s_j − s_i`:
//! `L_ij = f(x_ij) / (1 + Σ_{k ∈ P ∪ N̂, k ≠ i} f(x_ik))` for `i ∈ P`, `j ∈ N̂` (Eq. 3), where
//! `N̂ = {j ∈ N : s_j > min_P s − δ}` are the non-trivial negatives (the others have `L_ij = 0`).
//! The error-driven update (Eq. 9, 14) is `g_i = −Σ_j L_ij`, `g_j = Σ_i L_ij`, divided by |P|.
//! With interpolation (Section 3.4.3) the positives are visited in ascending score order, the
//! precision `Prec_i = 1 − Σ_j L_ij` is compared with the running maximum `MaxPrec`, and a row
//! below it is rescaled by `(1 − MaxPrec)/(1 − Prec)`. Each positive's row sums to zero with its
//! negatives, so `Σ g = 0`.
//!
//! [`algorithm1`] is the paper's Algorithm 1, line by line (a loop over the positives, each over
//! the non-trivial negatives: O(|P| · |N̂|)); it is the reference. [`fast`] computes the same
//! update in O((|P| + |N|) log |P|) with the sums of [`super::ranking::SortedPositives`]: the
//! row of positive `i` needs only `S_i = Σ_j f(s_j − s_i)` and `R_i = 1 + Σ_{k ≠ i} f(·)`, and
//! then `Σ_j L_ij = S_i / R_i`; every negative's `g_j = Σ_i w_i f(s_j − s_i)` with the row
//! weights `w_i = scale_i / R_i`. They agree up to float rounding (tests, `benches/ap_loss.rs`).
//!
//! Training (Section 3.4.1): `minibatch` ranks all samples of the batch together, else the
//! algorithm runs per image and the images with a positive are averaged. The update is injected
//! through `Σ logits · g` ([`super::ranking::inject`]); the logged value is the loss the update
//! reduces, `1 − AP = (1/|P|) Σ_i Σ_j L_ij = −Σ_{i ∈ P} g_i` (with the interpolated rows when
//! interpolating, and `f` in place of the Heaviside step). No positive: no update, value 0.

use super::ranking::{by_images, inject, step, SortedPositives, Update, NEG, POS};
use super::{ClsBatch, ClsLoss, ClsOut};

#[derive(Debug, Clone)]
pub struct ApLoss {
    pub delta: f64,
    pub interpolate: bool,
    pub minibatch: bool,
}

impl ClsLoss for ApLoss {
    fn name(&self) -> &'static str {
        "ap"
    }

    fn loss(&self, b: &ClsBatch) -> ClsOut {
        inject(b, self.minibatch, |s, l| {
            fast(s, l, self.delta, self.interpolate)
        })
    }
}

impl ApLoss {
    /// The update of a batch of `images` image-major blocks (what [`ClsLoss::loss`] injects).
    pub fn update(&self, scores: &[f64], labels: &[i8], images: usize) -> Update {
        by_images(scores, labels, images, self.minibatch, |s, l| {
            fast(s, l, self.delta, self.interpolate)
        })
    }
}

fn split(labels: &[i8]) -> (Vec<usize>, Vec<usize>) {
    let pos = (0..labels.len()).filter(|&k| labels[k] == POS).collect();
    let neg = (0..labels.len()).filter(|&k| labels[k] == NEG).collect();
    (pos, neg)
}

/// The paper's Algorithm 1 (the reference; O(|P| · |N̂|)).
pub fn algorithm1(scores: &[f64], labels: &[i8], delta: f64, interpolate: bool) -> Update {
    let mut g = vec![0.0; scores.len()];
    let (pos, neg) = split(labels);
    if pos.is_empty() {
        return Update { grad: g, loss: 0.0 };
    }
    let mut max_prec = 0.0;
    let s_min = pos.iter().map(|&i| scores[i]).fold(f64::INFINITY, f64::min);
    let nt: Vec<usize> = neg
        .into_iter()
        .filter(|&j| scores[j] > s_min - delta)
        .collect();
    let mut order = pos.clone();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let mut row = vec![0.0; nt.len()];
    for &i in &order {
        let others: f64 = pos
            .iter()
            .chain(&nt)
            .filter(|&&k| k != i)
            .map(|&k| step(scores[k] - scores[i], delta))
            .sum();
        let denom = 1.0 + others;
        for (r, &j) in row.iter_mut().zip(&nt) {
            *r = step(scores[j] - scores[i], delta) / denom;
        }
        let prec = 1.0 - row.iter().sum::<f64>();
        if prec >= max_prec {
            max_prec = prec;
        } else if interpolate {
            let scale = (1.0 - max_prec) / (1.0 - prec);
            row.iter_mut().for_each(|r| *r *= scale);
        }
        g[i] -= row.iter().sum::<f64>();
        for (r, &j) in row.iter().zip(&nt) {
            g[j] += r;
        }
    }
    let p = pos.len() as f64;
    g.iter_mut().for_each(|v| *v /= p);
    let loss = -pos.iter().map(|&i| g[i]).sum::<f64>();
    Update { grad: g, loss }
}

/// The same update in O((|P| + |N|) log |P|).
pub fn fast(scores: &[f64], labels: &[i8], delta: f64, interpolate: bool) -> Update {
    let mut g = vec![0.0; scores.len()];
    let pos: Vec<usize> = (0..labels.len()).filter(|&k| labels[k] == POS).collect();
    if pos.is_empty() {
        return Update { grad: g, loss: 0.0 };
    }
    let s_min = pos.iter().map(|&i| scores[i]).fold(f64::INFINITY, f64::min);
    // one pass over the negatives: the non-trivial ones and their scores
    let (mut nt, mut nt_scores) = (Vec::new(), Vec::new());
    for (j, (&s, &l)) in scores.iter().zip(labels).enumerate() {
        if l == NEG && s > s_min - delta {
            nt.push(j);
            nt_scores.push(s);
        }
    }
    let sp = SortedPositives::new(scores, &pos);
    let among = sp.among_positives(delta);
    let above = sp.negatives_above(&nt_scores, delta);
    let p = pos.len() as f64;
    let mut max_prec = 0.0;
    let mut w = vec![0.0; pos.len()];
    let mut loss = 0.0;
    for r in 0..pos.len() {
        let denom = 1.0 + among[r] + above[r];
        let prec = 1.0 - above[r] / denom;
        let mut scale = 1.0;
        if prec >= max_prec {
            max_prec = prec;
        } else if interpolate {
            scale = (1.0 - max_prec) / (1.0 - prec);
        }
        w[r] = scale / denom;
        let row_sum = above[r] * w[r];
        g[sp.order[r]] = -row_sum / p;
        loss += row_sum / p;
    }
    for (k, v) in sp.weighted_below(&w, &nt_scores, delta).iter().enumerate() {
        g[nt[k]] = v / p;
    }
    Update { grad: g, loss }
}

#[cfg(test)]
mod tests {
    use super::super::ranking::IGNORED;
    use super::*;
    use crate::trainer::synth::Rng;

    fn assert_same(a: &Update, b: &Update, what: &str) {
        assert_eq!(a.grad.len(), b.grad.len());
        for (k, (x, y)) in a.grad.iter().zip(&b.grad).enumerate() {
            assert!(
                (x - y).abs() <= 1e-12 + 1e-9 * y.abs(),
                "{what}: g[{k}] {x} vs {y}"
            );
        }
        assert!(
            (a.loss - b.loss).abs() <= 1e-12,
            "{what}: loss {} vs {}",
            a.loss,
            b.loss
        );
    }

    /// Random samples: scores on a coarse grid when `ties` (many exact ties), labels with the
    /// given number of positives.
    fn case(rng: &mut Rng, n: usize, positives: usize, ties: bool) -> (Vec<f64>, Vec<i8>) {
        let scores = (0..n)
            .map(|_| {
                if ties {
                    rng.below(7) as f64 * 0.5 - 1.5
                } else {
                    rng.unit() as f64 * 6.0 - 3.0
                }
            })
            .collect();
        let mut labels: Vec<i8> = (0..n)
            .map(|_| if rng.below(10) == 0 { IGNORED } else { NEG })
            .collect();
        for k in 0..positives {
            labels[(k * 7 + 3) % n] = POS;
        }
        (scores, labels)
    }

    #[test]
    fn fast_equals_algorithm1_on_random_cases_with_ties() {
        let mut rng = Rng::new(1);
        for t in 0..60 {
            let n = 20 + rng.below(200) as usize;
            let positives = 1 + rng.below(12) as usize;
            let (scores, labels) = case(&mut rng, n, positives, t % 2 == 0);
            for &delta in &[1.0, 0.5, 0.25] {
                for interp in [true, false] {
                    let want = algorithm1(&scores, &labels, delta, interp);
                    let got = fast(&scores, &labels, delta, interp);
                    assert_same(&got, &want, &format!("case {t} δ {delta} interp {interp}"));
                    let sum: f64 = want.grad.iter().sum();
                    assert!(sum.abs() < 1e-12, "Σ g = {sum}");
                    assert!((0.0..=1.0).contains(&want.loss));
                }
            }
        }
    }

    #[test]
    fn one_positive_ties_and_no_nontrivial_negative() {
        // One positive tied with one negative: H(0) = ½, R = 1 + ½, L = ½ / 1.5 = 1/3.
        let (scores, labels) = (vec![0.0, 0.0, -5.0], vec![POS, NEG, NEG]);
        let u = algorithm1(&scores, &labels, 1.0, true);
        assert_same(&fast(&scores, &labels, 1.0, true), &u, "tie");
        assert_eq!(u.grad[2], 0.0, "a trivial negative gets nothing");
        assert!((u.grad[0] + 1.0 / 3.0).abs() < 1e-15 && (u.grad[1] - 1.0 / 3.0).abs() < 1e-15);
        assert!((u.loss - 1.0 / 3.0).abs() < 1e-15);
        // Every negative far below every positive: no update, AP = 1.
        let (scores, labels) = (vec![3.0, 2.5, -1.0, -2.0], vec![POS, POS, NEG, NEG]);
        let u = fast(&scores, &labels, 1.0, true);
        assert_eq!(u, algorithm1(&scores, &labels, 1.0, true));
        assert!(u.grad.iter().all(|&g| g == 0.0) && u.loss == 0.0);
        // No positive at all.
        let u = fast(&[1.0, 2.0], &[NEG, NEG], 1.0, true);
        assert!(u.grad.iter().all(|&g| g == 0.0) && u.loss == 0.0);
    }

    #[test]
    fn rows_of_eq_3_sum_to_zero_and_add_up_to_the_update() {
        // Independent computation from Eq. 3 and 14 over all negatives (not only N̂),
        // without interpolation: row i puts −Σ_j L_ij on i and L_ij on each j.
        let mut rng = Rng::new(3);
        let delta = 1.0;
        let (scores, labels) = case(&mut rng, 80, 6, true);
        let pos: Vec<usize> = (0..80).filter(|&k| labels[k] == POS).collect();
        let neg: Vec<usize> = (0..80).filter(|&k| labels[k] == NEG).collect();
        let mut total = vec![0.0; 80];
        for &i in &pos {
            let denom = 1.0
                + pos
                    .iter()
                    .chain(&neg)
                    .filter(|&&k| k != i)
                    .map(|&k| step(scores[k] - scores[i], delta))
                    .sum::<f64>();
            let mut row = vec![0.0; 80];
            for &j in &neg {
                let l = step(scores[j] - scores[i], delta) / denom;
                row[i] -= l;
                row[j] += l;
            }
            assert!(row.iter().sum::<f64>().abs() < 1e-14, "row {i}");
            assert!(row[i] <= 0.0 && neg.iter().all(|&j| row[j] >= 0.0));
            for k in 0..80 {
                total[k] += row[k] / pos.len() as f64;
            }
        }
        let want = Update {
            loss: -pos.iter().map(|&i| total[i]).sum::<f64>(),
            grad: total,
        };
        assert_same(
            &algorithm1(&scores, &labels, delta, false),
            &want,
            "Algorithm 1 vs Eq. 3",
        );
        assert_same(
            &fast(&scores, &labels, delta, false),
            &want,
            "fast vs Eq. 3",
        );
    }

    #[test]
    fn minibatch_and_per_image_modes() {
        let mut rng = Rng::new(9);
        let (s1, l1) = case(&mut rng, 50, 3, true);
        let (s2, l2) = case(&mut rng, 50, 5, false);
        let shifted: Vec<f64> = s2.iter().map(|s| s + 2.0).collect(); // "score shift"
        let scores = [s1.clone(), shifted.clone()].concat();
        let labels = [l1.clone(), l2.clone()].concat();
        for &(interpolate, minibatch) in &[(true, true), (true, false), (false, false)] {
            let loss = ApLoss {
                delta: 1.0,
                interpolate,
                minibatch,
            };
            let got = loss.update(&scores, &labels, 2);
            let want = if minibatch {
                algorithm1(&scores, &labels, 1.0, interpolate)
            } else {
                let (a, b) = (
                    algorithm1(&s1, &l1, 1.0, interpolate),
                    algorithm1(&shifted, &l2, 1.0, interpolate),
                );
                Update {
                    grad: a.grad.iter().chain(&b.grad).map(|g| g / 2.0).collect(),
                    loss: (a.loss + b.loss) / 2.0,
                }
            };
            assert_same(
                &got,
                &want,
                &format!("interp {interpolate} minibatch {minibatch}"),
            );
        }
        // The score shift matters only when the images are ranked together.
        let per_image = ApLoss {
            delta: 1.0,
            interpolate: true,
            minibatch: false,
        };
        let mini = ApLoss {
            minibatch: true,
            ..per_image.clone()
        };
        let unshifted = [s1, s2].concat();
        assert_eq!(
            per_image.update(&scores, &labels, 2),
            per_image.update(&unshifted, &labels, 2)
        );
        assert_ne!(
            mini.update(&scores, &labels, 2),
            mini.update(&unshifted, &labels, 2)
        );
        // One image: both modes agree.
        assert_eq!(
            per_image.update(&unshifted, &labels, 1),
            mini.update(&unshifted, &labels, 1)
        );
    }

    #[test]
    fn surrogate_gradient_is_the_update_and_value_is_one_minus_ap() {
        use super::super::testutil::*;
        use tch::Tensor;
        let x = [0.5, -1.0, 2.0, 0.0, 1.0, -0.5, 0.2, 0.3];
        let logits = leaf(&x, &[4, 2]);
        let labels = Tensor::from_slice(&[1i64, 0, 2, -1]);
        let loss = ApLoss {
            delta: 1.0,
            interpolate: true,
            minibatch: true,
        };
        let b = ClsBatch {
            logits: &logits,
            labels: &labels,
            num_pos: 2.0,
            images: 1,
        };
        let out = loss.loss(&b);
        out.backprop.backward();
        let samples = [POS, NEG, NEG, NEG, NEG, POS, IGNORED, IGNORED];
        let want = fast(&x, &samples, 1.0, true);
        assert_close(&to_vec(&logits.grad()), &want.grad, 1e-15, "surrogate grad");
        assert_close(&[scalar(&out.value)], &[want.loss], 1e-15, "1 - AP");
    }
}
