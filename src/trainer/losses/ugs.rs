//! UGS: uncertainty-aware gradient stabilization (ICCV 2025, arXiv 2303.01803; only the
//! summary and the supplementary are available: `shared/papers/ugs_*.txt`).
//!
//! `L_localization = L_CE + λ·L_UM + γ·Σ_l L^ur(P_l + ε*_l)` ("Loss & Training"), each switchable
//! (λ = 0, γ = 0, `in_labels: false`), so the five rows of the ablation are five configs.
//!
//! **Classification-based localization** (GFL-style). Each box side's target `y` (the encoded
//! target: FCOS ltrb / stride, RetinaNet deltas) is predicted as a distribution `p` over the
//! `n + 1` points `y_0 < … < y_n` of a grid ([`Grid`]); the prediction used for decoding is the
//! expectation `Σ_k p_k y_k`. The target, clamped to `[y_0, y_n]`, becomes a two-hot label on its
//! two neighbouring points `y_l ≤ y ≤ y_r` with weights `(y_r − y)/(y_r − y_l)` and
//! `(y − y_l)/(y_r − y_l)` (their expectation is `y`), and
//! `L_CE = −p*_l log p_l − p*_r log p_r`, summed over the four sides.
//!
//! **Grid.** The summary's range is `[−α, α]` for signed offsets (RetinaNet). FCOS's distances
//! are ≥ 0, so its grid is the half range `[0, α]` (α in strides; a target beyond α is clamped to
//! it, GFL does the same). Uniform points `u_k` are spaced evenly; with IN labels each point is
//! mapped by `y_IN(u) = sign(u)·α/(e^(αβ) − 1)·(e^(β|u|) − 1)` ([`in_map`]), which keeps ±α and
//! 0, is monotone, and packs the points densely near zero (denser for larger β).
//!
//! **UM**: `L_UM = H(p) = −Σ_k p_k log p_k`, summed over the four sides of each positive
//! (positives only: only they have a localization target; our choice).
//!
//! **UR**: for each FPN level `P_l`, `ε*_l = ρ·∇_{P_l} L_UM / ‖∇_{P_l} L_UM‖₂` with the norm
//! per image (`ur_scope: image`, the default: each image's slice of the level moves by ρ, the
//! size the summary gives a perturbation of one image's features) or over the whole level
//! tensor of the batch (`level`: each element then moves by about ρ/√(B·C·H·W), ~1e-3 on P3
//! at ρ = 0.5, so UR acts as extra weight on `L_CE` more than as a perturbation)
//! ([`perturbation`]; a level or image the positives do not touch has a zero gradient and is
//! not perturbed), the regression branch of the head runs again
//! on `P_l + ε*_l` (ε* a constant, as in SAM; the gradient of `L^ur` reaches the head and,
//! through `P_l`, the FPN and backbone), and `γ·L^ur` is added. The summary does not define
//! `L^ur`: `ur_loss` picks `L_CE` (default: refine the localization where the features are
//! uncertain), `L_CE + λ·L_UM` or `L_UM` at the perturbed features. The extra backward (for ε*)
//! and forward (the branch) are what `benches/ap_loss.rs` measures against an L2 step.
//!
//! All terms are per positive (`[P]`) and reduced with the regression weights like any
//! regression loss; the objective (`trainer::objective`) drives the steps.

use crate::spec::config::{UgsSpec, UrLoss, UrScope};
use tch::{Kind, Tensor};

/// `sign(u)·α/(e^(αβ) − 1)·(e^(β|u|) − 1)`.
pub fn in_map(u: f64, alpha: f64, beta: f64) -> f64 {
    u.signum() * alpha / (alpha * beta).exp_m1() * (beta * u.abs()).exp_m1()
}

/// The `n + 1` points of a distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub points: Vec<f64>,
}

impl Grid {
    /// `signed`: `[−α, α]`, else `[0, α]`; `in_labels`: points mapped by [`in_map`].
    pub fn new(n: u32, alpha: f64, beta: f64, in_labels: bool, signed: bool) -> Grid {
        let lo = if signed { -alpha } else { 0.0 };
        let points = (0..=n)
            .map(|k| {
                let u = lo + (alpha - lo) * k as f64 / n as f64;
                if in_labels {
                    in_map(u, alpha, beta)
                } else {
                    u
                }
            })
            .collect();
        Grid { points }
    }

    pub fn bins(&self) -> i64 {
        self.points.len() as i64
    }

    pub fn tensor(&self, device: tch::Device) -> Tensor {
        Tensor::from_slice(&self.points)
            .to_kind(Kind::Float)
            .to_device(device)
    }

    /// Two-hot labels of `target` (any shape `S`): the left point's index `[S]` (int64) and the
    /// weights of the left and right points `[S]`.
    pub fn two_hot(&self, target: &Tensor) -> (Tensor, Tensor, Tensor) {
        let n = self.bins() - 1;
        let grid = Tensor::from_slice(&self.points)
            .to_kind(target.kind())
            .to_device(target.device());
        let (lo, hi) = (self.points[0], self.points[n as usize]);
        let t = target.clamp(lo, hi);
        // left = number of points y_0 … y_{n−1} that are ≤ t, minus one
        let left = t
            .unsqueeze(-1)
            .ge_tensor(&grid.narrow(0, 0, n))
            .sum_dim_intlist(-1, false, Kind::Int64)
            .g_sub_scalar(1)
            .clamp(0, n - 1);
        let flat = left.flatten(0, -1);
        let y_l = grid.index_select(0, &flat).view_as(&t);
        let y_r = grid.index_select(0, &(flat + 1)).view_as(&t);
        let w_r = (&t - &y_l) / (y_r - &y_l);
        (left, w_r.neg() + 1.0, w_r)
    }

    /// The dense two-hot label `[S, n + 1]` of `target [S]`.
    pub fn dense(&self, target: &Tensor) -> Tensor {
        let (left, w_l, w_r) = self.two_hot(target);
        let mut shape = target.size();
        shape.push(self.bins());
        let z = Tensor::zeros(shape.as_slice(), (target.kind(), target.device()));
        let left = left.unsqueeze(-1);
        z.scatter_add(-1, &left, &w_l.unsqueeze(-1)).scatter_add(
            -1,
            &(&left + 1),
            &w_r.unsqueeze(-1),
        )
    }
}

/// The per-positive terms of one head output.
#[derive(Debug)]
pub struct Terms {
    /// `L_CE` per positive `[P]`.
    pub ce: Tensor,
    /// `L_UM` (entropy) per positive `[P]`.
    pub um: Tensor,
}

/// The UGS localization loss of a config.
#[derive(Debug, Clone)]
pub struct Ugs {
    pub spec: UgsSpec,
    pub grid: Grid,
}

impl Ugs {
    /// `signed`: the targets are signed offsets (RetinaNet), else distances ≥ 0 (FCOS).
    pub fn new(spec: &UgsSpec, signed: bool) -> Ugs {
        Ugs {
            grid: Grid::new(spec.n, spec.alpha, spec.beta, spec.in_labels, signed),
            spec: spec.clone(),
        }
    }

    /// `L_CE` and `L_UM` of `logits [P, 4, n + 1]` against `target [P, 4]`.
    pub fn terms(&self, logits: &Tensor, target: &Tensor) -> Terms {
        let kind = logits.kind();
        let logp = logits.log_softmax(-1, kind);
        let (left, w_l, w_r) = self.grid.two_hot(&target.to_kind(kind));
        let left = left.unsqueeze(-1);
        let lp_l = logp.gather(-1, &left, false).squeeze_dim(-1);
        let lp_r = logp.gather(-1, &(&left + 1), false).squeeze_dim(-1);
        let ce = (w_l * lp_l + w_r * lp_r).neg();
        let um = (logp.exp() * &logp).neg().sum_dim_intlist(-1, false, kind);
        Terms {
            ce: ce.sum_dim_intlist(-1, false, kind),
            um: um.sum_dim_intlist(-1, false, kind),
        }
    }

    /// `L^ur` per positive from the terms at the perturbed features.
    pub fn refinement(&self, at_perturbed: &Terms) -> Tensor {
        match self.spec.ur_loss {
            UrLoss::Ce => at_perturbed.ce.shallow_clone(),
            UrLoss::CeUm => &at_perturbed.ce + &at_perturbed.um * self.spec.lambda,
            UrLoss::Um => at_perturbed.um.shallow_clone(),
        }
    }
}

/// `ε*_l = ρ·∇_{P_l} L / ‖∇_{P_l} L‖₂` for each level (zero where the gradient is zero), as
/// constants, the norm taken per `scope`: over each image's slice `[C, H, W]` of the level
/// (`image`) or over the level's whole batch tensor `[B, C, H, W]` (`level`). `loss` must depend
/// on `levels` through a graph that is kept for the later backward pass.
pub fn perturbation(levels: &[Tensor], loss: &Tensor, rho: f64, scope: UrScope) -> Vec<Tensor> {
    let grads = Tensor::run_backward(&[loss], levels, true, false);
    levels
        .iter()
        .zip(grads)
        .map(|(p, g)| {
            if !g.defined() {
                return p.zeros_like().detach();
            }
            let norm = match scope {
                UrScope::Level => g.norm().to_kind(g.kind()),
                UrScope::Image => {
                    let dims: Vec<i64> = (1..g.dim() as i64).collect();
                    let mut shape = vec![1i64; g.dim()];
                    shape[0] = -1;
                    g.square()
                        .sum_dim_intlist(dims.as_slice(), false, g.kind())
                        .sqrt()
                        .view(shape.as_slice())
                }
            };
            (g / norm.clamp_min(1e-30) * rho).detach()
        })
        .collect()
}

#[cfg(test)]
mod tests;
