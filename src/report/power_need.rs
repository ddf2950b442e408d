//! The seeds a claim needs: a power calculation at the spread our seeds show so far, for a
//! true difference of the paper's size. Shared by the claim lines, `sweep plan` and
//! `sweep run --until-resolved`, so the three never give different numbers.
//!
//! The test is the one the claim will use: paired when both rows ran the same seeds (spread:
//! the per-seed differences'), else two rows of equal seeds (spread: the two rows' variances
//! averaged). Its level is Holm's strictest for the table, α / m with m claims: the smallest
//! p of a table must pass it, the others pass an easier one, so the number is enough for any
//! claim of the table.

use serde::Serialize;

use super::claims::SeedValue;
use crate::stats::{self, Design, Test, TestKind};

/// The power the seeds are computed for.
pub const POWER: f64 = 0.8;

/// No answer is given beyond this many seeds per row.
pub const MAX_SEEDS: usize = 1000;

/// What the spread measured so far says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SeedsNeeded {
    /// `n` seeds per row would find the paper's difference with [`POWER`].
    Seeds {
        n: usize,
        paired: bool,
        /// The per-seed spread it rests on (raw units).
        sd: f64,
        /// The two-sided level of the test it plans for (Holm's strictest).
        level: f64,
    },
    /// Not even [`MAX_SEEDS`] would.
    Beyond { paired: bool, sd: f64, level: f64 },
    /// A row has fewer than two finished seeds: no spread yet.
    TooFewSeeds,
    /// The paper gives no difference for this claim.
    NoPaperDifference,
}

impl SeedsNeeded {
    /// "7 seeds a row (paired t, sd 0.0041, two-sided 98.3%, 80% power)", or why not.
    pub fn text(&self, scale: f64) -> String {
        let how = |paired: bool, sd: f64, level: f64| {
            format!(
                "{}, sd {}, two-sided {}%, {:.0}% power",
                if paired { "paired t" } else { "two rows" },
                short(sd * scale),
                short(level * 100.0),
                POWER * 100.0
            )
        };
        match *self {
            SeedsNeeded::Seeds {
                n,
                paired,
                sd,
                level,
            } => format!("{n} seeds a row ({})", how(paired, sd, level)),
            SeedsNeeded::Beyond { paired, sd, level } => {
                format!(
                    "more than {MAX_SEEDS} seeds a row ({})",
                    how(paired, sd, level)
                )
            }
            SeedsNeeded::TooFewSeeds => {
                "cannot know yet (fewer than 2 finished seeds in a row)".into()
            }
            SeedsNeeded::NoPaperDifference => {
                "cannot know (the paper gives no difference for it)".into()
            }
        }
    }
}

/// Four significant digits, no trailing zeros.
fn short(v: f64) -> String {
    let digits = if v == 0.0 {
        0
    } else {
        (3 - v.abs().log10().floor() as i32).max(0) as usize
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The seeds a claim needs, from its test (None below two seeds a row), its two rows' values,
/// the paper's difference, the claim's level and the number of claims Holm corrects together.
pub(crate) fn need(
    test: Option<&Test>,
    rows: [&Option<Vec<SeedValue>>; 2],
    paper_diff: Option<f64>,
    level: f64,
    holm_claims: usize,
) -> SeedsNeeded {
    let Some(d) = paper_diff.filter(|d| d.is_finite() && *d != 0.0) else {
        return SeedsNeeded::NoPaperDifference;
    };
    let Some(t) = test else {
        return SeedsNeeded::TooFewSeeds;
    };
    let paired = t.kind == TestKind::Paired;
    let sd = if paired {
        // se = sd / √n on the n per-seed differences.
        let n = rows[0].as_ref().map_or(0, Vec::len) as f64;
        t.se * n.sqrt()
    } else {
        let var = |s: &Option<Vec<SeedValue>>| {
            let v: Vec<f64> = s.iter().flatten().map(|x| x.value).collect();
            stats::sample_var(&v).unwrap_or(0.0)
        };
        ((var(rows[0]) + var(rows[1])) / 2.0).sqrt()
    };
    let level = 1.0 - (1.0 - level) / holm_claims.max(1) as f64;
    let design = if paired {
        Design::Paired
    } else {
        Design::TwoRows
    };
    match stats::seeds_needed(d, sd, level, POWER, design, MAX_SEEDS) {
        Some(n) => SeedsNeeded::Seeds {
            n,
            paired,
            sd,
            level,
        },
        None => SeedsNeeded::Beyond { paired, sd, level },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(values: &[f64]) -> Option<Vec<SeedValue>> {
        Some(
            values
                .iter()
                .enumerate()
                .map(|(i, &value)| SeedValue {
                    seed: i as u64,
                    value,
                    val_bootstrap: None,
                })
                .collect(),
        )
    }

    #[test]
    fn paired_claims_plan_on_the_differences_at_holms_strictest_level() {
        let (a, b) = (seeds(&[0.30, 0.32, 0.31]), seeds(&[0.29, 0.30, 0.31]));
        let t = stats::paired(&[0.30, 0.32, 0.31], &[0.29, 0.30, 0.31], 0.95).unwrap();
        let SeedsNeeded::Seeds {
            n,
            paired,
            sd,
            level,
        } = need(Some(&t), [&a, &b], Some(0.01), 0.95, 2)
        else {
            panic!("a number is expected")
        };
        assert!(paired);
        // Differences 0.01, 0.02, 0: sd 0.01; effect 1 at α = 0.025 two-sided.
        assert!((sd - 0.01).abs() < 1e-12, "{sd}");
        assert!((level - 0.975).abs() < 1e-12);
        assert_eq!(
            n,
            stats::seeds_needed(0.01, 0.01, 0.975, POWER, Design::Paired, MAX_SEEDS).unwrap()
        );
    }

    #[test]
    fn no_number_without_two_seeds_or_the_papers_difference() {
        let a = seeds(&[0.3]);
        assert_eq!(
            need(None, [&a, &a], Some(0.01), 0.95, 1),
            SeedsNeeded::TooFewSeeds
        );
        assert_eq!(
            need(None, [&a, &a], None, 0.95, 1),
            SeedsNeeded::NoPaperDifference
        );
        assert!(SeedsNeeded::TooFewSeeds
            .text(100.0)
            .contains("cannot know yet"));
    }

    #[test]
    fn unpaired_rows_pool_their_variances() {
        let (a, b) = (seeds(&[0.30, 0.34]), seeds(&[0.28, 0.29, 0.30]));
        let t = stats::welch(&[0.30, 0.34], &[0.28, 0.29, 0.30], 0.95).unwrap();
        let SeedsNeeded::Seeds { sd, paired, .. } = need(Some(&t), [&a, &b], Some(0.02), 0.95, 1)
        else {
            panic!("a number is expected")
        };
        assert!(!paired);
        let want = ((0.0008f64 + 0.0001) / 2.0).sqrt();
        assert!((sd - want).abs() < 1e-12, "{sd} {want}");
        assert_eq!(short(0.0041234), "0.004123");
        assert_eq!(short(98.333333), "98.33");
        assert_eq!(short(95.0), "95");
    }
}
