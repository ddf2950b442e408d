//! A `torchvision_faster_rcnn` job's detector and per-stage losses, for
//! [`super::tv_session::TvSession`]: the box head's classification and regression
//! (`loss.cls`, `loss.reg`, weighted by the session's `loss.weights`) and the RPN's objectness
//! and regression (`loss.rpn`, weighted by its own [`Weighting`], checkpointed under
//! `alwa.rpn.*`), so ALWA can drive either stage's two weights. Both samplers draw from
//! [`Seeded`] streams keyed by the job's seed, the iteration and the stage, so a resumed run
//! draws what the uninterrupted one drew.

use super::alwa::Weighting;
use super::detectors::faster_rcnn::{FasterRcnn, FasterRcnnConfig, StageLosses};
use super::detectors::retinanet::{Detections, Target};
use super::detectors::roi_heads::loss::BoxClassLoss;
use super::detectors::rpn::RpnConfig;
use super::detectors::sampler::Seeded;
use super::losses::{self, ClsLoss, Reg, RegLoss};
use crate::spec::config::{BackboneSpec, ClsLossSpec, DetectorSpec, JobConfig, RegLossSpec};
use tch::{nn, Tensor};

/// Names of the values a step returns: the weighted total, then each unweighted loss, then the
/// RPN's weights in force (the box head's are curves.csv's `w_cls`, `w_reg`).
pub const LOSS_NAMES: [&str; 7] = [
    "total",
    "cls",
    "reg",
    "rpn_cls",
    "rpn_reg",
    "w_rpn_cls",
    "w_rpn_reg",
];

/// The detector config of a `torchvision_faster_rcnn` job with `num_classes` object classes.
pub fn config(cfg: &JobConfig, num_classes: i64) -> FasterRcnnConfig {
    let DetectorSpec::TorchvisionFasterRcnn(d) = &cfg.model.detector else {
        panic!("a torchvision_faster_rcnn job")
    };
    let BackboneSpec::Resnet(r) = &cfg.model.backbone else {
        panic!("a resnet backbone (the spec validates it)")
    };
    let mut c = FasterRcnnConfig::torchvision(r.depth, num_classes);
    c.trainable_layers = r.trainable_layers;
    c.fpn_channels = d.fpn_channels;
    c.rpn = RpnConfig {
        pre_nms_top_n_train: d.rpn_pre_nms_top_n_train as i64,
        pre_nms_top_n_test: d.rpn_pre_nms_top_n_test as i64,
        post_nms_top_n_train: d.rpn_post_nms_top_n_train as i64,
        post_nms_top_n_test: d.rpn_post_nms_top_n_test as i64,
        nms_thresh: d.rpn_nms_thresh,
        fg_iou: d.rpn_fg_iou_thresh,
        bg_iou: d.rpn_bg_iou_thresh,
        batch_size_per_image: d.rpn_batch_size_per_image as i64,
        positive_fraction: d.rpn_positive_fraction,
        score_thresh: d.rpn_score_thresh,
        ..RpnConfig::torchvision()
    };
    let roi = &mut c.roi;
    roi.representation = d.representation_size;
    roi.fg_iou = d.box_fg_iou_thresh;
    roi.bg_iou = d.box_bg_iou_thresh;
    roi.batch_size_per_image = d.box_batch_size_per_image as i64;
    roi.positive_fraction = d.box_positive_fraction;
    roi.score_thresh = d.box_score_thresh;
    roi.nms_thresh = d.box_nms_thresh;
    roi.detections_per_img = d.box_detections_per_img as i64;
    c
}

/// A registry regression loss the validator allowed on this detector (no UGS).
fn plain(spec: &RegLossSpec) -> Box<dyn RegLoss> {
    match losses::build_reg(spec, true) {
        Reg::Plain(l) => l,
        Reg::Ugs(_) => panic!("the validator refuses UGS on torchvision_faster_rcnn"),
    }
}

/// The detector and what trains it besides the session's box-head weighting.
pub struct FasterParts {
    pub model: FasterRcnn,
    /// `None`: torchvision's softmax cross-entropy on the `K + 1` logits.
    cls: Option<Box<dyn ClsLoss>>,
    reg: Box<dyn RegLoss>,
    rpn_reg: Box<dyn RegLoss>,
    pub rpn_weighting: Weighting,
    seed: u64,
}

/// The losses of one step: what to back-propagate and the detached logged values.
pub struct Step {
    pub total: Tensor,
    pub logged: Vec<Tensor>,
}

impl FasterParts {
    pub fn new(root: &nn::Path, cfg: &JobConfig, num_classes: i64) -> FasterParts {
        let rpn = cfg.loss.rpn.clone().unwrap_or_default();
        FasterParts {
            model: FasterRcnn::new(root, &config(cfg, num_classes)),
            cls: match cfg.loss.cls {
                ClsLossSpec::Softmax => None,
                ref other => Some(losses::build(other)),
            },
            reg: plain(&cfg.loss.reg),
            rpn_reg: plain(&rpn.reg),
            rpn_weighting: Weighting::with_prefix(&rpn.weights, "alwa.rpn"),
            seed: cfg.train.seed,
        }
    }

    /// The box head's classification loss.
    pub fn box_cls(&self) -> BoxClassLoss<'_> {
        match &self.cls {
            None => BoxClassLoss::Softmax,
            Some(l) => BoxClassLoss::Registry(l.as_ref()),
        }
    }

    /// Iteration `it`'s losses on a padded batch; `weighting` is the box head's.
    pub fn step(
        &mut self,
        it: u64,
        images: &Tensor,
        image_sizes: &[(i64, i64)],
        targets: &[Target],
        weighting: &mut Weighting,
    ) -> Step {
        let mut rpn_draw = Seeded::new(self.seed, it, "rpn");
        let mut roi_draw = Seeded::new(self.seed, it, "roi_heads");
        let l = self.model.losses(
            images,
            image_sizes,
            targets,
            StageLosses {
                rpn_reg: self.rpn_reg.as_ref(),
                rpn_draw: &mut rpn_draw,
                cls: match &self.cls {
                    None => BoxClassLoss::Softmax,
                    Some(c) => BoxClassLoss::Registry(c.as_ref()),
                },
                reg: self.reg.as_ref(),
                roi_draw: &mut roi_draw,
            },
        );
        let (wc, wr) = weighting.observe(it, &l.cls, &l.reg);
        let rpn_cls = l.rpn_cls.detach();
        let (rc, rr) = self.rpn_weighting.observe(it, &rpn_cls, &l.rpn_reg);
        let total = &l.cls_backprop * wc + &l.reg * wr + &l.rpn_cls * rc + &l.rpn_reg * rr;
        let logged_total =
            &l.cls * wc + l.reg.detach() * wr + &rpn_cls * rc + l.rpn_reg.detach() * rr;
        let weight = |w: f64| losses::scalar_tensor(w, &logged_total);
        Step {
            total,
            logged: vec![
                logged_total.shallow_clone(),
                l.cls,
                l.reg.detach(),
                rpn_cls,
                l.rpn_reg.detach(),
                weight(rc),
                weight(rr),
            ],
        }
    }

    /// Detections of each image of a padded batch in its resized pixels.
    pub fn detect(&self, images: &Tensor, image_sizes: &[(i64, i64)]) -> Vec<Detections> {
        self.model.detect(images, image_sizes, &self.box_cls())
    }
}
