//! Softmax cross-entropy with online hard example mining: the "CE-Loss + OHEM" baseline of the
//! AP-loss paper (Section 4.2.2, Table 2), mined as SSD does (Liu et al., ECCV 2016, "Hard
//! negative mining").
//!
//! Each prior has `C + 1` scores: the head's `C` class logits and a background logit pinned at
//! 0 (our heads have no background channel; softmax is invariant to a shift of all logits, so
//! pinning one loses nothing). With `z = [0, x_1, …, x_C]` and `y` the label (0 background),
//! `CE = logsumexp(z) − z_y`. Per image `b` with `P_b` positives, the negatives are sorted by
//! their CE (highest first, ties by position) and the first `k_b = min(⌊r · P_b⌋, N_b)` are kept,
//! `r` = `neg_pos_ratio` (SSD: 3): an image without positives contributes nothing (SSD's rule).
//! `L = (Σ_{positives} CE + Σ_{kept negatives} CE) / P`, `P` the batch's positives (SSD's `N`).
//! The selection is not differentiated. Ignored priors (label −1) take no part. At inference
//! the score of class `k` is the softmax probability (the AP-loss paper: "the classification
//! score of CE-loss+OHEM is computed by softmax function").

use super::{with_background, ClsBatch, ClsLoss, ClsOut, Score};
use tch::{Kind, Tensor};

#[derive(Debug, Clone)]
pub struct CeOhem {
    pub neg_pos_ratio: f64,
}

impl ClsLoss for CeOhem {
    fn name(&self) -> &'static str {
        "ce_ohem"
    }

    fn score(&self) -> Score {
        Score::Softmax
    }

    fn loss(&self, b: &ClsBatch) -> ClsOut {
        ClsOut::same(self.value(b.logits, b.labels, b.num_pos, b.images))
    }
}

impl CeOhem {
    /// The loss of `logits [N, C]`, `labels [N]` over `images` image-major blocks.
    pub fn value(&self, logits: &Tensor, labels: &Tensor, num_pos: f64, images: i64) -> Tensor {
        let kind = logits.kind();
        let z = with_background(logits);
        let y = labels.clamp_min(0).unsqueeze(1);
        let ce = z.logsumexp([1], false) - z.gather(1, &y, false).squeeze_dim(1);
        let (pos, neg) = (labels.gt(0), labels.eq(0));
        let selected = tch::no_grad(|| {
            let per_image = |t: &Tensor| t.view([images, -1]);
            let hardness = ce
                .detach()
                .masked_fill(&neg.logical_not(), f64::NEG_INFINITY);
            let (_, order) = per_image(&hardness).sort_stable(true, 1, true);
            // rank[b, order[b, r]] = r
            let r = Tensor::arange(order.size()[1], (Kind::Int64, order.device()));
            let ranks = order.zeros_like().scatter(
                1,
                &order,
                &r.unsqueeze(0).expand_as(&order).contiguous(),
            );
            let pos_b = per_image(&pos).sum_dim_intlist(1, false, Kind::Double);
            let neg_b = per_image(&neg).sum_dim_intlist(1, false, Kind::Double);
            let k = (pos_b * self.neg_pos_ratio).floor().minimum(&neg_b);
            let mined = ranks.to_kind(Kind::Double).lt_tensor(&k.unsqueeze(1));
            (mined.logical_and(&per_image(&neg)).view([-1])).logical_or(&pos)
        });
        (ce * selected.to_kind(kind)).sum(kind) / num_pos.max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::trainer::synth::Rng;

    /// Plain reference: CE per row, SSD mining per image with a sort of the negatives.
    fn reference(x: &[f64], labels: &[i64], c: usize, images: usize, r: f64) -> f64 {
        let n = labels.len();
        let ce = |i: usize| {
            let row = &x[i * c..(i + 1) * c];
            let m = row.iter().fold(0.0f64, |a, &b| a.max(b));
            let lse = m + ((-m).exp() + row.iter().map(|v| (v - m).exp()).sum::<f64>()).ln();
            lse - if labels[i] > 0 {
                row[labels[i] as usize - 1]
            } else {
                0.0
            }
        };
        let per = n / images;
        let mut total = 0.0;
        let mut num_pos = 0;
        for b in 0..images {
            let rows = b * per..(b + 1) * per;
            let pos: Vec<usize> = rows.clone().filter(|&i| labels[i] > 0).collect();
            let mut negs: Vec<(f64, usize)> = rows
                .filter(|&i| labels[i] == 0)
                .map(|i| (ce(i), i))
                .collect();
            negs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let k = ((pos.len() as f64 * r).floor() as usize).min(negs.len());
            total += pos.iter().map(|&i| ce(i)).sum::<f64>();
            total += negs[..k].iter().map(|p| p.0).sum::<f64>();
            num_pos += pos.len();
        }
        total / (num_pos.max(1) as f64)
    }

    #[test]
    fn ce_ohem_matches_reference_and_finite_differences() {
        let mut rng = Rng::new(11);
        let (images, per, c) = (3usize, 10usize, 3usize);
        let n = images * per;
        for &r in &[3.0, 1.5, 100.0] {
            let x = uniform(&mut rng, n * c, -3.0, 3.0);
            let mut labels: Vec<i64> = (0..n).map(|_| rng.below(c as u64 + 2) as i64 - 1).collect();
            // image 2 has no positive: it contributes nothing
            for l in &mut labels[2 * per..] {
                *l = (*l).min(0);
            }
            let num_pos = labels.iter().filter(|&&l| l > 0).count() as f64;
            let xt = leaf(&x, &[n as i64, c as i64]);
            let loss = CeOhem { neg_pos_ratio: r }.value(
                &xt,
                &Tensor::from_slice(&labels),
                num_pos,
                images as i64,
            );
            loss.backward();
            let want = reference(&x, &labels, c, images, r);
            assert_close(&[scalar(&loss)], &[want], 1e-12, "ohem value");
            // the mined set is constant almost everywhere: finite differences of the reference
            let fd = finite_diff(|x| reference(x, &labels, c, images, r), &x, 1e-7);
            assert_close(&to_vec(&xt.grad()), &fd, 1e-5, "ohem grad vs fd");
            let g = to_vec(&xt.grad());
            assert!(
                g[2 * per * c..].iter().all(|&v| v == 0.0),
                "image without positives"
            );
        }
    }

    #[test]
    fn softmax_score_has_a_background_at_zero() {
        let x = Tensor::from_slice(&[0.0f64, 0.0, 2.0f64.ln(), 0.0]).view([2, 2]);
        let p = to_vec(&Score::Softmax.probs(&x));
        assert_close(
            &p,
            &[1.0 / 3.0, 1.0 / 3.0, 0.5, 0.25],
            1e-12,
            "softmax scores",
        );
        let ce = Score::Softmax.positive_ce(&x, &Tensor::from_slice(&[1i64, 0]));
        // row 2: logsumexp(0, ln 2, 0) − ln 2 = ln 4 − ln 2
        assert_close(
            &to_vec(&ce),
            &[3.0f64.ln(), 2.0f64.ln()],
            1e-12,
            "positive ce",
        );
    }
}
