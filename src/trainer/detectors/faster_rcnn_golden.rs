//! Our whole Faster R-CNN against torchvision 0.26.0's: `tests/golden_faster_rcnn.py` builds
//! torchvision's `FasterRCNN` from a fixed seed (ResNet-18 FPN with 32 channels, a 64-wide box
//! head, 5 classes, small top-n counts and sampler batches), trains one step on two images (the
//! second without objects) recording both samplers' draws, the four losses and two gradients,
//! and records its eval detections. We load the same state dict (strict), replay the same draws,
//! and must give the same losses (1e-4), gradients (1e-3 relative), and detections: the same
//! count per image, boxes within 1e-2 px, scores within 1e-4, the same labels.
//!
//! Another box coder weighting on the box head must break the match, so the tolerances cannot
//! hide a real difference.

use super::faster_rcnn::{FasterRcnn, FasterRcnnConfig, StageLosses};
use super::retinanet::Target;
use super::roi_heads::loss::BoxClassLoss;
use super::rpn::loss::torchvision_box_loss;
use super::sampler::Replay;
use crate::trainer::tests_golden_detectors::{close, close_abs, scalar_close, Golden};
use crate::trainer::torchvision_golden::fixture;
use crate::trainer::transform::Transform;
use crate::trainer::weights;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn golden() -> Golden {
    Golden::load(fixture("golden_faster_rcnn.py").unwrap_or_else(|e| panic!("{e}")))
}

/// Our detector with the fixture's settings (changed by `tweak`) and torchvision's weights.
fn model(g: &Golden, tweak: impl FnOnce(&mut FasterRcnnConfig)) -> (VarStore, FasterRcnn) {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let s = &g.meta["settings"];
    let n = |k: &str| s[k].as_i64().unwrap();
    let f = |k: &str| s[k].as_f64().unwrap();
    let classes = g.meta["classes"].as_i64().unwrap();
    let mut cfg = FasterRcnnConfig::torchvision(18, classes - 1);
    cfg.fpn_channels = g.meta["fpn_channels"].as_i64().unwrap();
    cfg.roi.representation = g.meta["representation"].as_i64().unwrap();
    cfg.rpn.pre_nms_top_n_train = n("rpn_pre_nms_top_n_train");
    cfg.rpn.pre_nms_top_n_test = n("rpn_pre_nms_top_n_test");
    cfg.rpn.post_nms_top_n_train = n("rpn_post_nms_top_n_train");
    cfg.rpn.post_nms_top_n_test = n("rpn_post_nms_top_n_test");
    cfg.rpn.batch_size_per_image = n("rpn_batch_size_per_image");
    cfg.rpn.positive_fraction = f("rpn_positive_fraction");
    cfg.roi.batch_size_per_image = n("box_batch_size_per_image");
    cfg.roi.positive_fraction = f("box_positive_fraction");
    tweak(&mut cfg);
    let m = FasterRcnn::new(&vs.root(), &cfg);
    // Strict: the file's keys are exactly our parameters and buffers.
    weights::load(&vs, &g.dir.join("weights.safetensors")).expect("torchvision's state dict loads");
    (vs, m)
}

/// The draws torchvision's sampler of `stage` ("rpn" or "roi") made, per image.
fn replay(g: &Golden, stage: &str) -> Replay {
    let idx = |k: String| Vec::<i64>::try_from(g.t(&k)).unwrap();
    Replay {
        per_image: (0..2)
            .map(|i| {
                (
                    idx(format!("{stage}_pos{i}")),
                    idx(format!("{stage}_neg{i}")),
                )
            })
            .collect(),
    }
}

fn transform(g: &Golden) -> Transform {
    let size = |k: &str| g.meta[k].as_u64().unwrap() as u32;
    Transform::torchvision(size("min_size"), size("max_size"))
}

/// The training step's losses and gradients against torchvision's.
fn compare_training(g: &Golden, vs: &VarStore, m: &FasterRcnn) -> Result<(), String> {
    let images = [g.t("image0").shallow_clone(), g.t("image1").shallow_clone()];
    let boxes = [
        g.t("boxes0").shallow_clone(),
        Tensor::zeros([0, 4], (Kind::Float, Device::Cpu)),
    ];
    let (list, scaled) = transform(g).batch(&images, Some(&boxes));
    // Our labels are logit columns (torchvision's minus the background).
    let labels = [
        g.t("labels0") - 1,
        Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
    ];
    let targets: Vec<Target> = scaled
        .into_iter()
        .zip(labels)
        .map(|(boxes, labels)| Target { boxes, labels })
        .collect();
    let (mut rpn_draw, mut roi_draw) = (replay(g, "rpn"), replay(g, "roi"));
    let smooth = torchvision_box_loss();
    for (_, mut v) in vs.variables() {
        v.zero_grad();
    }
    let l = m.losses(
        &list.tensors,
        &list.image_sizes,
        &targets,
        StageLosses {
            rpn_reg: &smooth,
            rpn_draw: &mut rpn_draw,
            cls: BoxClassLoss::Softmax,
            reg: &smooth,
            roi_draw: &mut roi_draw,
        },
    );
    let want = |k: &str| g.meta["losses"][k].as_f64().unwrap();
    scalar_close("loss_objectness", &l.rpn_cls, want("loss_objectness"), 1e-4)?;
    scalar_close(
        "loss_rpn_box_reg",
        &l.rpn_reg,
        want("loss_rpn_box_reg"),
        1e-4,
    )?;
    scalar_close("loss_classifier", &l.cls, want("loss_classifier"), 1e-4)?;
    scalar_close("loss_box_reg", &l.reg, want("loss_box_reg"), 1e-4)?;
    (&l.rpn_cls + &l.rpn_reg + &l.cls_backprop + &l.reg).backward();
    let vars = vs.variables();
    let grad = |name: &str| vars[name].grad();
    close(
        "grad roi_heads.box_head.fc6.weight",
        &grad("roi_heads.box_head.fc6.weight"),
        g.t("grad_fc6"),
        1e-3,
    )?;
    close(
        "grad backbone.body.layer4.0.conv1.weight",
        &grad("backbone.body.layer4.0.conv1.weight"),
        g.t("grad_layer4_conv"),
        1e-3,
    )
}

/// Eval detections in the original images' pixels against torchvision's.
fn compare_detections(g: &Golden, m: &FasterRcnn) -> Result<(), String> {
    let _guard = tch::no_grad_guard();
    let images = [g.t("image0").shallow_clone(), g.t("image1").shallow_clone()];
    let (list, _) = transform(g).batch(&images, None);
    let dets = m.detect(&list.tensors, &list.image_sizes, &BoxClassLoss::Softmax);
    for (i, d) in dets.iter().enumerate() {
        let want = g.t(&format!("det_boxes{i}"));
        let n = want.size()[0];
        if d.boxes.size()[0] != n {
            return Err(format!(
                "image {i}: {} detections vs torchvision {n}",
                d.boxes.size()[0]
            ));
        }
        let s = images[i].size();
        let boxes = Transform::postprocess_boxes(&d.boxes, list.image_sizes[i], (s[1], s[2]));
        close_abs(&format!("image {i} boxes"), &boxes, want, 1e-2)?;
        close_abs(
            &format!("image {i} scores"),
            &d.scores,
            g.t(&format!("det_scores{i}")),
            1e-4,
        )?;
        if !(&d.labels + 1).equal(g.t(&format!("det_labels{i}"))) {
            return Err(format!("image {i}: other labels"));
        }
    }
    Ok(())
}

#[test]
fn faster_rcnn_matches_torchvision_losses_gradients_and_detections() {
    let g = golden();
    let (vs, m) = model(&g, |_| {});
    compare_training(&g, &vs, &m).unwrap();
    compare_detections(&g, &m).unwrap();
}

#[test]
fn faster_rcnn_golden_catches_other_box_coder_weights() {
    let g = golden();
    let (vs, m) = model(&g, |c| c.roi.box_coder_weights = [1.0, 1.0, 1.0, 1.0]);
    assert!(compare_training(&g, &vs, &m).is_err());
    assert!(compare_detections(&g, &m).is_err());
}
