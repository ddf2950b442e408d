//! Which rows get which seed next: one seed per unsettled claim per round, given to each of the
//! claim's rows that lacks it, so that its rows keep running the same seeds (a paired test).
//!
//! The seed is the first one, in order, that a row of the claim lacks, from the seeds the sweep
//! already runs anywhere (sorted) and then the numbers above the largest: a row that another
//! claim grew is caught up with the same seeds rather than given new ones, and a new seed is
//! the next unused number. A row never grows past the budget; a claim whose rows all reached
//! it is out of budget.

use std::collections::{BTreeMap, BTreeSet};

/// What the loop knows of one claim after a round.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimState {
    pub settled: bool,
    /// Whether seeds could change the verdict at all (no: the claim names no cell, or a side
    /// has no result however many seeds ran).
    pub growable: bool,
    /// The rows whose jobs enter the claim (both sides).
    pub rows: Vec<String>,
}

/// What a round does for one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Settled: reproduced or contradicted.
    Settled,
    /// One more seed, for these rows (those of the claim that lack it).
    Add { seed: u64, rows: Vec<String> },
    /// Every row of the claim has the budget's seeds.
    OutOfBudget,
    /// Seeds cannot settle it (see [`ClaimState::growable`]).
    Stuck,
}

/// One round's decisions, a step per claim, in order. `seeds` holds each row's planned seeds
/// (every row of the sweep, so a new seed is above all of them) and is updated with what is
/// added, so that later claims of the round see earlier claims' seeds.
pub fn next_round(
    claims: &[ClaimState],
    seeds: &mut BTreeMap<String, BTreeSet<u64>>,
    max_seeds: usize,
) -> Vec<Step> {
    claims
        .iter()
        .map(|c| {
            if c.settled {
                return Step::Settled;
            }
            if !c.growable {
                return Step::Stuck;
            }
            let count = |seeds: &BTreeMap<String, BTreeSet<u64>>, r: &str| {
                seeds.get(r).map_or(0, BTreeSet::len)
            };
            let open: Vec<&String> = c
                .rows
                .iter()
                .filter(|r| count(seeds, r) < max_seeds)
                .collect();
            if open.is_empty() {
                return Step::OutOfBudget;
            }
            let used: BTreeSet<u64> = seeds.values().flatten().copied().collect();
            let above = used.last().map_or(0, |m| m + 1);
            let lacks = |s: u64| -> Vec<String> {
                open.iter()
                    .filter(|r| !seeds.get(r.as_str()).is_some_and(|x| x.contains(&s)))
                    .map(|r| r.to_string())
                    .collect()
            };
            // A seed above every used one is lacked by every open row: the search ends there.
            let (seed, rows) = used
                .iter()
                .copied()
                .chain(std::iter::once(above))
                .map(|s| (s, lacks(s)))
                .find(|(_, rows)| !rows.is_empty())
                .expect("a new seed is lacked by every open row");
            for r in &rows {
                seeds.entry(r.clone()).or_default().insert(seed);
            }
            Step::Add { seed, rows }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(rows: &[(&str, &[u64])]) -> BTreeMap<String, BTreeSet<u64>> {
        rows.iter()
            .map(|(r, s)| (r.to_string(), s.iter().copied().collect()))
            .collect()
    }

    fn claim(settled: bool, rows: &[&str]) -> ClaimState {
        ClaimState {
            settled,
            growable: true,
            rows: rows.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn only_unsettled_claims_grow_with_the_next_unused_seed() {
        let mut seeds = state(&[("base", &[0, 1, 2]), ("a", &[0, 1, 2]), ("b", &[0, 1, 2])]);
        let steps = next_round(
            &[claim(true, &["a", "base"]), claim(false, &["b", "base"])],
            &mut seeds,
            10,
        );
        assert_eq!(steps[0], Step::Settled);
        assert_eq!(
            steps[1],
            Step::Add {
                seed: 3,
                rows: vec!["b".into(), "base".into()]
            }
        );
        assert_eq!(
            seeds["a"].len(),
            3,
            "a settled claim's own row is left alone"
        );
        assert_eq!(seeds["b"], BTreeSet::from([0, 1, 2, 3]));
    }

    #[test]
    fn a_shared_row_is_caught_up_with_the_same_seed_not_a_new_one() {
        let mut seeds = state(&[("base", &[0, 1, 2]), ("a", &[0, 1, 2]), ("b", &[0, 1, 2])]);
        let steps = next_round(
            &[claim(false, &["a", "base"]), claim(false, &["b", "base"])],
            &mut seeds,
            10,
        );
        // The second claim finds seed 3 on `base` already and gives it to `b` alone.
        assert_eq!(
            steps,
            [
                Step::Add {
                    seed: 3,
                    rows: vec!["a".into(), "base".into()]
                },
                Step::Add {
                    seed: 3,
                    rows: vec!["b".into()]
                }
            ]
        );
        // Gaps come first: a row behind the others gets the seeds they have, in order.
        let mut seeds = state(&[("x", &[0, 1, 2, 3, 4]), ("y", &[0, 1]), ("z", &[7])]);
        let steps = next_round(&[claim(false, &["x", "y"])], &mut seeds, 10);
        assert_eq!(
            steps,
            [Step::Add {
                seed: 2,
                rows: vec!["y".into()]
            }]
        );
        // Then the next number above every seed of the sweep (7 here), not 5.
        let mut seeds = state(&[("x", &[0, 1]), ("y", &[0, 1]), ("z", &[7])]);
        let steps = next_round(&[claim(false, &["x", "y"])], &mut seeds, 10);
        assert_eq!(
            steps,
            [Step::Add {
                seed: 7,
                rows: vec!["x".into(), "y".into()]
            }]
        );
    }

    #[test]
    fn the_budget_stops_a_row_and_then_the_claim() {
        let mut seeds = state(&[("a", &[0, 1, 2, 3]), ("b", &[0, 1, 2])]);
        let steps = next_round(&[claim(false, &["a", "b"])], &mut seeds, 4);
        assert_eq!(
            steps,
            [Step::Add {
                seed: 3,
                rows: vec!["b".into()]
            }]
        );
        let steps = next_round(&[claim(false, &["a", "b"])], &mut seeds, 4);
        assert_eq!(steps, [Step::OutOfBudget]);
        let mut stuck = claim(false, &["a"]);
        stuck.growable = false;
        assert_eq!(next_round(&[stuck], &mut seeds, 10), [Step::Stuck]);
    }

    #[test]
    fn spec_seeds_need_not_start_at_zero() {
        let mut seeds = state(&[("a", &[7, 42]), ("b", &[7, 42])]);
        let steps = next_round(&[claim(false, &["a", "b"])], &mut seeds, 10);
        assert_eq!(
            steps,
            [Step::Add {
                seed: 43,
                rows: vec!["a".into(), "b".into()]
            }]
        );
    }
}
