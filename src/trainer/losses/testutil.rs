//! Test helpers: seeded inputs, f64 tensors with gradients, central finite differences.

use crate::trainer::synth::Rng;
use tch::{Kind, Tensor};

pub fn uniform(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| lo + (hi - lo) * rng.unit() as f64).collect()
}

/// A leaf f64 tensor of `shape` that records gradients.
pub fn leaf(v: &[f64], shape: &[i64]) -> Tensor {
    Tensor::from_slice(v).view(shape).set_requires_grad(true)
}

pub fn constant(v: &[f64], shape: &[i64]) -> Tensor {
    Tensor::from_slice(v).view(shape)
}

pub fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).expect("a float tensor")
}

pub fn scalar(t: &Tensor) -> f64 {
    t.double_value(&[])
}

/// Gradient of `f` at `x` by central differences (step `h`).
pub fn finite_diff(f: impl Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let (mut a, mut b) = (x.to_vec(), x.to_vec());
            a[i] += h;
            b[i] -= h;
            (f(&a) - f(&b)) / (2.0 * h)
        })
        .collect()
}

/// Asserts `|a − b| ≤ tol · max(1, |b|)` element-wise.
pub fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            x.is_finite() && (x - y).abs() <= tol * y.abs().max(1.0),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}
