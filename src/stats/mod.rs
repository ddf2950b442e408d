//! The project's statistics: mean and sample spread over seeds, Student's t (CDF and quantile),
//! Welch's and the paired t test with the confidence interval of a difference, Holm's
//! correction for several tests at once, a seeded bootstrap, and the power of a t test (the
//! seeds that would settle a difference). Checked against scipy,
//! statsmodels and numpy (`tests/golden_stats.py`).

mod bootstrap;
mod dist;
mod power;
mod ttest;

pub use bootstrap::{bootstrap, percentile, Resampler, SplitMix64};
pub use dist::{ln_gamma, nct_cdf, normal_cdf, reg_inc_beta, t_cdf, t_quantile, t_two_sided_p};
pub use power::{power, seeds_needed, Design};
pub use ttest::{paired, welch, Test, TestKind};

/// Arithmetic mean (NaN for no values).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample variance (n − 1 denominator); None below two values.
pub fn sample_var(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let m = mean(v);
    Some(v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64)
}

/// Sample standard deviation (n − 1): the spread a reader expects over seeds; None below two
/// values.
pub fn sample_std(v: &[f64]) -> Option<f64> {
    sample_var(v).map(f64::sqrt)
}

/// Holm's step-down adjusted p values, in the input's order (statsmodels' `holm`): the k-th
/// smallest p is multiplied by m − k + 1, made monotone, and capped at 1.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    // A stable sort keeps ties in input order, as numpy's argsort(kind="mergesort") would;
    // ties get the same adjusted value either way.
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(p[i] * (m - k) as f64);
        out[i] = running.min(1.0);
    }
    out
}

#[cfg(test)]
mod tests;
