//! torchvision FCOS's anchors on their own, and every paper loss of the registry on its head
//! (the values against torchvision are in `fcos_golden`).

use super::fcos::{Anchors, FcosDetector, FcosParams};
use super::loss_matrix::{check_ugs_terms, every_loss};
use crate::spec::config::{ClsLossSpec, DetectorSpec, JobConfig, TorchvisionFcosSpec};
use crate::trainer::losses::Score;
use crate::trainer::objective::Objective;
use crate::trainer::synth::Object;
use crate::trainer::TrainError;
use tch::{nn, Device, Kind, Tensor};

#[test]
fn strides_are_batch_size_over_map_size_per_axis() {
    let grids = [[16, 20], [8, 10], [4, 5], [2, 3], [1, 2]];
    let a = Anchors::new([128, 160], &grids, &[8.0, 16.0, 32.0, 64.0, 128.0]).unwrap();
    let strides: Vec<[i64; 2]> = a.grids.iter().map(|g| g.stride).collect();
    assert_eq!(strides, [[8, 8], [16, 16], [32, 32], [64, 53], [128, 80]]);
    assert_eq!(a.len(), 320 + 80 + 20 + 6 + 2);
    // The first anchor sits on the image corner; P6's (y 1, x 2) on (106, 64).
    assert_eq!(a.boxes[0], [-4.0, -4.0, 4.0, 4.0]);
    let p6 = a.grids[3];
    assert_eq!(a.boxes[p6.start + 5], [74.0, 32.0, 138.0, 96.0]);
    assert_eq!(a.priors()[p6.start + 5], [106.0, 64.0, 64.0, 64.0]);
}

#[test]
fn three_levels_are_refused() {
    let e = Anchors::new(
        [64, 64],
        &[[8, 8], [4, 4], [2, 2]],
        &[8.0, 16.0, 32.0, 64.0, 128.0],
    );
    assert!(matches!(e, Err(TrainError::Unsupported { .. })), "{e:?}");
}

#[test]
fn spec_fields_become_the_detector_parameters() {
    let spec = DetectorSpec::TorchvisionFcos(TorchvisionFcosSpec::default());
    assert_eq!(FcosParams::of_spec(&spec), Some((FcosParams::default(), 4)));
    assert_eq!(FcosParams::of_spec(&DetectorSpec::default()), None);
}

#[test]
fn every_paper_loss_trains_the_fcos_head() {
    let grids = [[8, 8], [4, 4], [2, 2], [1, 1], [1, 1]];
    let levels: Vec<Tensor> = grids
        .iter()
        // Leaves that need a gradient, as FPN levels do (UGS differentiates L_UM by them).
        .map(|g| {
            Tensor::randn([2, 32, g[0], g[1]], (Kind::Float, Device::Cpu)).requires_grad_(true)
        })
        .collect();
    let objs = [
        Object {
            class: 1,
            bbox: [4.0, 6.0, 30.0, 28.0],
        },
        Object {
            class: 0,
            bbox: [20.0, 10.0, 60.0, 62.0],
        },
    ];
    let images: [&[Object]; 2] = [&objs, &[]];
    for (cls, reg, coupling) in every_loss() {
        let mut cfg = JobConfig::default();
        cfg.loss.cls = cls.clone();
        cfg.loss.reg = reg.clone();
        cfg.loss.coupling = coupling.clone();
        cfg.model.detector = DetectorSpec::TorchvisionFcos(TorchvisionFcosSpec::default());
        let objective = Objective::new(&cfg);
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let params = FcosParams::default();
        let det = FcosDetector::new(&vs.root(), 32, 3, 1, params, objective.grid());
        let terms = det
            .train_terms(&objective, &levels, [64, 64], &images)
            .unwrap();
        let ctr = terms.ctr.as_ref().expect("the head has center-ness");
        let total = &terms.cls_backprop + &terms.reg + ctr;
        for p in vs.trainable_variables() {
            if p.grad().defined() {
                let _ = p.grad().zero_();
            }
        }
        total.backward();
        let what = format!("{cls:?} + {reg:?} + {coupling:?}");
        check_ugs_terms(&terms, &reg, &what);
        for t in [&terms.cls, &terms.reg, ctr] {
            let v = t.double_value(&[]);
            assert!(v.is_finite() && v > 0.0, "{what}: a loss term is {v}");
        }
        let grads: Vec<f64> = vs
            .trainable_variables()
            .iter()
            .map(|p| p.grad().abs().sum(Kind::Double).double_value(&[]))
            .collect();
        assert!(grads.iter().all(|g| g.is_finite()), "{what}: {grads:?}");
        assert!(
            grads.iter().all(|&g| g > 0.0),
            "{what}: a parameter gets no gradient"
        );
        let dets = det
            .detect_levels(&levels, [64, 64], &[[64, 64], [60, 50]], objective.score())
            .unwrap();
        assert_eq!(dets.len(), 2);
        let softmax = matches!(cls, ClsLossSpec::CeOhem { .. });
        assert_eq!(objective.score() == Score::Softmax, softmax);
    }
}
