//! Our Faster R-CNN backbone (ResNet-18, FPN on C2–C5 with the max-pooled level) and RPN against
//! torchvision 0.26.0 itself: `tests/golden_rpn.py` builds torchvision's `FasterRCNN` from a
//! fixed seed (small sizes and top-n counts, randomised frozen BN and RPN head), runs its RPN on
//! a two-image batch (the second without objects) and records the head's outputs, the anchors,
//! the proposals in training and at test time, the anchors its sampler drew, the two losses and
//! gradients of their sum. We load the same weights, replay the same draws, and must give the
//! same FPN levels and head outputs (1e-4 relative), anchors, proposals (same count and order,
//! boxes within 1e-2 px, scores within 1e-4), losses (1e-4) and gradients (1e-3 relative).
//!
//! A wrong NMS threshold, one positive anchor moved by a pixel, or one other negative drawn
//! must each make the comparison fail, so the tolerances cannot hide a real difference.

use super::loss::{torchvision_box_loss, RpnLosses};
use super::{Rpn, RpnConfig, RpnOutput};
use crate::trainer::backbones::{resnet_fpn_maxpool, ResNet};
use crate::trainer::box_ops::box_iou;
use crate::trainer::detectors::sampler::Replay;
use crate::trainer::necks::Fpn;
use crate::trainer::tests_golden_detectors::{close, close_abs, scalar_close, Golden};
use crate::trainer::torchvision_golden::fixture;
use crate::trainer::transform::Transform;
use crate::trainer::weights;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn golden() -> Golden {
    Golden::load(fixture("golden_rpn.py").unwrap_or_else(|e| panic!("{e}")))
}

struct Model {
    vs: VarStore,
    body: ResNet,
    fpn: Fpn,
    rpn: Rpn,
}

/// Our model with the fixture's settings (changed by `tweak`) and torchvision's weights.
fn model(g: &Golden, tweak: impl FnOnce(&mut RpnConfig)) -> Model {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let root = vs.root();
    let (body, fpn) = resnet_fpn_maxpool(&root, 18, 3, 64);
    let s = &g.meta["rpn"];
    let n = |k: &str| s[k].as_i64().unwrap();
    let mut cfg = RpnConfig {
        pre_nms_top_n_train: n("rpn_pre_nms_top_n_train"),
        pre_nms_top_n_test: n("rpn_pre_nms_top_n_test"),
        post_nms_top_n_train: n("rpn_post_nms_top_n_train"),
        post_nms_top_n_test: n("rpn_post_nms_top_n_test"),
        batch_size_per_image: n("rpn_batch_size_per_image"),
        positive_fraction: s["rpn_positive_fraction"].as_f64().unwrap(),
        ..RpnConfig::torchvision()
    };
    tweak(&mut cfg);
    let rpn = Rpn::new(&(&root / "rpn"), 64, &cfg);
    // Strict: the file's backbone.* and rpn.* keys are exactly our parameters.
    weights::load(&vs, &g.dir.join("weights.safetensors")).expect("torchvision's state dict loads");
    Model { vs, body, fpn, rpn }
}

struct Run {
    batch: Tensor,
    sizes: Vec<(i64, i64)>,
    gt: Vec<Tensor>,
    features: Vec<Tensor>,
    out: RpnOutput,
}

fn run(g: &Golden, m: &Model, training: bool) -> Run {
    let t = Transform::torchvision(128, 160);
    let images = [g.t("image0").shallow_clone(), g.t("image1").shallow_clone()];
    let boxes = [
        g.t("boxes0").shallow_clone(),
        Tensor::zeros([0, 4], (Kind::Float, Device::Cpu)),
    ];
    let (list, gt) = t.batch(&images, Some(&boxes));
    let features = m.fpn.forward(&m.body.forward(&list.tensors));
    let s = list.tensors.size();
    let out = m
        .rpn
        .forward(&features, (s[2], s[3]), &list.image_sizes, training);
    Run {
        batch: list.tensors,
        sizes: list.image_sizes,
        gt,
        features,
        out,
    }
}

fn compare_forward(g: &Golden, r: &Run) -> Result<(), String> {
    close_abs("transformed batch", &r.batch, g.t("batch"), 1e-5)?;
    close_abs("scaled boxes", &r.gt[0], g.t("scaled_boxes0"), 1e-4)?;
    let sizes: Vec<(i64, i64)> = g.meta["image_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_i64().unwrap(), s[1].as_i64().unwrap()))
        .collect();
    if sizes != r.sizes {
        return Err(format!(
            "image sizes {:?} vs torchvision {sizes:?}",
            r.sizes
        ));
    }
    if r.features.len() != 5 {
        return Err(format!("{} FPN levels vs torchvision 5", r.features.len()));
    }
    for (l, lv) in r.out.levels.iter().enumerate() {
        close(
            &format!("FPN level {l}"),
            &r.features[l],
            g.t(&format!("feature{l}")),
            1e-4,
        )?;
        close(
            &format!("objectness level {l}"),
            &lv.objectness,
            g.t(&format!("objectness{l}")),
            1e-4,
        )?;
        close(
            &format!("deltas level {l}"),
            &lv.deltas,
            g.t(&format!("deltas{l}")),
            1e-4,
        )?;
    }
    close_abs("anchors", &r.out.anchors, g.t("anchors"), 1e-4)
}

/// `which` "train", "eval" or "default" (torchvision's test counts): each image's proposals,
/// in order.
fn compare_proposals(g: &Golden, out: &RpnOutput, which: &str) -> Result<(), String> {
    for (i, p) in out.proposals.iter().enumerate() {
        let want = g.t(&format!("{which}_proposals{i}"));
        let n = want.size()[0];
        if p.boxes.size()[0] != n {
            return Err(format!(
                "{which} image {i}: {} proposals vs torchvision {n}",
                p.boxes.size()[0]
            ));
        }
        close_abs(
            &format!("{which} image {i} proposals"),
            &p.boxes,
            want,
            1e-2,
        )?;
        if p.scores.size() != [n] {
            return Err(format!("{which} image {i}: scores {:?}", p.scores.size()));
        }
    }
    Ok(())
}

/// The anchors torchvision's sampler drew, per image.
fn replay(g: &Golden) -> Replay {
    let idx = |k: String| Vec::<i64>::try_from(g.t(&k)).unwrap();
    Replay {
        per_image: (0..2)
            .map(|i| {
                (
                    idx(format!("sampled_pos{i}")),
                    idx(format!("sampled_neg{i}")),
                )
            })
            .collect(),
    }
}

fn compare_losses(g: &Golden, l: &RpnLosses) -> Result<(), String> {
    let want = |k: &str| g.meta["losses"][k].as_f64().unwrap();
    scalar_close(
        "loss_objectness",
        &l.objectness,
        want("loss_objectness"),
        1e-4,
    )?;
    scalar_close(
        "loss_rpn_box_reg",
        &l.box_reg,
        want("loss_rpn_box_reg"),
        1e-4,
    )
}

#[test]
fn rpn_matches_torchvision_head_anchors_proposals_losses_and_gradients() {
    let g = golden();
    let m = model(&g, |_| {});
    let r = run(&g, &m, true);
    compare_forward(&g, &r).unwrap();
    compare_proposals(&g, &r.out, "train").unwrap();
    let l = m
        .rpn
        .losses(&r.out, &r.gt, &mut replay(&g), &torchvision_box_loss());
    compare_losses(&g, &l).unwrap();
    for (i, s) in l.sampled.iter().enumerate() {
        assert!(s.positives.equal(g.t(&format!("sampled_pos{i}"))));
        assert!(s.negatives.equal(g.t(&format!("sampled_neg{i}"))));
    }
    assert!(l.sampled[0].positives.numel() > 0 && l.sampled[1].positives.numel() == 0);
    (&l.objectness + &l.box_reg).backward();
    let vars = m.vs.variables();
    for (name, key) in [
        ("rpn.head.conv.0.0.weight", "grad_rpn_conv"),
        ("backbone.body.layer4.0.conv1.weight", "grad_layer4_conv"),
        ("backbone.fpn.inner_blocks.0.0.weight", "grad_fpn_inner0"),
    ] {
        close(
            &format!("grad of {name}"),
            &vars[name].grad(),
            g.t(key),
            1e-3,
        )
        .unwrap();
    }
    // No gradient through the proposals: they are decoded from detached deltas.
    assert!(!r.out.proposals[0].boxes.requires_grad());
    // Frozen as torchvision's trainable_layers=3 freezes them.
    assert!(!vars["backbone.body.layer1.0.conv1.weight"].requires_grad());
    assert!(vars["backbone.body.layer2.0.conv1.weight"].requires_grad());

    let _guard = tch::no_grad_guard();
    let e = run(&g, &m, false);
    compare_proposals(&g, &e.out, "eval").unwrap();
}

#[test]
fn rpn_matches_torchvision_at_its_default_test_counts() {
    // 1000 per level before NMS: over 1000 boxes per image, NMS level by level.
    let g = golden();
    let d = RpnConfig::torchvision();
    let m = model(&g, |c| {
        c.pre_nms_top_n_test = d.pre_nms_top_n_test;
        c.post_nms_top_n_test = d.post_nms_top_n_test;
    });
    let _guard = tch::no_grad_guard();
    let r = run(&g, &m, false);
    assert_eq!(r.out.proposals[0].boxes.size()[0], 1000);
    compare_proposals(&g, &r.out, "default").unwrap();
}

#[test]
fn the_rpn_comparison_detects_a_wrong_nms_a_shifted_anchor_and_another_sample() {
    let g = golden();
    // NMS at 0.5 instead of torchvision's 0.7.
    {
        let _guard = tch::no_grad_guard();
        let m = model(&g, |c| c.nms_thresh = 0.5);
        let r = run(&g, &m, true);
        assert!(compare_forward(&g, &r).is_ok());
        let err = compare_proposals(&g, &r.out, "train").unwrap_err();
        assert!(err.contains("proposals"), "{err}");
    }
    let m = model(&g, |_| {});
    let mut r = run(&g, &m, true);
    compare_proposals(&g, &r.out, "train").unwrap();
    // The sampled positive of best IoU moved right by one pixel: another regression target
    // (it stays positive, so the replayed draws still fit).
    let pos = g.t("sampled_pos0");
    let iou = box_iou(&r.gt[0], &r.out.anchors.index_select(0, pos)).amax([0], false);
    let first = pos.int64_value(&[iou.argmax(0, false).int64_value(&[])]);
    let saved = r.out.anchors.copy();
    let _ = r
        .out
        .anchors
        .get(first)
        .g_add_(&Tensor::from_slice(&[1f32, 0., 1., 0.]));
    let l = m
        .rpn
        .losses(&r.out, &r.gt, &mut replay(&g), &torchvision_box_loss());
    let err = compare_losses(&g, &l).unwrap_err();
    assert!(err.contains("loss_rpn_box_reg"), "{err}");
    r.out.anchors = saved;
    // One other negative of image 1 in place of a drawn one.
    let mut other = replay(&g);
    let negs = &mut other.per_image[1].1;
    let spare = (0..).find(|i| !negs.contains(i)).unwrap();
    negs[0] = spare;
    let l = m
        .rpn
        .losses(&r.out, &r.gt, &mut other, &torchvision_box_loss());
    let err = compare_losses(&g, &l).unwrap_err();
    assert!(err.contains("loss_objectness"), "{err}");
    // And the unchanged replay still matches.
    let l = m
        .rpn
        .losses(&r.out, &r.gt, &mut replay(&g), &torchvision_box_loss());
    compare_losses(&g, &l).unwrap();
}
