//! How many seeds would settle a difference: the power of the two-sided t test, computed
//! exactly from the noncentral t distribution (not a normal approximation), and the smallest
//! seeds per row that reach a wanted power. This is what statsmodels' `TTestPower` (paired)
//! and `TTestIndPower` (two rows, equal seeds, equal spreads) compute; `solve_power`'s real
//! answer rounded up is ours (checked in the tests).
//!
//! Power = P(T' > c) + P(T' < −c), c the t quantile at 1 − α/2, T' noncentral t with
//! df = n − 1 and noncentrality d·√n (paired, d = |diff| / sd of the per-seed differences),
//! or df = 2n − 2 and d·√(n/2) (two rows of n seeds each, d = |diff| / pooled sd).

use super::{nct_cdf, t_quantile};

/// The paired (one-sample) or two-row test a power is asked of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    /// One t test on per-seed differences: both rows ran the same seeds.
    Paired,
    /// Two rows of n seeds each, equal spreads (the t test Welch's reduces to there).
    TwoRows,
}

/// The probability that the two-sided test at `level` (e.g. 0.95) finds a true standardized
/// difference `effect` (|diff| / sd) with `n` seeds per row (n ≥ 2).
pub fn power(effect: f64, n: usize, level: f64, design: Design) -> f64 {
    let nf = n as f64;
    let (df, nc) = match design {
        Design::Paired => (nf - 1.0, effect.abs() * nf.sqrt()),
        Design::TwoRows => (2.0 * nf - 2.0, effect.abs() * (nf / 2.0).sqrt()),
    };
    let c = t_quantile(0.5 + level / 2.0, df);
    (1.0 - nct_cdf(c, df, nc)) + nct_cdf(-c, df, nc)
}

/// Seeds per row at which a true difference `diff` with per-seed spread `sd` (of the
/// differences when paired, else of each row) is found with probability ≥ `power` by the
/// two-sided test at `level`. None when no n up to `max` does (or `diff` is 0).
pub fn seeds_needed(
    diff: f64,
    sd: f64,
    level: f64,
    power: f64,
    design: Design,
    max: usize,
) -> Option<usize> {
    if !(diff.is_finite() && sd.is_finite()) || diff == 0.0 {
        return None;
    }
    // No spread: two seeds know the difference exactly.
    if sd == 0.0 {
        return Some(2);
    }
    let effect = diff.abs() / sd;
    (2..=max).find(|&n| self::power(effect, n, level, design) >= power)
}
