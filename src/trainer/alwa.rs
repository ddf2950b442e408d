//! Task weights: fixed, or Adaptive Loss Weight Adjustment (ALWA paper, Section 3.2,
//! Algorithm 1).
//!
//! Algorithm 1, for iterations `i = 0, 1, …` with initial `λ_cls`, `λ_reg` (the paper keeps
//! them 1:1, e.g. 0.75:0.75, and lists 0.5 … 1.5 in Table 8):
//! 1. compute `L_cls`, `L_reg`; record `λ_cls·L_cls`, `λ_reg·L_reg` in the window (lines 5–7);
//! 2. if `i % C == 0`: take the window's mean and standard deviation, empty it, and with
//!    `cls = mean + std` (ALWA_1) or `cls = std` (ALWA_2), likewise `reg`, set
//!    `λ_cls = 1 − (cls − reg)/cls` (= reg/cls) when `cls > reg` (lines 8–16); `λ_reg` never
//!    changes;
//! 3. train iteration `i` with the weights now in force (line 17: an update at `i` already
//!    applies to iteration `i`'s step).
//!
//! What the paper leaves open, and our choices: at `i = 0` the window holds one sample and its
//! standard deviation is undefined: the window is emptied and the weights are not updated, so
//! every later window holds exactly the C iterations `(kC, (k+1)C]`. The divisor of the standard
//! deviation is `n − 1` (sample) by default, `n` with `std: population`. `record: raw` records
//! the unweighted losses instead: taken literally, recording weighted losses makes the new
//! `λ_cls = reg/cls` depend on the old `λ_cls`, which can swing from window to window (the
//! weights are logged in `curves.csv` to show which behaviour a run had). The recorded
//! classification loss is the logged value (AP-loss: 1 − AP), not a surrogate.
//!
//! The window is kept as device scalars (no synchronisation per step) and read once per
//! update; it and the weights are part of the checkpoint (`alwa.weights`, `alwa.window`), so a
//! resumed run continues the same weight sequence bit for bit.

use crate::spec::config::{AdaptSpec, AlwaRecord, StdKind, WeightsSpec};
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// The checkpoint keys' prefix of the (only, or the second stage's) weighting.
const PREFIX: &str = "alwa";

/// The weights in force and, with ALWA, its state.
#[derive(Debug)]
pub struct Weighting {
    pub cls: f64,
    pub reg: f64,
    alwa: Option<Alwa>,
    /// Checkpoint keys are `{prefix}.weights` and `{prefix}.window` (a two-stage detector
    /// keeps one weighting per stage).
    prefix: &'static str,
}

#[derive(Debug)]
struct Alwa {
    variant: u8,
    window: u64,
    record: AlwaRecord,
    std: StdKind,
    /// `[2]` f64 per iteration since the last update: raw `(L_cls, L_reg)`.
    samples: Vec<Tensor>,
}

/// The standard of a window: mean + std (ALWA_1) or std (ALWA_2).
pub fn standard(values: &[f64], variant: u8, std: StdKind) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    let div = match std {
        StdKind::Sample => n - 1.0,
        StdKind::Population => n,
    };
    let sd = (ss / div).sqrt();
    if variant == 1 {
        mean + sd
    } else {
        sd
    }
}

/// Algorithm 1, lines 9–15: the new `λ_cls` from a window of recorded losses, if it changes.
pub fn new_cls_weight(cls: &[f64], reg: &[f64], variant: u8, std: StdKind) -> Option<f64> {
    let (c, r) = (standard(cls, variant, std), standard(reg, variant, std));
    (c > r).then(|| 1.0 - (c - r) / c)
}

impl Weighting {
    pub fn new(spec: &WeightsSpec) -> Weighting {
        Self::with_prefix(spec, PREFIX)
    }

    /// A weighting whose checkpoint keys start with `prefix` (e.g. `alwa.rpn`).
    pub fn with_prefix(spec: &WeightsSpec, prefix: &'static str) -> Weighting {
        Weighting {
            prefix,
            cls: spec.cls,
            reg: spec.reg,
            alwa: spec.adapt.as_ref().map(|a| match *a {
                AdaptSpec::Alwa {
                    variant,
                    window,
                    record,
                    std,
                } => Alwa {
                    variant,
                    window,
                    record,
                    std,
                    samples: Vec::new(),
                },
            }),
        }
    }

    /// Records iteration `i`'s losses (detached scalars), updates the weights when Algorithm 1
    /// says so, and returns the weights to train iteration `i` with.
    pub fn observe(&mut self, i: u64, cls: &Tensor, reg: &Tensor) -> (f64, f64) {
        let Some(a) = &mut self.alwa else {
            return (self.cls, self.reg);
        };
        let pair = Tensor::stack(
            &[
                cls.detach().to_kind(Kind::Double),
                reg.detach().to_kind(Kind::Double),
            ],
            0,
        );
        a.samples.push(pair);
        if i.is_multiple_of(a.window) {
            if i > 0 {
                let all = Vec::<f64>::try_from(
                    Tensor::stack(&a.samples, 0)
                        .to_device(tch::Device::Cpu)
                        .flatten(0, -1),
                )
                .expect("f64 window");
                let (wc, wr) = match a.record {
                    AlwaRecord::Weighted => (self.cls, self.reg),
                    AlwaRecord::Raw => (1.0, 1.0),
                };
                let c: Vec<f64> = all.iter().step_by(2).map(|v| v * wc).collect();
                let r: Vec<f64> = all.iter().skip(1).step_by(2).map(|v| v * wr).collect();
                if let Some(w) = new_cls_weight(&c, &r, a.variant, a.std) {
                    self.cls = w;
                }
            }
            a.samples.clear();
        }
        (self.cls, self.reg)
    }

    /// The checkpoint tensors (none for fixed weights).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let Some(a) = &self.alwa else {
            return vec![];
        };
        let window = if a.samples.is_empty() {
            Tensor::zeros([0, 2], (Kind::Double, tch::Device::Cpu))
        } else {
            Tensor::stack(&a.samples, 0).to_device(tch::Device::Cpu)
        };
        vec![
            (
                format!("{}.weights", self.prefix),
                Tensor::from_slice(&[self.cls, self.reg]),
            ),
            (format!("{}.window", self.prefix), window),
        ]
    }

    /// Restores [`Weighting::state`]; the missing key's name on error.
    pub fn load_state(
        &mut self,
        saved: &HashMap<String, Tensor>,
        device: tch::Device,
    ) -> Result<(), String> {
        let prefix = self.prefix;
        let Some(a) = &mut self.alwa else {
            return Ok(());
        };
        let (weights_key, window_key) = (format!("{prefix}.weights"), format!("{prefix}.window"));
        let w = saved.get(&weights_key).ok_or(weights_key.clone())?;
        let w = Vec::<f64>::try_from(w.to_kind(Kind::Double).to_device(tch::Device::Cpu))
            .map_err(|_| weights_key)?;
        (self.cls, self.reg) = (w[0], w[1]);
        let window = saved.get(&window_key).ok_or(window_key)?;
        a.samples = (0..window.size()[0])
            .map(|k| window.get(k).to_kind(Kind::Double).to_device(device))
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alwa(variant: u8, window: u64, record: AlwaRecord, std: StdKind) -> WeightsSpec {
        WeightsSpec {
            cls: 0.75,
            reg: 0.75,
            adapt: Some(AdaptSpec::Alwa {
                variant,
                window,
                record,
                std,
            }),
        }
    }

    /// A fixed stream: cls falls and wobbles, reg is smooth.
    fn stream(i: u64) -> (f64, f64) {
        let x = i as f64;
        (
            2.0 / (1.0 + 0.1 * x) + 0.3 * (x * 1.7).sin(),
            1.0 - 0.01 * x,
        )
    }

    fn run(spec: &WeightsSpec, iterations: u64) -> Vec<f64> {
        let mut w = Weighting::new(spec);
        (0..iterations)
            .map(|i| {
                let (c, r) = stream(i);
                w.observe(i, &Tensor::from(c as f32), &Tensor::from(r as f32))
                    .0
            })
            .collect()
    }

    #[test]
    fn weight_sequence_equals_a_hand_computation() {
        // C = 4, ALWA_2, sample std, weighted records; by hand:
        let c = 4;
        let got = run(&alwa(2, c, AlwaRecord::Weighted, StdKind::Sample), 13);
        let mut lam = 0.75;
        let mut want = Vec::new();
        let mut window: Vec<(f64, f64)> = Vec::new();
        for i in 0..13u64 {
            let (a, b) = stream(i);
            // the stream is recorded as f32, as the trainer's losses are
            window.push(((a as f32) as f64 * lam, (b as f32) as f64 * 0.75));
            if i % c == 0 {
                if i > 0 {
                    assert_eq!(
                        window.len(),
                        c as usize,
                        "windows hold exactly C iterations"
                    );
                    let sd = |v: Vec<f64>| {
                        let m = v.iter().sum::<f64>() / v.len() as f64;
                        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64)
                            .sqrt()
                    };
                    let cls = sd(window.iter().map(|p| p.0).collect());
                    let reg = sd(window.iter().map(|p| p.1).collect());
                    if cls > reg {
                        lam = 1.0 - (cls - reg) / cls;
                    }
                }
                window.clear();
            }
            want.push(lam);
        }
        assert_eq!(got, want);
        assert_eq!(got[..4], [0.75; 4], "no update at i = 0");
        assert_ne!(got[4], 0.75, "the update at i = C applies to iteration C");
    }

    #[test]
    fn variants_records_and_divisors_differ_and_reg_never_changes() {
        let a1 = run(&alwa(1, 5, AlwaRecord::Weighted, StdKind::Sample), 30);
        let a2 = run(&alwa(2, 5, AlwaRecord::Weighted, StdKind::Sample), 30);
        let raw = run(&alwa(2, 5, AlwaRecord::Raw, StdKind::Sample), 30);
        let pop = run(&alwa(2, 5, AlwaRecord::Weighted, StdKind::Population), 30);
        assert!(
            a1 != a2 && a2 != raw && a2 != pop,
            "{a1:?}\n{a2:?}\n{raw:?}\n{pop:?}"
        );
        // ALWA_1 by hand at the first update: mean + sample std of the first window
        let cls: Vec<f64> = (1..=5).map(|i| stream(i).0 as f32 as f64 * 0.75).collect();
        let reg: Vec<f64> = (1..=5).map(|i| stream(i).1 as f32 as f64 * 0.75).collect();
        let want = new_cls_weight(&cls, &reg, 1, StdKind::Sample).unwrap_or(0.75);
        assert_eq!(a1[5], want);
        let mut w = Weighting::new(&alwa(2, 5, AlwaRecord::Weighted, StdKind::Sample));
        for i in 0..30 {
            let (c, r) = stream(i);
            assert_eq!(w.observe(i, &Tensor::from(c), &Tensor::from(r)).1, 0.75);
        }
        assert_eq!(standard(&[1.0, 3.0], 2, StdKind::Population), 1.0);
        assert_eq!(standard(&[1.0, 3.0], 1, StdKind::Sample), 2.0 + 2f64.sqrt());
    }

    #[test]
    fn fixed_weights_never_change_and_have_no_state() {
        let spec = WeightsSpec {
            cls: 0.5,
            reg: 2.0,
            adapt: None,
        };
        let mut w = Weighting::new(&spec);
        for i in 0..300 {
            assert_eq!(
                w.observe(i, &Tensor::from(9.0), &Tensor::from(0.1)),
                (0.5, 2.0)
            );
        }
        assert!(w.state().is_empty());
    }

    #[test]
    fn state_round_trips_mid_window() {
        let spec = alwa(2, 4, AlwaRecord::Weighted, StdKind::Sample);
        let (mut a, mut b) = (Weighting::new(&spec), Weighting::new(&spec));
        for i in 0..7 {
            let (c, r) = stream(i);
            a.observe(i, &Tensor::from(c as f32), &Tensor::from(r as f32));
        }
        let saved: HashMap<String, Tensor> = a.state().into_iter().collect();
        assert_eq!(saved["alwa.window"].size(), [2, 2]);
        b.load_state(&saved, tch::Device::Cpu).unwrap();
        for i in 7..20 {
            let (c, r) = stream(i);
            let (tc, tr) = (Tensor::from(c as f32), Tensor::from(r as f32));
            assert_eq!(a.observe(i, &tc, &tr), b.observe(i, &tc, &tr));
        }
    }
}
