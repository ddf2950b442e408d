//! A seeded bootstrap whose resamples anyone can replay: indices come from SplitMix64 (a
//! 64-bit generator defined by three lines of integer arithmetic, so `tests/golden_stats.py`
//! draws the very same resamples with numpy), percentile intervals as numpy's default
//! (`linear`) percentile.

/// SplitMix64 (Steele, Lea and Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An index in 0..n. The modulo bias is below n / 2⁶⁴, far under any bootstrap's noise.
    pub fn index(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Draws resamples of n items with replacement, one index vector at a time.
#[derive(Debug, Clone)]
pub struct Resampler {
    rng: SplitMix64,
    n: usize,
}

impl Resampler {
    pub fn new(seed: u64, n: usize) -> Resampler {
        Resampler {
            rng: SplitMix64::new(seed),
            n,
        }
    }

    /// The next resample's indices (n of them).
    pub fn next_indices(&mut self) -> Vec<usize> {
        (0..self.n).map(|_| self.rng.index(self.n)).collect()
    }
}

/// The statistic over `resamples` resamples of `values` (seeded), in draw order.
pub fn bootstrap(
    values: &[f64],
    resamples: usize,
    seed: u64,
    stat: impl Fn(&[f64]) -> f64,
) -> Vec<f64> {
    let mut r = Resampler::new(seed, values.len());
    let mut buf = vec![0.0; values.len()];
    (0..resamples)
        .map(|_| {
            for (slot, i) in buf.iter_mut().zip(r.next_indices()) {
                *slot = values[i];
            }
            stat(&buf)
        })
        .collect()
}

/// The q-th percentile (0–100) of `values`, interpolated linearly between order statistics
/// (numpy's default `method="linear"`); NaN for no values.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    // numpy's _lerp form: exact at both ends.
    if frac >= 0.5 {
        v[hi] - (v[hi] - v[lo]) * (1.0 - frac)
    } else {
        v[lo] + (v[hi] - v[lo]) * frac
    }
}
