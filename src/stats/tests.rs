//! The statistics against scipy, statsmodels and numpy on the fixed inputs of
//! `tests/golden_stats.py` (tests/fixtures/stats/stats_golden.json).

use serde_json::Value;

use super::*;

fn golden() -> Value {
    serde_json::from_str(include_str!("../../tests/fixtures/stats/stats_golden.json"))
        .expect("golden JSON")
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn fs(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(f).collect()
}

/// Equal to 1e-9, relative for large values.
fn close(ours: f64, theirs: f64, what: &str) {
    let tol = 1e-9 * theirs.abs().max(1.0);
    assert!(
        (ours - theirs).abs() <= tol,
        "{what}: ours {ours:.17e}, reference {theirs:.17e}"
    );
}

#[test]
fn t_distribution_matches_scipy() {
    let g = golden();
    let cases = g["t"].as_array().unwrap();
    assert!(cases.len() > 300);
    for c in cases {
        let df = f(&c["df"]);
        let want = f(&c["value"]);
        match c["kind"].as_str().unwrap() {
            "ppf" => close(t_quantile(f(&c["q"]), df), want, &format!("ppf {c}")),
            "cdf" => close(t_cdf(f(&c["t"]), df), want, &format!("cdf {c}")),
            _ => {
                let ours = t_two_sided_p(f(&c["t"]), df);
                close(ours, want, &format!("two-sided {c}"));
                // Tiny p values to a relative 1e-9 as well: they decide Holm's order.
                if want > 0.0 && want < 1e-3 {
                    assert!(((ours - want) / want).abs() < 1e-9, "{c}: {ours}");
                }
            }
        }
    }
}

#[test]
fn welch_matches_scipy_ttest_ind_unequal_var() {
    let g = golden();
    for c in g["welch"].as_array().unwrap() {
        let r = welch(&fs(&c["a"]), &fs(&c["b"]), f(&c["level"])).unwrap();
        assert_eq!(r.kind, TestKind::Welch);
        close(r.t, f(&c["t"]), &format!("t {c}"));
        close(r.p, f(&c["p"]), &format!("p {c}"));
        close(r.df, f(&c["df"]), &format!("df {c}"));
        let ci = fs(&c["ci"]);
        close(r.ci.0, ci[0], &format!("ci low {c}"));
        close(r.ci.1, ci[1], &format!("ci high {c}"));
    }
}

#[test]
fn paired_matches_scipy_ttest_rel() {
    let g = golden();
    for c in g["paired"].as_array().unwrap() {
        let r = paired(&fs(&c["a"]), &fs(&c["b"]), f(&c["level"])).unwrap();
        assert_eq!(r.kind, TestKind::Paired);
        close(r.t, f(&c["t"]), &format!("t {c}"));
        close(r.p, f(&c["p"]), &format!("p {c}"));
        close(r.df, f(&c["df"]), &format!("df {c}"));
        let ci = fs(&c["ci"]);
        close(r.ci.0, ci[0], &format!("ci low {c}"));
        close(r.ci.1, ci[1], &format!("ci high {c}"));
    }
}

#[test]
fn holm_matches_statsmodels() {
    let g = golden();
    for c in g["holm"].as_array().unwrap() {
        let ours = holm(&fs(&c["p"]));
        for (o, t) in ours.iter().zip(fs(&c["adjusted"])) {
            close(*o, t, &format!("holm {c}"));
        }
    }
}

#[test]
fn bootstrap_replays_numpys_resamples_and_percentiles() {
    let g = golden();
    for c in g["bootstrap"].as_array().unwrap() {
        let seed = c["seed"].as_u64().unwrap();
        let mut rng = SplitMix64::new(seed);
        for want in c["first_u64"].as_array().unwrap() {
            assert_eq!(rng.next_u64().to_string(), want.as_str().unwrap());
        }
        let values = fs(&c["values"]);
        let means = bootstrap(
            &values,
            c["resamples"].as_u64().unwrap() as usize,
            seed,
            mean,
        );
        let want = fs(&c["means"]);
        assert_eq!(means.len(), want.len());
        for (o, t) in means.iter().zip(&want) {
            close(*o, *t, "bootstrap mean");
        }
        for (q, v) in c["percentiles"].as_object().unwrap() {
            close(percentile(&means, q.parse().unwrap()), f(v), "percentile");
        }
    }
}

#[test]
fn seeds_needed_equals_statsmodels_solve_power_rounded_up() {
    let g = golden();
    let mut checked = 0;
    for c in g["power_exact"].as_array().unwrap() {
        let design = if c["paired"].as_bool().unwrap() {
            Design::Paired
        } else {
            Design::TwoRows
        };
        let (effect, level) = (f(&c["effect"]), f(&c["level"]));
        for (n, want) in c["power_at"].as_object().unwrap() {
            let n: usize = n.parse().unwrap();
            close(
                power(effect, n, level, design),
                f(want),
                &format!("power n={n} {c}"),
            );
        }
        let ours = seeds_needed(effect, 1.0, level, 0.8, design, 1000).unwrap();
        // statsmodels' own powers agree: enough from our n on, too little below it.
        for (k, p) in c["power_at"].as_object().unwrap() {
            let k: usize = k.parse().unwrap();
            assert_eq!(k >= ours, f(p) >= 0.8, "n={k}: ours {ours}, {c}");
        }
        // solve_power's real root, rounded up, where it found one above its lower bound of 2
        // (it answers 2 or NaN when the root is at or below two seeds).
        if let Some(n) = c["solve_power"].as_f64().filter(|n| *n > 2.0) {
            assert_eq!(ours, n.ceil() as usize, "{c}");
        }
        checked += 1;
    }
    assert_eq!(checked, 42);
    // The older fixture's cases (level 0.95, integer answers) agree too.
    for c in g["power"].as_array().unwrap() {
        let design = if c["paired"].as_bool().unwrap() {
            Design::Paired
        } else {
            Design::TwoRows
        };
        let exact = c["n"].as_u64().unwrap().max(2) as usize;
        let ours = seeds_needed(f(&c["effect"]), 1.0, 0.95, 0.8, design, 1000).unwrap();
        assert_eq!(ours, exact, "{c}");
    }
}

#[test]
fn noncentral_t_and_normal_cdfs_match_scipy() {
    let g = golden();
    let cases = g["nct"].as_array().unwrap();
    assert!(cases.len() > 400);
    for c in cases {
        let ours = nct_cdf(f(&c["t"]), f(&c["df"]), f(&c["nc"]));
        let want = f(&c["value"]);
        // Absolute 1e-9: a power is a probability near 0.8, never a far tail.
        assert!((ours - want).abs() <= 1e-9, "{c}: ours {ours:.17e}");
    }
    for c in g["normal"].as_array().unwrap() {
        let (ours, want) = (normal_cdf(f(&c["x"])), f(&c["value"]));
        assert!(
            (ours - want).abs() <= 1e-15 + 1e-12 * want,
            "{c}: ours {ours:.17e}"
        );
    }
}

#[test]
fn mean_and_sample_std() {
    assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
    assert_eq!(sample_std(&[1.0]), None);
    close(sample_std(&[1.0, 2.0, 6.0]).unwrap(), 7f64.sqrt(), "std");
}

#[test]
fn tests_need_two_values_a_side_and_equal_pairs() {
    assert!(welch(&[0.1], &[0.2, 0.3], 0.95).is_none());
    assert!(paired(&[0.1, 0.2], &[0.2, 0.3, 0.4], 0.95).is_none());
    // No spread at all: the difference is exact, p is 0 (or 1 with no difference).
    let r = paired(&[0.3, 0.4], &[0.2, 0.3], 0.95).unwrap();
    assert!((r.diff - 0.1).abs() < 1e-12 && r.se.abs() < 1e-12 || r.p < 1e-6);
    let r = welch(&[0.3, 0.3], &[0.3, 0.3], 0.95).unwrap();
    assert_eq!((r.p, r.ci), (1.0, (0.0, 0.0)));
}

#[test]
fn seeds_needed_grows_with_the_spread_and_shrinks_when_paired() {
    let few = seeds_needed(0.01, 0.005, 0.95, 0.8, Design::TwoRows, 1000).unwrap();
    let many = seeds_needed(0.01, 0.01, 0.95, 0.8, Design::TwoRows, 1000).unwrap();
    assert!(few < many, "{few} {many}");
    // The usual normal-theory figure: n ≈ 2 (1.96 + 0.84)² (sd/diff)² = 15.7 → 17 with t.
    assert!((16..=18).contains(&many), "{many}");
    let paired_n = seeds_needed(0.01, 0.01, 0.95, 0.8, Design::Paired, 1000).unwrap();
    assert!(paired_n < many);
    assert_eq!(
        seeds_needed(0.0, 0.01, 0.95, 0.8, Design::TwoRows, 1000),
        None
    );
    assert_eq!(
        seeds_needed(0.001, 0.5, 0.95, 0.8, Design::TwoRows, 50),
        None
    );
    assert_eq!(
        seeds_needed(0.01, 0.0, 0.95, 0.8, Design::Paired, 50),
        Some(2)
    );
}
