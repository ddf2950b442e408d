//! The validator's part for the two-stage detector (`torchvision_faster_rcnn`): its settings'
//! ranges, its RPN losses (`loss.rpn`), and the losses it cannot run.

use super::{input_sizes, task_weights, thresholds, Checks, WEIGHTS_FILE};
use crate::spec::config::*;

/// The ranges of [`TorchvisionFasterRcnnSpec`].
pub(super) fn faster_rcnn(c: &mut Checks, d: &TorchvisionFasterRcnnSpec) {
    input_sizes(c, d.min_size, d.max_size);
    c.check(
        d.fpn_channels >= 8 && d.fpn_channels % 8 == 0,
        "model.detector.fpn_channels",
        d.fpn_channels,
        "a multiple of 8, >= 8",
    );
    c.check(
        d.representation_size >= 1,
        "model.detector.representation_size",
        d.representation_size,
        ">= 1",
    );
    thresholds(
        c,
        d.box_score_thresh,
        d.box_nms_thresh,
        d.box_detections_per_img,
        1,
    );
    let unit = |c: &mut Checks, v: f64, key: &str| {
        c.check((0.0..=1.0).contains(&v), key, v, "in [0, 1]");
    };
    unit(c, d.rpn_nms_thresh, "model.detector.rpn_nms_thresh");
    unit(c, d.rpn_score_thresh, "model.detector.rpn_score_thresh");
    for (key, n) in [
        (
            "model.detector.rpn_pre_nms_top_n_train",
            d.rpn_pre_nms_top_n_train,
        ),
        (
            "model.detector.rpn_pre_nms_top_n_test",
            d.rpn_pre_nms_top_n_test,
        ),
        (
            "model.detector.rpn_post_nms_top_n_train",
            d.rpn_post_nms_top_n_train,
        ),
        (
            "model.detector.rpn_post_nms_top_n_test",
            d.rpn_post_nms_top_n_test,
        ),
        (
            "model.detector.rpn_batch_size_per_image",
            d.rpn_batch_size_per_image,
        ),
        (
            "model.detector.box_batch_size_per_image",
            d.box_batch_size_per_image,
        ),
    ] {
        c.check(n >= 1, key, n, ">= 1");
    }
    for (stage, fg, bg) in [
        ("rpn", d.rpn_fg_iou_thresh, d.rpn_bg_iou_thresh),
        ("box", d.box_fg_iou_thresh, d.box_bg_iou_thresh),
    ] {
        c.check(
            bg > 0.0 && bg <= fg && fg <= 1.0,
            &format!("model.detector.{stage}_bg_iou_thresh"),
            format!("{bg} ({stage}_fg_iou_thresh {fg})"),
            &format!("0 < {stage}_bg_iou_thresh <= {stage}_fg_iou_thresh <= 1"),
        );
    }
    for (key, f) in [
        (
            "model.detector.rpn_positive_fraction",
            d.rpn_positive_fraction,
        ),
        (
            "model.detector.box_positive_fraction",
            d.box_positive_fraction,
        ),
    ] {
        c.check(f > 0.0 && f <= 1.0, key, f, "0 < fraction <= 1");
    }
    if let Some(w) = &d.weights {
        c.exists("model.detector.weights", w, false, WEIGHTS_FILE);
    }
}

/// What the losses of a job can be given its detector: `softmax` and `loss.rpn` belong to the
/// two-stage detector; it runs neither UGS (a distribution head on the box head) nor the
/// harmonic coupling, on either stage.
pub(super) fn losses(c: &mut Checks, cfg: &JobConfig) {
    let two_stage = matches!(cfg.model.detector, DetectorSpec::TorchvisionFasterRcnn(_));
    let l = &cfg.loss;
    if !two_stage {
        c.check(
            l.cls != ClsLossSpec::Softmax,
            "loss.cls.kind",
            "softmax",
            "focal, ce_ohem, auc or ap (softmax is torchvision_faster_rcnn's box head's)",
        );
        c.check(
            l.rpn.is_none(),
            "loss.rpn",
            "a setting",
            "no loss.rpn (only torchvision_faster_rcnn has an RPN)",
        );
        return;
    }
    c.check(
        !matches!(l.reg, RegLossSpec::Ugs(_)),
        "loss.reg.kind",
        "ugs",
        "l1, smooth_l1, l2, iou, giou, diou, ciou or hiou (torchvision_faster_rcnn's box head has no distribution head)",
    );
    c.check(
        l.coupling.is_none(),
        "loss.coupling",
        "harmonic",
        "no coupling with torchvision_faster_rcnn",
    );
    let Some(rpn) = &l.rpn else {
        return;
    };
    match &rpn.reg {
        RegLossSpec::SmoothL1 { beta } => c.check(
            *beta >= 0.0 && beta.is_finite(),
            "loss.rpn.reg.beta",
            beta,
            ">= 0 (0 = L1)",
        ),
        RegLossSpec::Hiou { gamma } => c.check(
            *gamma > 0.0 && *gamma <= 1.0,
            "loss.rpn.reg.gamma",
            gamma,
            "0 < gamma <= 1",
        ),
        RegLossSpec::Ugs(_) => c.check(
            false,
            "loss.rpn.reg.kind",
            "ugs",
            "l1, smooth_l1, l2, iou, giou, diou, ciou or hiou (the RPN has no distribution head)",
        ),
        RegLossSpec::L2 { normalize } => c.check(
            *normalize == L2Normalize::Encoded,
            "loss.rpn.reg.normalize",
            "box_coder",
            "encoded (the RPN's encoded targets already are the box coder's deltas)",
        ),
        RegLossSpec::L1
        | RegLossSpec::Iou { .. }
        | RegLossSpec::Giou
        | RegLossSpec::Diou
        | RegLossSpec::Ciou => {}
    }
    task_weights(c, &rpn.weights, "loss.rpn.weights");
}
