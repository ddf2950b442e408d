#!/usr/bin/env python3
"""Regenerate the frozen reference output that src/stats/tests.rs compares `sweep::stats` to.

    PY=$HOME/.cache/sweep/torch-2.11.0/bin/python
    $PY -m pip install numpy scipy statsmodels      # once
    $PY tests/golden_stats.py                        # writes tests/fixtures/stats/stats_golden.json

Each case holds fixed inputs and what scipy (t distribution, ttest_ind with equal_var=False,
ttest_rel, their confidence intervals), statsmodels (multipletests, method="holm") and numpy
(bootstrap means over the same resamples, np.percentile) give for them. The bootstrap's
resample indices come from SplitMix64, written out below in Python integers, so both sides draw
the very same resamples.
"""

import json
import os

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.multitest import multipletests

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "stats", "stats_golden.json")
MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def index(self, n):
        return self.next_u64() % n


def ci(res, level):
    c = res.confidence_interval(confidence_level=level)
    return [float(c.low), float(c.high)]


def main():
    rng = np.random.default_rng(20261205)
    out = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                        "statsmodels": statsmodels.__version__}}

    # Student's t: quantiles, CDF and two-sided p over the degrees of freedom claims meet
    # (Welch's df is fractional, often 1-4 with 2-3 seeds).
    t_cases = []
    for df in [1.0, 1.37, 2.0, 2.5, 3.0, 4.2, 7.0, 12.0, 30.0, 100.0, 1000.0]:
        for q in [0.0005, 0.01, 0.025, 0.05, 0.2, 0.5, 0.8, 0.9, 0.95, 0.975, 0.995, 0.9995]:
            t_cases.append({"kind": "ppf", "q": q, "df": df, "value": float(stats.t.ppf(q, df))})
        for t in [-40.0, -3.1, -0.7, 0.0, 0.05, 1.0, 2.2, 6.5, 80.0]:
            t_cases.append({"kind": "cdf", "t": t, "df": df, "value": float(stats.t.cdf(t, df))})
            t_cases.append({"kind": "two_sided", "t": t, "df": df,
                            "value": float(2.0 * stats.t.sf(abs(t), df))})
    out["t"] = t_cases

    # Welch and paired tests on seed-like samples (AP values around 0.2-0.4).
    welch, paired = [], []
    shapes = [(2, 2), (2, 3), (3, 3), (3, 5), (5, 4), (10, 7)]
    for na, nb in shapes:
        for level in [0.95, 0.9, 0.99]:
            a = (0.30 + 0.01 * rng.standard_normal(na)).round(6).tolist()
            b = (0.29 + 0.02 * rng.standard_normal(nb)).round(6).tolist()
            r = stats.ttest_ind(a, b, equal_var=False)
            welch.append({"a": a, "b": b, "level": level, "t": float(r.statistic),
                          "p": float(r.pvalue), "df": float(r.df), "ci": ci(r, level)})
    for n in [2, 3, 4, 6, 10]:
        for level in [0.95, 0.9]:
            a = (0.30 + 0.01 * rng.standard_normal(n)).round(6)
            b = (a - 0.004 + 0.006 * rng.standard_normal(n)).round(6)
            r = stats.ttest_rel(a.tolist(), b.tolist())
            paired.append({"a": a.tolist(), "b": b.tolist(), "level": level,
                           "t": float(r.statistic), "p": float(r.pvalue), "df": float(r.df),
                           "ci": ci(r, level)})
    out["welch"] = welch
    out["paired"] = paired

    # Holm: statsmodels' adjusted p values, ties and p = 1 (claims without a test) included.
    holm = []
    for p in [[0.01, 0.04, 0.03, 0.005], [0.2, 0.2, 0.01], [1.0, 0.001, 0.5],
              [0.049], rng.uniform(0, 0.2, 9).tolist(), [0.3, 0.01, 0.02, 0.9, 1.0, 0.04]]:
        holm.append({"p": p, "adjusted": multipletests(p, method="holm")[1].tolist()})
    out["holm"] = holm

    # Bootstrap of the mean: SplitMix64 indices, numpy means and percentiles.
    boot = []
    for seed, n, resamples in [(0, 5, 50), (7, 12, 200), (12345678901234, 3, 30)]:
        values = rng.uniform(0.1, 0.5, n).round(6)
        g = SplitMix64(seed)
        idx = np.array([[g.index(n) for _ in range(n)] for _ in range(resamples)])
        means = values[idx].mean(axis=1)
        first = SplitMix64(seed)
        boot.append({"seed": seed, "values": values.tolist(), "resamples": resamples,
                     "first_u64": [str(first.next_u64()) for _ in range(4)],
                     "means": means.tolist(),
                     "percentiles": {str(q): float(np.percentile(means, q))
                                     for q in [2.5, 5.0, 50.0, 95.0, 97.5]}})
    out["bootstrap"] = boot

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
