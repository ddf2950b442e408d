//! Our SSD300 VGG16 against torchvision 0.26.0's `ssd300_vgg16` (`tests/golden_ssd.py`, run at
//! test time): with torchvision's weights (5 classes, the L2-norm scale and heads randomised),
//! the same transformed batch, default boxes and per-level head outputs (1e-4 relative), the same
//! matches, the two losses (1e-4), gradients of their sum for a head weight, a VGG weight and
//! `scale_weight` (1e-3 relative), and the same eval detections (count and labels, boxes within
//! 1e-2 px, scores within 1e-4), also through `sweep predict --detector ssd` on an 8-bit photo.
//! A wrong default-box scale or a 2:1 negative ratio must break the match; an ImageNet VGG16
//! state dict loads where torchvision puts it.

use super::default_boxes::DefaultBoxGenerator;
use super::retinanet::{Forward, Target};
use super::ssd::{Ssd, SsdConfig};
use super::ssd_loss::SsdCls;
use crate::trainer::losses::{ce_ohem::CeOhem, smooth_l1::SmoothL1};
use crate::trainer::tests_golden_detectors::{
    assert_predictions_match, close, close_abs, scalar_close, Golden,
};
use crate::trainer::torchvision_golden::fixture;
use crate::trainer::transform::Transform;
use crate::trainer::weights;
use std::path::PathBuf;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn golden() -> Golden {
    Golden::load(fixture("golden_ssd.py").unwrap_or_else(|e| panic!("{e}")))
}

fn loss(g: &Golden, which: &str) -> f64 {
    g.meta["losses"][which].as_f64().unwrap()
}

fn model(g: &Golden, boxes: DefaultBoxGenerator) -> (VarStore, Ssd) {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let mut cfg = SsdConfig::torchvision(5);
    cfg.trainable_layers = 5;
    let m = Ssd::with_boxes(&vs.root(), &cfg, boxes);
    weights::load(&vs, &g.dir.join("weights.safetensors")).expect("torchvision's state dict loads");
    (vs, m)
}

struct Run {
    batch: Tensor,
    sizes: Vec<(i64, i64)>,
    targets: Vec<Target>,
    out: Forward,
    anchors: Tensor,
}

fn run(g: &Golden, m: &Ssd) -> Run {
    let images = [g.t("image0").shallow_clone(), g.t("image1").shallow_clone()];
    let boxes = [
        g.t("boxes0").shallow_clone(),
        Tensor::zeros([0, 4], (Kind::Float, Device::Cpu)),
    ];
    let (list, scaled) = Transform::ssd300().batch(&images, Some(&boxes));
    // torchvision's labels are logit columns (1..=5); ours are the classes (0..5).
    let targets = vec![
        Target {
            boxes: scaled[0].shallow_clone(),
            labels: g.t("labels0") - 1,
        },
        Target {
            boxes: scaled[1].shallow_clone(),
            labels: Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
        },
    ];
    let out = m.forward(&list.tensors);
    let anchors = m.anchors(&list.tensors, &out.features);
    Run {
        batch: list.tensors,
        sizes: list.image_sizes,
        targets,
        out,
        anchors,
    }
}

fn compare_forward(g: &Golden, m: &Ssd, r: &Run) -> Result<(), String> {
    close("transformed batch", &r.batch, g.t("batch"), 1e-6)?;
    close_abs(
        "scaled boxes",
        &r.targets[0].boxes,
        g.t("scaled_boxes0"),
        1e-4,
    )?;
    if r.sizes != [(300, 300), (300, 300)] {
        return Err(format!("image sizes {:?}", r.sizes));
    }
    close_abs("default boxes", &r.anchors, g.t("anchors"), 1e-4)?;
    for (l, lv) in r.out.levels.iter().enumerate() {
        close(
            &format!("cls_logits level {l}"),
            &lv.cls_logits,
            g.t(&format!("cls_logits{l}")),
            1e-4,
        )?;
        close(
            &format!("bbox_regression level {l}"),
            &lv.bbox_regression,
            g.t(&format!("bbox_regression{l}")),
            1e-4,
        )?;
    }
    let matched = m.matches(&r.anchors, &r.targets);
    if !matched[0].equal(g.t("matched0")) {
        let differ = matched[0].ne_tensor(g.t("matched0")).sum(Kind::Int64);
        return Err(format!("matched indices: {differ} default boxes differ"));
    }
    if matched[1].ne(-1).any().int64_value(&[]) != 0 {
        return Err("the image without objects has matches".into());
    }
    Ok(())
}

fn compare_losses(g: &Golden, m: &Ssd, r: &Run, ratio: f64) -> Result<(), String> {
    let l = m.losses(
        &r.out,
        &r.anchors,
        &r.targets,
        SsdCls::Torchvision {
            neg_to_pos_ratio: ratio,
        },
        &SmoothL1 { beta: 1.0 },
    );
    scalar_close(
        "classification loss",
        &l.cls,
        loss(g, "classification"),
        1e-4,
    )?;
    scalar_close("regression loss", &l.reg, loss(g, "bbox_regression"), 1e-4)
}

fn compare_detections(g: &Golden, m: &Ssd, r: &Run) -> Result<(), String> {
    let dets = m.postprocess(&r.out, &r.anchors, &r.sizes, None);
    for (i, d) in dets.iter().enumerate() {
        let orig = g.t(&format!("image{i}")).size();
        let boxes = Transform::postprocess_boxes(&d.boxes, r.sizes[i], (orig[1], orig[2]));
        let want = g.t(&format!("det_scores{i}"));
        if d.scores.size() != want.size() {
            return Err(format!(
                "image {i}: {} detections vs torchvision {}",
                d.scores.size()[0],
                want.size()[0]
            ));
        }
        close_abs(&format!("image {i} scores"), &d.scores, want, 1e-4)?;
        close_abs(
            &format!("image {i} boxes"),
            &boxes,
            g.t(&format!("det_boxes{i}")),
            1e-2,
        )?;
        if !(&d.labels + 1).equal(g.t(&format!("det_labels{i}"))) {
            return Err(format!("image {i}: labels differ"));
        }
    }
    Ok(())
}

#[test]
fn ssd300_matches_torchvision_outputs_losses_gradients_and_detections() {
    let g = golden();
    let (vs, m) = model(&g, DefaultBoxGenerator::ssd300());
    let r = run(&g, &m);
    compare_forward(&g, &m, &r).unwrap();
    compare_losses(&g, &m, &r, 3.0).unwrap();
    // The registry's ce_ohem at 3:1 on the logits relative to the background column is
    // torchvision's loss too (no image here has more than a quarter of its boxes foreground).
    let registry = CeOhem { neg_pos_ratio: 3.0 };
    let l = m.losses(
        &r.out,
        &r.anchors,
        &r.targets,
        SsdCls::Registry(&registry),
        &SmoothL1 { beta: 1.0 },
    );
    scalar_close("registry ce_ohem", &l.cls, loss(&g, "classification"), 1e-4).unwrap();
    let fg = m.matches(&r.anchors, &r.targets)[0]
        .ge(0)
        .sum(Kind::Int64)
        .int64_value(&[]);
    assert_eq!(fg, g.meta["foreground"].as_i64().unwrap());

    let l = m.losses(
        &r.out,
        &r.anchors,
        &r.targets,
        SsdCls::Torchvision {
            neg_to_pos_ratio: 3.0,
        },
        &SmoothL1 { beta: 1.0 },
    );
    (l.cls_backprop + l.reg).backward();
    let vars = vs.variables();
    for (name, key) in [
        (
            "head.classification_head.module_list.0.weight",
            "grad_head_cls0",
        ),
        ("backbone.features.19.weight", "grad_conv4_2"),
        ("backbone.scale_weight", "grad_scale_weight"),
    ] {
        close(name, &vars[name].grad(), g.t(key), 1e-3).unwrap();
    }

    let _guard = tch::no_grad_guard();
    let r = run(&g, &m);
    compare_detections(&g, &m, &r).unwrap();
}

#[test]
fn the_comparison_detects_a_wrong_default_box_scale_and_a_wrong_negative_ratio() {
    let g = golden();
    let _guard = tch::no_grad_guard();
    let mut boxes = DefaultBoxGenerator::ssd300();
    boxes.scales[2] = 0.35;
    let (_vs, m) = model(&g, boxes);
    let r = run(&g, &m);
    let e = compare_forward(&g, &m, &r).unwrap_err();
    assert!(e.contains("default boxes"), "{e}");

    let (_vs, m) = model(&g, DefaultBoxGenerator::ssd300());
    let r = run(&g, &m);
    compare_forward(&g, &m, &r).unwrap();
    compare_losses(&g, &m, &r, 3.0).unwrap();
    let e = compare_losses(&g, &m, &r, 2.0).unwrap_err();
    assert!(e.contains("classification loss"), "{e}");
}

#[test]
fn an_imagenet_vgg16_loads_where_torchvisions_ssd_puts_it() {
    let g = golden();
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let _m = Ssd::new(&vs.root(), &SsdConfig::torchvision(5));
    let before = vs.variables();
    let fc6 = before["backbone.extra.0.7.1.weight"].copy();
    let file = g.dir.join("vgg16_features.safetensors");
    weights::load_expecting(&vs, &file, weights::WeightsKind::Backbone).expect("VGG16 loads");
    let tensors = weights::read(&file).unwrap();
    let vars = vs.variables();
    let mapping = g.meta["vgg16_to_ssd"].as_object().unwrap();
    assert_eq!(mapping.len(), 26, "13 convs");
    for (ours, theirs) in mapping {
        assert!(
            vars[ours].equal(&tensors[theirs.as_str().unwrap()]),
            "{ours} is not {theirs}"
        );
    }
    assert!(vars["backbone.extra.0.7.1.weight"].equal(&fc6), "fc6 kept");
    // trainable_backbone_layers 4 (torchvision's default with weights) freezes conv1_*.
    let frozen: Vec<String> = {
        let mut v: Vec<String> = vars
            .iter()
            .filter(|(k, t)| k.starts_with("backbone.") && !t.requires_grad())
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    };
    let want: Vec<String> = g.meta["frozen_with_trainable_layers_4"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(frozen, want);
}

#[test]
fn predict_writes_torchvisions_ssd_detections_as_coco_results() {
    use crate::trainer::predict::{predict, DetectorKind, Labels, PredictOptions};
    let g = golden();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/tmp")
        .join(format!("predict-ssd-{}", std::process::id()));
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(g.dir.join("photo.png"), images.join("photo.png")).unwrap();
    let out = dir.join("dt.json");
    let written = predict(&PredictOptions {
        detector: DetectorKind::Ssd,
        weights: g.dir.join("weights.safetensors"),
        depth: 0,
        num_classes: 6,
        fpn_channels: 0,
        min_size: 0,
        max_size: 0,
        images,
        coco: None,
        labels: Labels::Direct,
        out: out.clone(),
        device: Device::Cpu,
    })
    .unwrap();
    assert_predictions_match(&g, &out, written);
    let _ = std::fs::remove_dir_all(&dir);
}
