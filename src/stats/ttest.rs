//! Two-sample tests of a difference of means: Welch's t (unequal variances, Welch–Satterthwaite
//! degrees of freedom) and the paired t on per-seed differences, each with the confidence
//! interval of the difference at a stated level.

use serde::Serialize;

use super::{mean, sample_var, t_quantile, t_two_sided_p};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    Welch,
    Paired,
}

impl TestKind {
    pub fn name(self) -> &'static str {
        match self {
            TestKind::Welch => "Welch t",
            TestKind::Paired => "paired t",
        }
    }
}

/// A test of mean(a) − mean(b) = 0 and the interval of the difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Test {
    pub kind: TestKind,
    /// mean(a) − mean(b) (paired: the mean of the differences, the same number).
    pub diff: f64,
    /// Standard error of `diff`.
    pub se: f64,
    pub df: f64,
    pub t: f64,
    /// Two-sided p.
    pub p: f64,
    /// The confidence level of `ci` (e.g. 0.95, two-sided).
    pub level: f64,
    pub ci: (f64, f64),
}

impl Test {
    fn new(kind: TestKind, diff: f64, se: f64, df: f64, level: f64) -> Test {
        // No spread at all (equal values on every seed): the difference is known exactly.
        // scipy returns NaN here; a table is better served by the limit.
        let (t, p, half) = if se == 0.0 {
            if diff == 0.0 {
                (0.0, 1.0, 0.0)
            } else {
                (f64::INFINITY.copysign(diff), 0.0, 0.0)
            }
        } else {
            let q = t_quantile(0.5 + level / 2.0, df);
            (diff / se, t_two_sided_p(diff / se, df), q * se)
        };
        Test {
            kind,
            diff,
            se,
            df,
            t,
            p,
            level,
            ci: (diff - half, diff + half),
        }
    }
}

/// Welch's t test (scipy's `ttest_ind(a, b, equal_var=False)`); None below two values a side.
pub fn welch(a: &[f64], b: &[f64], level: f64) -> Option<Test> {
    let (va, vb) = (sample_var(a)?, sample_var(b)?);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (sa, sb) = (va / na, vb / nb);
    let se = (sa + sb).sqrt();
    // Welch–Satterthwaite.
    let df = (sa + sb).powi(2) / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
    Some(Test::new(TestKind::Welch, mean(a) - mean(b), se, df, level))
}

/// The paired t test on `a[i] − b[i]` (scipy's `ttest_rel(a, b)`); None below two pairs or
/// when the lengths differ.
pub fn paired(a: &[f64], b: &[f64], level: f64) -> Option<Test> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len() as f64;
    let se = (sample_var(&d)? / n).sqrt();
    Some(Test::new(TestKind::Paired, mean(&d), se, n - 1.0, level))
}
