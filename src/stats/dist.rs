//! The distributions the tests need: Student's t through the regularized incomplete beta
//! function (the Lentz continued fraction, Numerical Recipes' `betacf`, and Lanczos'
//! log-gamma), the standard normal through the incomplete gamma function, and the noncentral t
//! the power of a test is computed from.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error below 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The continued fraction of I_x(a, b) (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b), with `y = 1 − x` given separately so
/// that callers who know it exactly lose nothing to cancellation.
pub fn reg_inc_beta(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * y.ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, y) / b
    }
}

/// P(|T| ≥ |t|) for Student's t with `df` degrees of freedom: the two-sided p of a t statistic.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    let t2 = t * t;
    // x = df / (df + t²) and 1 − x = t² / (df + t²), each without cancellation.
    reg_inc_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))
}

/// P(T ≤ t).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * t_two_sided_p(t, df);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The q-quantile of Student's t (0 < q < 1): bisection on the tail probability, which is
/// monotone, to the last bit.
pub fn t_quantile(q: f64, df: f64) -> f64 {
    if q == 0.5 {
        return 0.0;
    }
    // NaN inputs fail these comparisons too.
    let valid = q > 0.0 && q < 1.0 && df > 0.0;
    if !valid {
        return f64::NAN;
    }
    // Solve P(T ≥ t) = upper for t ≥ 0, with the smaller tail for precision.
    let upper = if q > 0.5 { 1.0 - q } else { q };
    let tail = |t: f64| 0.5 * t_two_sided_p(t, df);
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while tail(hi) > upper {
        lo = hi;
        hi *= 2.0;
        if hi > 1e300 {
            return f64::INFINITY.copysign(q - 0.5);
        }
    }
    for _ in 0..2_000 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if tail(mid) > upper {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let t = 0.5 * (lo + hi);
    if q > 0.5 {
        t
    } else {
        -t
    }
}

/// Φ(x), the standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    // Φ(x) = Q(1/2, x²/2) / 2 for x ≤ 0 (Q: the upper regularized incomplete gamma), which
    // keeps the small tail's relative precision.
    if x.is_nan() {
        return f64::NAN;
    }
    let tail = 0.5 * upper_gamma_q(0.5, x * x / 2.0);
    if x <= 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// Q(a, x) = Γ(a, x) / Γ(a): the series below a + 1, Lentz's continued fraction above.
fn upper_gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut ap, mut sum) = (a, 1.0 / a);
        let mut del = sum;
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - front * sum
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        front * h
    }
}

/// P(T' ≤ t) for the noncentral t with `df` degrees of freedom and noncentrality `nc`.
///
/// For t ≥ 0 (Lenth's AS 243 series, summed outward from the Poisson weights' mode as
/// Benton and Krishnamoorthy do, so a large `nc` loses nothing to underflow):
/// F = Φ(−nc) + ½ Σⱼ [Pⱼ I_x(j + ½, df/2) + nc/√2 · Qⱼ I_x(j + 1, df/2)], x = t² / (t² + df),
/// Pⱼ = e^{−λ} λʲ / j!, Qⱼ = e^{−λ} λʲ / Γ(j + 3/2), λ = nc² / 2. For t < 0,
/// F(t; nc) = 1 − F(−t; −nc).
pub fn nct_cdf(t: f64, df: f64, nc: f64) -> f64 {
    if t.is_nan() || df.is_nan() || nc.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t == f64::INFINITY {
        return 1.0;
    }
    if t == f64::NEG_INFINITY {
        return 0.0;
    }
    if t < 0.0 {
        return 1.0 - nct_cdf(-t, df, -nc);
    }
    let lambda = nc * nc / 2.0;
    // Far out the series would need ~√λ terms a side: integrate instead.
    if lambda > 500.0 {
        return nct_cdf_by_integral(t, df, nc);
    }
    let t2 = t * t;
    let (x, y) = (t2 / (t2 + df), df / (t2 + df));
    let b = df / 2.0;
    let term = |j: f64| -> f64 {
        if x == 0.0 {
            return 0.0;
        }
        let log_pow = if lambda > 0.0 { j * lambda.ln() } else { 0.0 };
        let p = if lambda == 0.0 && j > 0.0 {
            0.0
        } else {
            (-lambda + log_pow - ln_gamma(j + 1.0)).exp()
        };
        // nc/√2 · e^{−λ} λʲ / Γ(j + 3/2) = sign(nc) e^{−λ} λ^{j+½} / Γ(j + 3/2).
        let q = if lambda == 0.0 {
            0.0
        } else {
            nc.signum() * (-lambda + (j + 0.5) * lambda.ln() - ln_gamma(j + 1.5)).exp()
        };
        p * reg_inc_beta(j + 0.5, b, x, y) + q * reg_inc_beta(j + 1.0, b, x, y)
    };
    let mode = lambda.floor();
    let mut sum = term(mode);
    // Outward until the Poisson weight left on that side is negligible.
    let small = |j: f64| {
        let w = (-lambda + j * lambda.max(f64::MIN_POSITIVE).ln() - ln_gamma(j + 1.0)).exp();
        w < 1e-18
    };
    let mut j = mode + 1.0;
    loop {
        sum += term(j);
        if small(j) && j > lambda || j > mode + 100_000.0 {
            break;
        }
        j += 1.0;
    }
    let mut j = mode - 1.0;
    while j >= 0.0 {
        sum += term(j);
        if small(j) {
            break;
        }
        j -= 1.0;
    }
    (normal_cdf(-nc) + 0.5 * sum).clamp(0.0, 1.0)
}

/// P(T' ≤ t) for t ≥ 0 as P(Z + nc ≤ t·S), S = √(χ²_df / df):
/// Φ(−nc) + ∫_{z > −nc} φ(z) Q(df/2, df (z + nc)² / (2t²)) dz, by adaptive Simpson over the
/// normal's range (|z| ≤ 9 holds all but 1e-19 of it).
fn nct_cdf_by_integral(t: f64, df: f64, nc: f64) -> f64 {
    if t == 0.0 {
        return normal_cdf(-nc);
    }
    let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let f = |z: f64| {
        let s = (z + nc) / t;
        if s <= 0.0 {
            phi(z)
        } else {
            phi(z) * upper_gamma_q(df / 2.0, df * s * s / 2.0)
        }
    };
    // Below z = −nc the integrand is φ(z) (counted by Φ(−nc) when −nc > −9).
    let (lo, hi) = ((-nc).max(-9.0), 9.0);
    let inner = if lo < hi {
        simpson(&f, lo, hi, 1e-13)
    } else {
        0.0
    };
    let below = if -nc > -9.0 { normal_cdf(-nc) } else { 0.0 };
    (below + inner).clamp(0.0, 1.0)
}

/// Adaptive Simpson's rule to an absolute tolerance.
fn simpson(f: &dyn Fn(f64) -> f64, a: f64, b: f64, tol: f64) -> f64 {
    /// One panel: its ends and middle as (x, f(x)), Simpson's estimate over it.
    fn step(
        f: &dyn Fn(f64) -> f64,
        [(a, fa), (m, fm), (b, fb)]: [(f64, f64); 3],
        whole: f64,
        tol: f64,
        depth: u32,
    ) -> f64 {
        let (lm, rm) = (0.5 * (a + m), 0.5 * (m + b));
        let (flm, frm) = (f(lm), f(rm));
        let left = (m - a) / 6.0 * (fa + 4.0 * flm + fm);
        let right = (b - m) / 6.0 * (fm + 4.0 * frm + fb);
        let diff = left + right - whole;
        if depth == 0 || diff.abs() <= 15.0 * tol {
            return left + right + diff / 15.0;
        }
        step(f, [(a, fa), (lm, flm), (m, fm)], left, tol / 2.0, depth - 1)
            + step(
                f,
                [(m, fm), (rm, frm), (b, fb)],
                right,
                tol / 2.0,
                depth - 1,
            )
    }
    // Start from a few panels so that a narrow feature is not stepped over.
    let panels = 16;
    let h = (b - a) / panels as f64;
    (0..panels)
        .map(|i| {
            let (x0, x1) = (a + i as f64 * h, a + (i + 1) as f64 * h);
            let xm = 0.5 * (x0 + x1);
            let (fa, fb, fm) = (f(x0), f(x1), f(xm));
            let whole = (x1 - x0) / 6.0 * (fa + 4.0 * fm + fb);
            step(
                f,
                [(x0, fa), (xm, fm), (x1, fb)],
                whole,
                tol / panels as f64,
                40,
            )
        })
        .sum()
}
