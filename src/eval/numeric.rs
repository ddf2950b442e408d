//! Float details that decide the last bits: the thresholds exactly as numpy builds them, and
//! numpy's pairwise summation, so that our means equal `np.mean` bit for bit rather than to
//! 1e-15 (the golden tests compare at 1e-12, and bitwise equality leaves no doubt).

/// `np.spacing(1)`: the epsilon pycocotools adds to the precision denominator.
pub(crate) const SPACING_1: f64 = f64::EPSILON;

/// COCO IoU thresholds, `np.linspace(.5, 0.95, 10)`: numpy computes `k * step + start` with
/// `step = (stop - start) / (num - 1)` and then sets the last value to `stop` exactly
/// (`0.5 + 0.05 * k` would differ in two places).
pub(crate) fn coco_iou_thresholds() -> Vec<f64> {
    linspace(0.5, 0.95, 10)
}

/// COCO recall thresholds, `np.linspace(.0, 1.00, 101)`: `i * 0.01` (not `i / 100`, which differs
/// in ten places), last set to 1.0.
pub(crate) fn coco_recall_thresholds() -> Vec<f64> {
    linspace(0.0, 1.0, 101)
}

/// numpy's `linspace(start, stop, num, endpoint=True)` for `num >= 2`, same operations in the
/// same order.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|k| k as f64 * step + start).collect();
    v[num - 1] = stop;
    v
}

/// numpy's pairwise summation of a contiguous float64 array (`np.add.reduce`, numpy 2.x
/// `pairwise_sum`): below 8 elements a plain loop; up to 128 eight interleaved accumulators;
/// above, split at half rounded down to a multiple of 8. Checked against numpy 2.4 on random
/// arrays up to 10^5 elements (all bitwise equal).
pub(crate) fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.mean(s[s > -1])` with -1 when nothing is left, as pycocotools' `summarize` does.
pub(crate) fn mean_defined(values: impl Iterator<Item = f64>) -> f64 {
    let kept: Vec<f64> = values.filter(|&v| v > -1.0).collect();
    if kept.is_empty() {
        -1.0
    } else {
        pairwise_sum(&kept) / kept.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_match_numpy_quirks() {
        let iou = coco_iou_thresholds();
        assert_eq!(iou.len(), 10);
        assert_eq!(iou[0], 0.5);
        assert_eq!(iou[5], 0.75, "summarize looks up .75 by equality");
        assert_eq!(iou[9], 0.95);
        let rec = coco_recall_thresholds();
        assert_eq!(rec.len(), 101);
        // numpy's linspace gives 35 * 0.01 = 0.35000000000000003, not 35 / 100 = 0.35.
        assert_eq!(rec[35], 0.35000000000000003);
        assert_eq!(rec[100], 1.0);
    }

    #[test]
    fn pairwise_sum_differs_from_a_plain_loop_like_numpy() {
        // With 9 elements numpy uses 8 accumulators, so six of the 1.0s are added to each other
        // before meeting 1e16 and survive; a left-to-right loop loses all of them (gives 0.0).
        // np.add.reduce(np.array([1e16, 1, 1, 1, 1, 1, 1, 1, -1e16])) == 6.0
        let a = [1e16, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1e16];
        assert_eq!(pairwise_sum(&a), 6.0);
        assert_eq!(pairwise_sum(&[]), 0.0);
        assert_eq!(mean_defined([-1.0, -1.0].into_iter()), -1.0);
        assert_eq!(mean_defined([-1.0, 0.5, 0.0].into_iter()), 0.25);
    }
}
