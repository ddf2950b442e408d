//! SGD with momentum and weight decay, written over the VarStore's variables so the momentum
//! buffers are ours (and go into the checkpoint), plus the learning-rate schedule and global
//! gradient-norm clipping.
//!
//! Update (PyTorch's `torch.optim.SGD`, dampening 0, no Nesterov), per parameter `p`:
//! `d = c · ∇p + λ p`, `b ← μ b + d`, `p ← p − η b`, where `c = min(1, clip / (‖∇‖₂ + 1e-6))` is
//! the clipping factor of the global norm over all gradients (`torch.nn.utils.clip_grad_norm_`)
//! and the buffers start at zero (so the first step sets `b = d`, as PyTorch does). Weight decay
//! applies to every parameter (PyTorch's default). The clip factor stays a tensor: no device
//! synchronisation per step. Parameters are visited in name order, so the reduction order of the
//! gradient norm (and thus every bit of the result) is fixed.

use crate::spec::config::TrainSpec;
use tch::{nn::VarStore, Kind, Tensor};

/// Learning rate at iteration `it` (0-based): linear warm-up from `lr · warmup_factor` over
/// `warmup_iterations` (Detectron's "linear" warm-up: factor `w + (1 − w) · it / warmup`), then
/// `lr · lr_decay^k` with `k` the number of steps `⌊f · iterations⌋` already reached.
pub fn lr_at(spec: &TrainSpec, it: u64) -> f64 {
    let mut lr = spec.lr;
    if it < spec.warmup_iterations {
        let a = it as f64 / spec.warmup_iterations as f64;
        lr *= spec.warmup_factor * (1.0 - a) + a;
    }
    let k = spec
        .lr_steps
        .iter()
        .filter(|&&f| it >= (f * spec.iterations as f64).floor() as u64)
        .count();
    lr * spec.lr_decay.powi(k as i32)
}

/// The optimizer and its state.
#[derive(Debug)]
pub struct Sgd {
    params: Vec<(String, Tensor)>,
    buffers: Vec<Tensor>,
    momentum: f64,
    weight_decay: f64,
    clip: Option<f64>,
}

/// Prefix of the momentum buffers' names in a checkpoint.
pub const BUFFER_PREFIX: &str = "sgd.momentum.";

impl Sgd {
    pub fn new(vs: &VarStore, momentum: f64, weight_decay: f64, clip: Option<f64>) -> Sgd {
        let mut params: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers = params.iter().map(|(_, p)| p.zeros_like()).collect();
        Sgd {
            params,
            buffers,
            momentum,
            weight_decay,
            clip,
        }
    }

    /// Total number of trainable scalars.
    pub fn parameter_count(&self) -> i64 {
        self.params.iter().map(|(_, p)| p.numel() as i64).sum()
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update with learning rate `lr`, from the gradients of the last backward pass.
    pub fn step(&mut self, lr: f64) {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).collect();
            let coef = self.clip.map(|max| {
                let norms: Vec<Tensor> = grads
                    .iter()
                    .filter(|g| g.defined())
                    .map(|g| g.norm().to_kind(Kind::Float))
                    .collect();
                let total = Tensor::stack(&norms, 0).norm();
                (max / (total + 1e-6)).clamp_max(1.0)
            });
            for (((_, p), b), g) in self.params.iter_mut().zip(&mut self.buffers).zip(&grads) {
                let mut d = if !g.defined() {
                    p.zeros_like()
                } else if let Some(c) = &coef {
                    g * c
                } else {
                    g.copy()
                };
                if self.weight_decay != 0.0 {
                    let _ = d.g_add_(&(&*p * self.weight_decay));
                }
                let _ = b.g_mul_scalar_(self.momentum);
                let _ = b.g_add_(&d);
                let _ = p.g_add_(&(&*b * -lr));
            }
        })
    }

    /// The momentum buffers, named `sgd.momentum.<parameter>`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .zip(&self.buffers)
            .map(|((n, _), b)| (format!("{BUFFER_PREFIX}{n}"), b.shallow_clone()))
            .collect()
    }

    /// Restores the buffers saved by [`Sgd::state`]; the name of a missing one on error.
    pub fn load_state(
        &mut self,
        saved: &std::collections::HashMap<String, Tensor>,
    ) -> Result<(), String> {
        for ((n, _), b) in self.params.iter().zip(&mut self.buffers) {
            let key = format!("{BUFFER_PREFIX}{n}");
            let src = saved.get(&key).ok_or(key)?;
            tch::no_grad(|| b.copy_(src));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn lr_schedule_warms_up_and_decays() {
        let spec = TrainSpec {
            iterations: 100,
            lr: 1.0,
            warmup_iterations: 10,
            warmup_factor: 0.1,
            lr_steps: vec![0.5, 0.9],
            lr_decay: 0.1,
            ..Default::default()
        };
        assert!((lr_at(&spec, 0) - 0.1).abs() < 1e-12);
        assert!((lr_at(&spec, 5) - 0.55).abs() < 1e-12);
        assert_eq!(lr_at(&spec, 10), 1.0);
        assert_eq!(lr_at(&spec, 49), 1.0);
        assert!((lr_at(&spec, 50) - 0.1).abs() < 1e-12);
        assert!((lr_at(&spec, 90) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn sgd_matches_hand_computation_with_clipping() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs
            .root()
            .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
        let mut opt = Sgd::new(&vs, 0.9, 0.1, Some(1.0));
        let (mut p, mut b) = ([1.0f64, -2.0], [0.0f64; 2]);
        for step in 0..3 {
            opt.zero_grad();
            (&w * &w * 3.0).sum(Kind::Float).backward(); // grad 6 p, norm 6 |p| > 1: clipped
            let g = [6.0 * p[0], 6.0 * p[1]];
            let c = (1.0 / ((g[0] * g[0] + g[1] * g[1]).sqrt() + 1e-6)).min(1.0);
            for k in 0..2 {
                b[k] = 0.9 * b[k] + c * g[k] + 0.1 * p[k];
                p[k] -= 0.5 * b[k];
            }
            opt.step(0.5);
            let got = Vec::<f32>::try_from(&w.detach()).unwrap();
            for k in 0..2 {
                assert!(
                    (got[k] as f64 - p[k]).abs() < 1e-5,
                    "step {step}: {got:?} vs {p:?}"
                );
            }
        }
        assert_eq!(opt.parameter_count(), 2);
        assert_eq!(opt.state()[0].0, "sgd.momentum.w");
    }
}
