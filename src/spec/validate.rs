//! Range checks on a resolved config, after every default is filled. Each problem is a
//! (dotted key, what was found, what is allowed) triple; the caller locates it in the file.

use super::config::*;

pub struct Problem {
    pub key: String,
    pub found: String,
    pub allowed: String,
}

struct Checks(Vec<Problem>);

impl Checks {
    fn check(&mut self, ok: bool, key: &str, found: impl ToString, allowed: &str) {
        if !ok {
            self.0.push(Problem {
                key: key.to_string(),
                found: found.to_string(),
                allowed: allowed.to_string(),
            });
        }
    }
}

pub fn validate(cfg: &JobConfig) -> Vec<Problem> {
    let mut c = Checks(Vec::new());
    dataset(&mut c, &cfg.dataset);
    model(&mut c, &cfg.model);
    train(&mut c, &cfg.train);
    losses(&mut c, &cfg.loss);
    eval(&mut c, &cfg.eval);
    if let Some(f) = &cfg.fake {
        c.check(f.iterations >= 1, "fake.iterations", f.iterations, ">= 1");
    }
    c.0
}

fn dataset(c: &mut Checks, d: &DatasetSpec) {
    let DatasetSpec::Synthetic(s) = d;
    let size = s.image_size;
    c.check(
        (32..=2048).contains(&size) && size % 32 == 0,
        "dataset.image_size",
        size,
        "a multiple of 32 from 32 to 2048",
    );
    c.check((1..=4).contains(&s.num_classes), "dataset.num_classes", s.num_classes, "1 to 4");
    c.check(s.train_images >= 1, "dataset.train_images", s.train_images, ">= 1");
    c.check(s.val_images >= 1, "dataset.val_images", s.val_images, ">= 1");
    c.check(s.max_objects >= 1, "dataset.max_objects", s.max_objects, ">= 1");
    c.check(
        s.min_objects <= s.max_objects,
        "dataset.min_objects",
        s.min_objects,
        "<= dataset.max_objects",
    );
    c.check(
        s.min_object_size >= 2.0,
        "dataset.min_object_size",
        s.min_object_size,
        ">= 2 pixels",
    );
    c.check(
        s.min_object_size <= s.max_object_size && s.max_object_size <= size as f64,
        "dataset.max_object_size",
        s.max_object_size,
        "between dataset.min_object_size and dataset.image_size",
    );
}

fn model(c: &mut Checks, m: &ModelSpec) {
    c.check(
        m.fpn_channels >= 8 && m.fpn_channels % 8 == 0,
        "model.fpn_channels",
        m.fpn_channels,
        "a multiple of 8, >= 8",
    );
    c.check(m.head_convs <= 8, "model.head_convs", m.head_convs, "0 to 8");
    let BackboneSpec::TinyResnet { width, blocks } = &m.backbone;
    c.check(
        *width >= 8 && width % 8 == 0,
        "model.backbone.width",
        width,
        "a multiple of 8, >= 8",
    );
    c.check(
        blocks.len() == 4 && blocks.iter().all(|b| (1..=8).contains(b)),
        "model.backbone.blocks",
        format!("{blocks:?}"),
        "four stages of 1 to 8 blocks",
    );
    match &m.detector {
        DetectorSpec::Fcos {
            center_sampling_radius: r,
            ..
        } => c.check(
            *r >= 0.0,
            "model.detector.center_sampling_radius",
            r,
            ">= 0 (0 = whole box)",
        ),
        DetectorSpec::Retinanet {
            anchor_scale,
            scales_per_octave,
            aspect_ratios,
            pos_iou,
            neg_iou,
        } => {
            c.check(*anchor_scale > 0.0, "model.detector.anchor_scale", anchor_scale, "> 0");
            c.check(
                (1..=8).contains(scales_per_octave),
                "model.detector.scales_per_octave",
                scales_per_octave,
                "1 to 8",
            );
            c.check(
                !aspect_ratios.is_empty() && aspect_ratios.iter().all(|r| *r > 0.0),
                "model.detector.aspect_ratios",
                format!("{aspect_ratios:?}"),
                "a non-empty list of positive ratios",
            );
            c.check(
                *neg_iou > 0.0 && neg_iou <= pos_iou && *pos_iou <= 1.0,
                "model.detector.neg_iou",
                format!("{neg_iou} (pos_iou {pos_iou})"),
                "0 < neg_iou <= pos_iou <= 1",
            );
        }
    }
}

fn train(c: &mut Checks, t: &TrainSpec) {
    c.check(t.iterations >= 1, "train.iterations", t.iterations, ">= 1");
    c.check(t.batch_size >= 1, "train.batch_size", t.batch_size, ">= 1");
    c.check(t.lr > 0.0 && t.lr.is_finite(), "train.lr", t.lr, "> 0");
    c.check((0.0..1.0).contains(&t.momentum), "train.momentum", t.momentum, "0 <= momentum < 1");
    c.check(t.weight_decay >= 0.0, "train.weight_decay", t.weight_decay, ">= 0");
    c.check(
        t.warmup_factor > 0.0 && t.warmup_factor <= 1.0,
        "train.warmup_factor",
        t.warmup_factor,
        "0 < factor <= 1",
    );
    c.check(
        t.lr_steps.iter().all(|s| *s > 0.0 && *s < 1.0)
            && t.lr_steps.windows(2).all(|w| w[0] < w[1]),
        "train.lr_steps",
        format!("{:?}", t.lr_steps),
        "increasing fractions of train.iterations, each in (0, 1)",
    );
    c.check(t.lr_decay > 0.0 && t.lr_decay <= 1.0, "train.lr_decay", t.lr_decay, "0 < decay <= 1");
    if let Some(clip) = t.grad_clip {
        c.check(clip > 0.0, "train.grad_clip", clip, "> 0, or null for no clipping");
    }
    c.check(t.checkpoint_every >= 1, "train.checkpoint_every", t.checkpoint_every, ">= 1");
    c.check(t.log_every >= 1, "train.log_every", t.log_every, ">= 1");
}

fn losses(c: &mut Checks, l: &LossSpec) {
    match &l.cls {
        ClsLossSpec::Focal { alpha, gamma } => {
            c.check((0.0..=1.0).contains(alpha), "loss.cls.alpha", alpha, "0 to 1");
            c.check(*gamma >= 0.0, "loss.cls.gamma", gamma, ">= 0");
        }
    }
    match &l.reg {
        RegLossSpec::SmoothL1 { beta } => c.check(*beta > 0.0, "loss.reg.beta", beta, "> 0"),
        RegLossSpec::Ugs(u) => {
            c.check(u.n >= 2, "loss.reg.n", u.n, ">= 2 bins");
            c.check(u.alpha > 0.0, "loss.reg.alpha", u.alpha, "> 0");
            c.check(u.beta > 0.0, "loss.reg.beta", u.beta, "> 0");
            c.check(u.lambda >= 0.0, "loss.reg.lambda", u.lambda, ">= 0 (0 = off)");
            c.check(u.gamma >= 0.0, "loss.reg.gamma", u.gamma, ">= 0 (0 = off)");
            c.check(u.rho > 0.0, "loss.reg.rho", u.rho, "> 0");
        }
        RegLossSpec::L1 | RegLossSpec::L2 | RegLossSpec::Giou => {}
    }
    c.check(l.weights.cls >= 0.0, "loss.weights.cls", l.weights.cls, ">= 0");
    c.check(l.weights.reg >= 0.0, "loss.weights.reg", l.weights.reg, ">= 0");
}

fn eval(c: &mut Checks, e: &EvalSpec) {
    c.check(
        (0.0..1.0).contains(&e.score_threshold),
        "eval.score_threshold",
        e.score_threshold,
        "0 <= threshold < 1",
    );
    c.check(e.nms_iou > 0.0 && e.nms_iou <= 1.0, "eval.nms_iou", e.nms_iou, "0 < iou <= 1");
    c.check(e.max_detections >= 1, "eval.max_detections", e.max_detections, ">= 1");
    c.check(e.pre_nms_top_k >= 1, "eval.pre_nms_top_k", e.pre_nms_top_k, ">= 1");
}
