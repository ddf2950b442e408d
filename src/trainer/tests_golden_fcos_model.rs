//! Our whole torchvision-layout FCOS against torchvision 0.26.0's: `tests/golden_fcos_model.py`
//! builds torchvision's `FCOS` on a ResNet-18-FPN (64 channels, 5 classes, 128/160 px,
//! randomised frozen BN) from a fixed seed and writes its weights, a batch with targets (the
//! second image without objects), its head outputs, its three training losses and its eval-mode
//! detections; we load the same weights strictly and must give the same transformed batch, head
//! outputs (1e-4 relative), losses (focal, GIoU, center-ness BCE; 1e-4) and detections (count,
//! labels, boxes within 1e-2 px, scores within 1e-4). One perturbed weight must fail it.

use super::detectors::fcos_model::{FcosModel, FcosModelConfig};
use super::objective::Objective;
use super::synth::Object;
use super::tests_golden_detectors::{
    assert_predictions_match, close, close_abs, generate, scalar_close, Golden,
};
use super::transform::Transform;
use super::weights;
use crate::spec::config::JobConfig;
use crate::trainer::losses::Score;
use std::path::PathBuf;
use std::sync::OnceLock;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn golden() -> Golden {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    Golden::load(DIR.get_or_init(|| generate("golden_fcos_model")).clone())
}

fn model(g: &Golden) -> (VarStore, FcosModel) {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let mut cfg = FcosModelConfig::torchvision(18, 5);
    cfg.fpn_channels = 64;
    let m = FcosModel::new(&vs.root(), &cfg);
    weights::load(&vs, &g.dir.join("weights.safetensors")).expect("torchvision's state dict loads");
    (vs, m)
}

/// Every comparison of the fixture; the first failures, joined.
fn compare(g: &Golden, m: &FcosModel) -> Result<(), String> {
    let t = Transform::torchvision(128, 160);
    let images = [g.t("image0").shallow_clone(), g.t("image1").shallow_clone()];
    let boxes = [
        g.t("boxes0").shallow_clone(),
        Tensor::zeros([0, 4], (Kind::Float, Device::Cpu)),
    ];
    let (list, scaled) = t.batch(&images, Some(&boxes));
    close_abs("batch", &list.tensors, g.t("batch"), 1e-5)?;

    let out = tch::no_grad(|| m.head_outputs(&list.tensors));
    close("cls_logits", &out.cls, g.t("cls_logits"), 1e-4)?;
    close("bbox_regression", &out.reg, g.t("bbox_regression"), 1e-4)?;
    close(
        "bbox_ctrness",
        out.ctr.as_ref().unwrap(),
        g.t("bbox_ctrness"),
        1e-4,
    )?;

    let b = Vec::<f32>::try_from(scaled[0].flatten(0, -1)).unwrap();
    let labels = Vec::<i64>::try_from(g.t("labels0")).unwrap();
    let objects: Vec<Object> = labels
        .iter()
        .enumerate()
        .map(|(i, &c)| Object {
            class: c as usize,
            bbox: [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]],
        })
        .collect();
    let objective = Objective::new(&JobConfig::default());
    let terms = m
        .train_terms(&objective, &list.tensors, &[&objects, &[]])
        .map_err(|e| e.to_string())?;
    let l = &g.meta["losses"];
    let want = |k: &str| l[k].as_f64().unwrap();
    scalar_close("classification", &terms.cls, want("classification"), 1e-4)?;
    scalar_close("bbox_regression", &terms.reg, want("bbox_regression"), 1e-4)?;
    scalar_close(
        "bbox_ctrness",
        terms.ctr.as_ref().unwrap(),
        want("bbox_ctrness"),
        1e-4,
    )?;

    let sizes: Vec<[i64; 2]> = list.image_sizes.iter().map(|&(h, w)| [h, w]).collect();
    let dets = m
        .detect(&list.tensors, &sizes, Score::Sigmoid)
        .map_err(|e| e.to_string())?;
    for (i, d) in dets.iter().enumerate() {
        let n = g.meta["detections"][i].as_i64().unwrap() as usize;
        if d.len() != n {
            return Err(format!(
                "image {i}: {} detections vs torchvision {n}",
                d.len()
            ));
        }
        let flat: Vec<f32> = d.iter().flat_map(|x| x.bbox).collect();
        let bx = Transform::postprocess_boxes(
            &Tensor::from_slice(&flat).view([-1, 4]),
            list.image_sizes[i],
            images[i].size3().map(|(_, h, w)| (h, w)).unwrap(),
        );
        let scores = Tensor::from_slice(&d.iter().map(|x| x.score).collect::<Vec<_>>());
        let labs = Tensor::from_slice(&d.iter().map(|x| x.class as i64).collect::<Vec<_>>());
        close_abs(
            &format!("det_boxes{i}"),
            &bx,
            g.t(&format!("det_boxes{i}")),
            1e-2,
        )?;
        close_abs(
            &format!("det_scores{i}"),
            &scores,
            g.t(&format!("det_scores{i}")),
            1e-4,
        )?;
        close_abs(
            &format!("det_labels{i}"),
            &labs,
            g.t(&format!("det_labels{i}")),
            0.0,
        )?;
    }
    Ok(())
}

#[test]
fn fcos_model_matches_torchvision_outputs_losses_and_detections() {
    let g = golden();
    let (_vs, m) = model(&g);
    if let Err(e) = compare(&g, &m) {
        panic!("{e}");
    }
    assert!(g.meta["detections"][1].as_i64().unwrap() > 0, "{}", g.meta);
}

#[test]
fn fcos_model_comparison_fails_on_one_perturbed_weight() {
    let g = golden();
    let (vs, m) = model(&g);
    let w = vs
        .variables()
        .remove("backbone.fpn.extra_blocks.p6.weight")
        .expect("torchvision's name");
    tch::no_grad(|| {
        let _ = w.get(0).get(0).get(1).get(1).g_add_scalar_(0.05);
    });
    let e = compare(&g, &m).expect_err("a perturbed P6 weight must change the outputs");
    assert!(e.contains("cls_logits") || e.contains("bbox_"), "{e}");
}

#[test]
fn predict_fcos_writes_torchvisions_detections_as_coco_results() {
    use crate::trainer::predict::{predict, DetectorKind, Labels, PredictOptions};
    let g = golden();
    let dir = g.dir.join(format!("predict-{}", std::process::id()));
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(g.dir.join("photo.png"), images.join("photo.png")).unwrap();
    let out = dir.join("dt.json");
    let written = predict(&PredictOptions {
        detector: DetectorKind::Fcos,
        weights: g.dir.join("weights.safetensors"),
        depth: 18,
        num_classes: 5,
        fpn_channels: 64,
        min_size: 128,
        max_size: 160,
        images,
        coco: None,
        labels: Labels::Direct,
        out: out.clone(),
        device: Device::Cpu,
    })
    .unwrap();
    assert_predictions_match(&g, &out, written);
}
