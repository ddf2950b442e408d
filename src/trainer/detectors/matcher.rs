//! torchvision's `Matcher` (`models/detection/_utils.py`): every anchor takes its best
//! ground-truth box; below `low` it is background (−1), in `[low, high)` ignored (−2); with
//! `allow_low_quality_matches`, every anchor that reaches some box's best IoU gets back its own
//! best box (even when that IoU is below `low`).

use tch::Tensor;

/// Background.
pub const BELOW_LOW: i64 = -1;
/// Ignored.
pub const BETWEEN: i64 = -2;

#[derive(Debug, Clone, Copy)]
pub struct Matcher {
    pub high: f64,
    pub low: f64,
    pub allow_low_quality: bool,
}

impl Matcher {
    /// `quality [G, A]` (G ≥ 1) → the matched box of each anchor `[A]`, or −1 / −2.
    pub fn assign(&self, quality: &Tensor) -> Tensor {
        let (vals, mut matches) = quality.max_dim(0, false);
        let all = matches.copy();
        let below = vals.lt(self.low);
        let between = vals.ge(self.low).logical_and(&vals.lt(self.high));
        let _ = matches.masked_fill_(&below, BELOW_LOW);
        let _ = matches.masked_fill_(&between, BETWEEN);
        if self.allow_low_quality {
            let (best, _) = quality.max_dim(1, true);
            let pairs = quality.eq_tensor(&best).nonzero();
            let preds = pairs.select(1, 1);
            let _ = matches.index_put_(
                &[Some(preds.shallow_clone())],
                &all.index_select(0, &preds),
                false,
            );
        }
        matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_low_quality_matches() {
        let m = Matcher {
            high: 0.5,
            low: 0.4,
            allow_low_quality: true,
        };
        // Two boxes, four anchors; box 1's best IoU is 0.3 (anchor 3).
        let q = Tensor::from_slice(&[0.6f32, 0.45, 0.1, 0.0, 0.0, 0.0, 0.2, 0.3]).view([2, 4]);
        let got = Vec::<i64>::try_from(m.assign(&q)).unwrap();
        assert_eq!(got, vec![0, -2, -1, 1]);
    }
}
