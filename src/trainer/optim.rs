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
//!
//! Clipping is logged: every step keeps the global norm `‖∇‖₂` (before clipping), whether the
//! clip scaled the gradients (`c < 1`) and a running count of the steps it did, all as device
//! tensors; [`Sgd::last_clip`] and [`Sgd::clipped_iterations`] read them back, which the loop
//! does only at logged iterations. The count is saved in the checkpoint (a checkpoint without
//! it, from an older build, resumes the count at 0).

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
    /// `‖∇‖₂` of the last step, before clipping (f32 scalar on the device).
    last_norm: Option<Tensor>,
    /// Whether the last step was clipped (bool scalar on the device; none without a clip).
    last_clipped: Option<Tensor>,
    /// Steps whose gradients the clip scaled, over the whole run (f64 scalar on the device).
    clipped_total: Tensor,
}

/// Prefix of the momentum buffers' names in a checkpoint.
pub const BUFFER_PREFIX: &str = "sgd.momentum.";

/// Name of the count of clipped steps in a checkpoint.
pub const CLIPPED_KEY: &str = "sgd.clipped_iterations";

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
            last_norm: None,
            last_clipped: None,
            clipped_total: Tensor::zeros([], (Kind::Double, vs.device())),
        }
    }

    /// The last step's global gradient norm before clipping, and whether the clip scaled it
    /// (false without a clip); `None` before the first step. Reads back from the device.
    pub fn last_clip(&self) -> Option<(f64, bool)> {
        let norm = self.last_norm.as_ref()?.double_value(&[]);
        let clipped = self
            .last_clipped
            .as_ref()
            .is_some_and(|c| c.int64_value(&[]) != 0);
        Some((norm, clipped))
    }

    /// Steps whose gradients the clip scaled so far (the checkpoint's count included). Reads
    /// back from the device.
    pub fn clipped_iterations(&self) -> u64 {
        self.clipped_total.double_value(&[]).round() as u64
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
            let norms: Vec<Tensor> = grads
                .iter()
                .filter(|g| g.defined())
                .map(|g| g.norm().to_kind(Kind::Float))
                .collect();
            let total = if norms.is_empty() {
                Tensor::zeros([], (Kind::Float, self.clipped_total.device()))
            } else {
                Tensor::stack(&norms, 0).norm()
            };
            let coef = self.clip.map(|max| (max / (&total + 1e-6)).clamp_max(1.0));
            self.last_clipped = coef.as_ref().map(|c| {
                let clipped = c.lt(1.0);
                let _ = self.clipped_total.g_add_(&clipped.to_kind(Kind::Double));
                clipped
            });
            self.last_norm = Some(total);
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

    /// The momentum buffers, named `sgd.momentum.<parameter>`, and the count of clipped steps.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self
            .params
            .iter()
            .zip(&self.buffers)
            .map(|((n, _), b)| (format!("{BUFFER_PREFIX}{n}"), b.shallow_clone()))
            .collect();
        v.push((CLIPPED_KEY.to_string(), self.clipped_total.shallow_clone()));
        v
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
        match saved.get(CLIPPED_KEY) {
            Some(n) => self.clipped_total.copy_(n),
            None => {
                let _ = self.clipped_total.zero_();
            }
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

    /// The logged norm is the pre-clip global norm (hand-computed), `clipped` says whether the
    /// clip acted, and the count covers every step (logged or not) and survives a checkpoint.
    #[test]
    fn clipping_is_logged_and_counted() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[3.0f32, 4.0]));
        let mut opt = Sgd::new(&vs, 0.0, 0.0, Some(1.0));
        assert_eq!(opt.last_clip(), None);
        // grad = scale · w: norm 5·scale; clipped when 5·scale > 1.
        let step = |opt: &mut Sgd, scale: f64| {
            opt.zero_grad();
            (&w * &w * (scale / 2.0)).sum(Kind::Float).backward();
            let norm = scale
                * Vec::<f32>::try_from(&w.detach())
                    .unwrap()
                    .iter()
                    .map(|v| (*v as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
            opt.step(0.0);
            norm
        };
        let mut clipped = 0;
        for scale in [1.0, 0.1, 0.01, 2.0, 0.15] {
            let want = step(&mut opt, scale);
            let (norm, was) = opt.last_clip().unwrap();
            assert!((norm - want).abs() < 1e-4 * want, "{norm} vs {want}");
            assert_eq!(was, want > 1.0, "scale {scale}: norm {want}");
            clipped += was as u64;
        }
        assert_eq!(clipped, 2);
        assert_eq!(opt.clipped_iterations(), 2);
        let saved: std::collections::HashMap<String, Tensor> = opt.state().into_iter().collect();
        let mut resumed = Sgd::new(&vs, 0.0, 0.0, Some(1.0));
        resumed.load_state(&saved).unwrap();
        assert_eq!(resumed.clipped_iterations(), 2);
        step(&mut resumed, 1.0);
        assert_eq!(resumed.clipped_iterations(), 3);
        // Without a clip: the norm is still logged, nothing is clipped.
        let mut free = Sgd::new(&vs, 0.0, 0.0, None);
        let want = step(&mut free, 3.0);
        let (norm, was) = free.last_clip().unwrap();
        assert!((norm - want).abs() < 1e-4 * want && !was);
        assert_eq!(free.clipped_iterations(), 0);
    }
}
