//! The harmonic coupling as the objective composes it, against a plain transcription of the
//! paper's loss: per positive `(1 + β_r)·CE + (1 + β_c)·ℓ` (supplementary Eq. 1) with the
//! softmax CE of `ce_ohem` (mined negatives keep plain CE), value and gradient (finite
//! differences), and the logged fraction of negative regression multipliers (Eq. 5).

use super::{Objective, HARMONIC_NEG_COLUMN};
use crate::spec::config::*;
use crate::trainer::losses::testutil::*;
use crate::trainer::model::HeadOutput;
use crate::trainer::priors::Targets;
use crate::trainer::synth::Rng;
use tch::{Kind, Tensor};

const IMAGES: usize = 2;
const PRIORS: usize = 6;
const CLASSES: usize = 3;
/// Per image: 0 background, k class k − 1, −1 ignored.
const LABELS: [i64; IMAGES * PRIORS] = [0, 2, 0, -1, 0, 0, 1, 0, 3, 0, 0, 0];
const POS: [usize; 3] = [1, 6, 8];

/// `(1/P)·[Σ_pos (1 + e^(−ℓ_i))·CE_i + Σ_mined CE_j + Σ_pos (1 + p_i)·ℓ_i]`, softmax over a zero
/// background logit and the class logits, SSD mining (3 per positive, per image).
fn transcription(logits: &[f64], pred: &[f64], target: &[f64]) -> f64 {
    let ce = |i: usize, label: usize| {
        let row = &logits[i * CLASSES..(i + 1) * CLASSES];
        let z: Vec<f64> = std::iter::once(0.0).chain(row.iter().copied()).collect();
        let m = z.iter().cloned().fold(f64::MIN, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        lse - z[label]
    };
    let mut total = 0.0;
    for img in 0..IMAGES {
        let rows: Vec<usize> = (img * PRIORS..(img + 1) * PRIORS).collect();
        let pos = rows.iter().filter(|&&i| LABELS[i] > 0).count();
        let mut neg: Vec<f64> = rows
            .iter()
            .filter(|&&i| LABELS[i] == 0)
            .map(|&i| ce(i, 0))
            .collect();
        neg.sort_by(|a, b| b.total_cmp(a));
        total += neg.iter().take(3 * pos).sum::<f64>();
    }
    for (k, &i) in POS.iter().enumerate() {
        let c = ce(i, LABELS[i] as usize);
        let l: f64 = (0..4)
            .map(|j| (pred[i * 4 + j] - target[k * 4 + j]).powi(2))
            .sum();
        total += (1.0 + (-l).exp()) * c + (1.0 + (-c).exp()) * l;
    }
    total / POS.len() as f64
}

fn targets(target: &[f64]) -> Targets {
    let p = POS.len() as i64;
    Targets {
        labels: Tensor::from_slice(&LABELS),
        pos: Tensor::from_slice(&POS.map(|i| i as i64)),
        priors: Tensor::zeros([p, 4], (Kind::Double, tch::Device::Cpu)),
        boxes: Tensor::zeros([p, 4], (Kind::Double, tch::Device::Cpu)),
        encoded: constant(target, &[p, 4]),
        weight: Tensor::ones([p], (Kind::Double, tch::Device::Cpu)),
        centerness: None,
        num_pos: POS.len(),
        weight_sum: POS.len() as f64,
    }
}

fn paper_objective() -> Objective {
    let mut cfg = JobConfig::default();
    cfg.loss.cls = ClsLossSpec::CeOhem { neg_pos_ratio: 3.0 };
    cfg.loss.reg = RegLossSpec::l2();
    cfg.loss.coupling = Some(CouplingSpec::Harmonic {
        detach: false,
        cls: HarmonicCls::Paper,
    });
    Objective::new(&cfg)
}

#[test]
fn paper_composition_matches_the_transcription_in_value_and_gradient() {
    let mut rng = Rng::new(11);
    let logits = uniform(&mut rng, IMAGES * PRIORS * CLASSES, -3.0, 3.0);
    let pred = uniform(&mut rng, IMAGES * PRIORS * 4, 0.0, 1.5);
    let target = uniform(&mut rng, POS.len() * 4, 0.0, 1.5);
    let (lt, pt) = (
        leaf(&logits, &[IMAGES as i64, PRIORS as i64, CLASSES as i64]),
        leaf(&pred, &[IMAGES as i64, PRIORS as i64, 4]),
    );
    let out = HeadOutput {
        cls: lt.shallow_clone(),
        reg: pt.shallow_clone(),
        ctr: None,
        reg_logits: None,
    };
    let objective = paper_objective();

    let t = targets(&target);
    let terms = objective.terms_of(&out, &|p, _| p.shallow_clone(), &t, None);
    let total = &terms.cls_backprop + &terms.reg;
    assert_close(
        &[scalar(&total)],
        &[transcription(&logits, &pred, &target)],
        1e-12,
        "value",
    );
    // The logged value is the back-propagated one (no ranking surrogate here).
    assert_close(
        &[scalar(&terms.cls)],
        &[scalar(&terms.cls_backprop)],
        1e-12,
        "logged cls",
    );
    total.backward();
    let fd_logits = finite_diff(|x| transcription(x, &pred, &target), &logits, 1e-6);
    assert_close(&to_vec(&lt.grad()), &fd_logits, 1e-6, "∂/∂logits");
    let fd_pred = finite_diff(|x| transcription(&logits, x, &target), &pred, 1e-6);
    assert_close(&to_vec(&pt.grad()), &fd_pred, 1e-6, "∂/∂pred");
    assert_eq!(
        objective.extra_names(),
        [HARMONIC_NEG_COLUMN],
        "the coupling logs its multiplier column"
    );
}

/// The logged fraction counts the positives whose `1 + p + e^(−ℓ)·ln p` is negative, with `p`
/// the softmax probability of the positive's class and `ℓ` its L2 loss.
#[test]
fn logged_fraction_of_negative_multipliers_matches_eq_5() {
    let mut logits = vec![-4.0f64; IMAGES * PRIORS * CLASSES];
    let pred = vec![0.5f64; IMAGES * PRIORS * 4];
    // positive 1: confident (p ≈ 0.98): positive multiplier; positives 6, 8: p ≈ 0.02, ℓ small
    // for 6 (negative multiplier) and large for 8 (positive).
    logits[CLASSES + 1] = 6.0;
    let target = [
        0.5, 0.5, 0.5, 0.5, // ℓ = 0
        0.6, 0.5, 0.5, 0.5, // ℓ = 0.01
        3.5, 3.5, 3.5, 3.5, // ℓ = 36
    ];
    let out = HeadOutput {
        cls: constant(&logits, &[IMAGES as i64, PRIORS as i64, CLASSES as i64]),
        reg: constant(&pred, &[IMAGES as i64, PRIORS as i64, 4]),
        ctr: None,
        reg_logits: None,
    };
    let t = targets(&target);
    let terms = paper_objective().terms_of(&out, &|p, _| p.shallow_clone(), &t, None);
    let mut negative = 0;
    for (k, &i) in POS.iter().enumerate() {
        let row = &logits[i * CLASSES..(i + 1) * CLASSES];
        let denom = 1.0 + row.iter().map(|v| v.exp()).sum::<f64>();
        let p = row[LABELS[i] as usize - 1].exp() / denom;
        let l: f64 = (0..4)
            .map(|j| (pred[i * 4 + j] - target[k * 4 + j]).powi(2))
            .sum();
        negative += (1.0 + p + (-l).exp() * p.ln() < 0.0) as usize;
    }
    assert_eq!(
        negative, 1,
        "the hand-made case has one negative multiplier"
    );
    let logged = scalar(terms.harmonic_neg.as_ref().unwrap());
    assert_close(&[logged], &[1.0 / 3.0], 1e-12, "fraction");
    assert_eq!(terms.logged_extras().len(), 1);
}
