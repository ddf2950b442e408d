//! torchvision's RetinaNet with the registry's losses: every paper loss (UGS and the harmonic
//! coupling included) trains the whole detector, the harmonic coupling and UGS are normalised
//! per image as torchvision normalises this detector (against a per-image transcription), and
//! UGS's refinement re-runs the head's own regression branch. Its plain losses against
//! torchvision itself: `tests_golden_detectors`.

use super::loss_matrix::{check_ugs_terms, every_loss};
use super::retinanet::{Forward, RetinaNet, RetinaNetConfig, Target};
use crate::spec::config::{
    ClsLossSpec, CouplingSpec, DetectorSpec, HarmonicCls, JobConfig, RegLossSpec,
    TorchvisionRetinanetSpec, UgsSpec,
};
use crate::trainer::losses::harmonic::Harmonic;
use crate::trainer::losses::ugs::Ugs;
use crate::trainer::losses::{self, host_f64};
use crate::trainer::objective::{Normalise, Objective, Terms};
use tch::{nn, Device, Kind, Tensor};

const IMAGES: usize = 3;

fn objective(cls: ClsLossSpec, reg: RegLossSpec, coupling: Option<CouplingSpec>) -> Objective {
    let mut cfg = JobConfig::default();
    cfg.model.detector = DetectorSpec::TorchvisionRetinanet(TorchvisionRetinanetSpec::default());
    cfg.loss.cls = cls;
    cfg.loss.reg = reg;
    cfg.loss.coupling = coupling;
    Objective::new(&cfg)
}

fn focal() -> ClsLossSpec {
    ClsLossSpec::Focal {
        alpha: 0.25,
        gamma: 2.0,
    }
}

/// A small RetinaNet (ResNet-18, 16 FPN channels, all layers trainable) with `objective`'s
/// distribution grid, its forward pass on a fixed batch of three 64-px images (two, one and
/// no objects), the anchors and the targets.
fn run(objective: &Objective) -> (nn::VarStore, RetinaNet, Forward, Vec<Tensor>, Vec<Target>) {
    tch::manual_seed(5);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut cfg = RetinaNetConfig::torchvision(18, 3);
    cfg.fpn_channels = 16;
    cfg.trainable_layers = 5;
    cfg.grid = objective.grid().map(<[f64]>::to_vec);
    let m = RetinaNet::new(&vs.root(), &cfg);
    let images = Tensor::randn([IMAGES as i64, 3, 64, 64], (Kind::Float, Device::Cpu));
    let target = |boxes: &[f32], labels: &[i64]| Target {
        boxes: Tensor::from_slice(boxes).view([-1, 4]),
        labels: Tensor::from_slice(labels),
    };
    let targets = vec![
        target(&[4., 6., 30., 28., 20., 10., 60., 62.], &[1, 0]),
        target(&[10., 10., 40., 50.], &[2]),
        target(&[], &[]),
    ];
    let out = m.forward(&images);
    let anchors = m.anchors(&images, &out.features);
    (vs, m, out, anchors, targets)
}

#[test]
fn every_paper_loss_trains_the_torchvision_retinanet() {
    for (cls, reg, coupling) in every_loss() {
        let what = format!("{cls:?} + {reg:?} + {coupling:?}");
        let objective = objective(cls, reg.clone(), coupling);
        let (vs, m, out, anchors, targets) = run(&objective);
        let terms = m.terms(&objective, &out, &anchors, &targets);
        for t in [&terms.cls, &terms.reg] {
            let v = t.double_value(&[]);
            assert!(v.is_finite() && v > 0.0, "{what}: a loss term is {v}");
        }
        check_ugs_terms(&terms, &reg, &what);
        (&terms.cls_backprop + &terms.reg).backward();
        // Every head parameter learns; the backbone as a whole does (with CE + OHEM at 64 px
        // no anchor of P6 is mined, so not every FPN parameter does).
        let mut backbone = 0.0;
        for (name, p) in vs.variables() {
            if !p.requires_grad() {
                continue;
            }
            let g = p.grad().abs().sum(Kind::Double).double_value(&[]);
            assert!(g.is_finite(), "{what}: {name} gets gradient {g}");
            if name.starts_with("head.") {
                assert!(g > 0.0, "{what}: {name} gets no gradient");
            } else {
                backbone += g;
            }
        }
        assert!(backbone > 0.0, "{what}: the backbone gets no gradient");
    }
}

/// Per positive of the batch: its image, `−log σ(x)` of its class and its L1 on the deltas.
fn per_positive(
    m: &RetinaNet,
    out: &Forward,
    anchors: &[Tensor],
    targets: &[Target],
) -> Vec<(usize, f64, f64)> {
    let t = m.targets(anchors, targets);
    let h = out.head_output();
    let (n, k) = (h.cls.size()[1], h.cls.size()[2]);
    let pos: Vec<i64> = Vec::try_from(&t.pos).unwrap();
    let labels: Vec<i64> = Vec::try_from(&t.labels).unwrap();
    let logits = host_f64(&h.cls.reshape([-1, k]));
    let pred = host_f64(&h.reg.reshape([-1, 4]));
    let enc = host_f64(&t.encoded);
    pos.iter()
        .enumerate()
        .map(|(j, &p)| {
            let x = logits[(p * k + labels[p as usize] - 1) as usize];
            let ce = (1.0 + (-x).exp()).ln();
            let l1: f64 = (0..4)
                .map(|c| (pred[p as usize * 4 + c] - enc[j * 4 + c]).abs())
                .sum();
            ((p / n) as usize, ce, l1)
        })
        .collect()
}

/// `(1/B)·Σ_b (1/max(1, P_b))·Σ_{i ∈ b} f(i)`: torchvision's per-image mean.
fn per_image_mean(pos: &[(usize, f64, f64)], f: impl Fn(f64, f64) -> f64) -> f64 {
    (0..IMAGES)
        .map(|b| {
            let mine: Vec<_> = pos.iter().filter(|p| p.0 == b).collect();
            mine.iter().map(|p| f(p.1, p.2)).sum::<f64>() / mine.len().max(1) as f64
        })
        .sum::<f64>()
        / IMAGES as f64
}

#[test]
fn harmonic_coupling_is_normalised_per_image_like_torchvisions_retinanet() {
    let harmonic = Some(CouplingSpec::Harmonic {
        detach: false,
        cls: HarmonicCls::Focal,
    });
    let coupled = objective(focal(), RegLossSpec::L1, harmonic);
    let plain = objective(focal(), RegLossSpec::L1, None);
    let (_vs, m, out, anchors, targets) = run(&coupled);
    let c = m.terms(&coupled, &out, &anchors, &targets);
    let p = m.terms(&plain, &out, &anchors, &targets);
    let pos = per_positive(&m, &out, &anchors, &targets);
    let counts: Vec<usize> = (0..IMAGES)
        .map(|b| pos.iter().filter(|p| p.0 == b).count())
        .collect();
    assert!(
        counts[0] != counts[1] && counts[0] > 0 && counts[1] > 0 && counts[2] == 0,
        "{counts:?}"
    );
    // Supplementary Eq. 1: + e^(−ℓ)·CE on the classification side, (1 + p)·ℓ on the regression.
    let extra = per_image_mean(&pos, |ce, l| (-l).exp() * ce);
    let reg = per_image_mean(&pos, |ce, l| (1.0 + (-ce).exp()) * l);
    let v = |t: &Tensor| t.double_value(&[]);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1e-3);
    assert!(
        close(v(&c.cls) - v(&p.cls), extra),
        "{} vs {extra}",
        v(&c.cls) - v(&p.cls)
    );
    assert!(close(v(&c.reg), reg), "{} vs {reg}", v(&c.reg));
    // The batch-wide normalisation gives another value: the test tells the two apart.
    let batch = Objective::of_parts(
        losses::build(&focal()),
        losses::build_reg(&RegLossSpec::L1, true),
        Some(Harmonic { detach: false }),
        Normalise::default(),
    );
    let b: Terms = m.terms(&batch, &out, &anchors, &targets);
    assert!(!close(v(&b.reg), reg), "{} vs {reg}", v(&b.reg));
}

#[test]
fn ugs_on_retinanet_reruns_its_regression_branch_and_is_normalised_per_image() {
    let spec = UgsSpec {
        in_labels: true,
        lambda: 0.5,
        gamma: 0.1,
        rho: 0.5,
        ..UgsSpec::default()
    };
    let objective = objective(focal(), RegLossSpec::Ugs(spec.clone()), None);
    let grid = objective.grid().unwrap().to_vec();
    assert_eq!(
        (grid[0], grid[grid.len() - 1]),
        (-spec.alpha, spec.alpha),
        "signed deltas"
    );
    let (_vs, m, out, anchors, targets) = run(&objective);
    let h = out.head_output();
    let logits = h.reg_logits.as_ref().expect("a distribution head");
    let s = logits.size();
    assert_eq!(&s[2..], &[4, grid.len() as i64]);
    let again = m.head.reg_logits(&out.features);
    assert_eq!(f64::try_from((again - logits).abs().max()).unwrap(), 0.0);
    // L_CE reduced as torchvision reduces this detector's regression: per image.
    let t = m.targets(&anchors, &targets);
    let ugs = Ugs::new(&spec, true);
    let at = logits
        .view([-1, 4, grid.len() as i64])
        .index_select(0, &t.pos);
    let ce = host_f64(&ugs.terms(&at, &t.encoded).ce);
    let pos: Vec<(usize, f64, f64)> = per_positive(&m, &out, &anchors, &targets)
        .into_iter()
        .zip(ce)
        .map(|((b, _, _), ce)| (b, ce, 0.0))
        .collect();
    let expected = per_image_mean(&pos, |ce, _| ce);
    let terms = m.terms(&objective, &out, &anchors, &targets);
    let got = terms.ugs.as_ref().unwrap()[0].double_value(&[]);
    assert!(
        (got - expected).abs() <= 1e-5 * expected,
        "{got} vs {expected}"
    );
}
