//! How many seeds would settle a difference: the smallest n per side at which a true
//! difference `diff` with spread `sd` is found (two-sided, at `level`) with probability
//! `power`, by the usual t approximation n: |diff| / se(n) ≥ t₁₋α/₂(df) + t_power(df). It is a
//! planning number: within one seed of the exact noncentral-t answer (statsmodels'
//! `solve_power`, checked in the tests).

use super::t_quantile;

/// Seeds per side. `paired`: `sd` is the spread of per-seed differences, se = sd/√n, df = n − 1;
/// else two rows of n seeds with spread `sd` each, se = sd·√(2/n), df = 2n − 2 (Welch with equal
/// spreads). None when no n up to `max` would do (or `diff` is 0).
pub fn seeds_needed(
    diff: f64,
    sd: f64,
    level: f64,
    power: f64,
    paired: bool,
    max: usize,
) -> Option<usize> {
    if !(diff.is_finite() && sd.is_finite()) || diff == 0.0 {
        return None;
    }
    if sd == 0.0 {
        return Some(2);
    }
    (2..=max).find(|&n| {
        let nf = n as f64;
        let (se, df) = if paired {
            (sd / nf.sqrt(), nf - 1.0)
        } else {
            (sd * (2.0 / nf).sqrt(), 2.0 * nf - 2.0)
        };
        diff.abs() / se >= t_quantile(0.5 + level / 2.0, df) + t_quantile(power, df)
    })
}
