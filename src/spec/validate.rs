//! Range checks on a resolved config, after every default is filled. Each problem is a
//! (dotted key, what was found, what is allowed) triple; the caller locates it in the file.

use super::config::*;
use std::path::Path;

mod two_stage;

pub struct Problem {
    pub key: String,
    pub found: String,
    pub allowed: String,
    /// `found` is a path that does not exist (else a value out of range).
    pub missing: bool,
}

struct Checks(Vec<Problem>);

impl Checks {
    fn check(&mut self, ok: bool, key: &str, found: impl ToString, allowed: &str) {
        if !ok {
            self.0.push(Problem {
                key: key.to_string(),
                found: found.to_string(),
                allowed: allowed.to_string(),
                missing: false,
            });
        }
    }

    /// A path the dataset needs: `dir` says whether it must be a directory or a file.
    fn exists(&mut self, key: &str, path: &Path, dir: bool, allowed: &str) {
        let ok = if dir { path.is_dir() } else { path.is_file() };
        if !ok {
            self.0.push(Problem {
                key: key.to_string(),
                found: path.display().to_string(),
                allowed: allowed.to_string(),
                missing: true,
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
    torchvision_limits(&mut c, cfg);
    combinations(&mut c, cfg);
    if let Some(f) = &cfg.fake {
        c.check(f.iterations >= 1, "fake.iterations", f.iterations, ">= 1");
        if let Some(ap) = &f.ap {
            c.check(
                ap.mean.is_finite(),
                "fake.ap.mean",
                ap.mean,
                "a finite number",
            );
            c.check(
                ap.sd >= 0.0 && ap.sd.is_finite(),
                "fake.ap.sd",
                ap.sd,
                ">= 0",
            );
        }
    }
    c.0
}

fn dataset(c: &mut Checks, d: &DatasetSpec) {
    let s = match d {
        DatasetSpec::Synthetic(s) => s,
        DatasetSpec::Coco(s) => return coco(c, s),
        DatasetSpec::Voc(s) => return voc(c, s),
        DatasetSpec::Visdrone(s) => return visdrone(c, s),
    };
    let size = s.image_size;
    c.check(
        (32..=2048).contains(&size) && size.is_multiple_of(32),
        "dataset.image_size",
        size,
        "a multiple of 32 from 32 to 2048",
    );
    c.check(
        (1..=4).contains(&s.num_classes),
        "dataset.num_classes",
        s.num_classes,
        "1 to 4",
    );
    c.check(
        s.train_images >= 1,
        "dataset.train_images",
        s.train_images,
        ">= 1",
    );
    c.check(
        s.val_images >= 1,
        "dataset.val_images",
        s.val_images,
        ">= 1",
    );
    c.check(
        (1..=64).contains(&s.max_objects),
        "dataset.max_objects",
        s.max_objects,
        "1 to 64",
    );
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
    // An object must fit inside the image with a pixel to spare for the generator's placement.
    c.check(
        s.min_object_size <= s.max_object_size && s.max_object_size <= size as f64 - 1.0,
        "dataset.max_object_size",
        s.max_object_size,
        "between dataset.min_object_size and dataset.image_size - 1",
    );
}

/// The pipeline keys every dataset read from disk has.
fn pipeline(c: &mut Checks, p: Pipeline) {
    let size = p.image_size;
    c.check(
        (32..=2048).contains(&size) && size.is_multiple_of(32),
        "dataset.image_size",
        size,
        "a multiple of 32 from 32 to 2048",
    );
    if let Some([lo, hi]) = p.multi_scale {
        c.check(
            16 <= lo && lo <= hi && hi <= size,
            "dataset.multi_scale",
            format!("[{lo}, {hi}]"),
            "[min, max] longer sides in pixels, 16 <= min <= max <= dataset.image_size",
        );
    }
    for (key, n) in [
        ("dataset.max_train_images", p.max_train_images),
        ("dataset.max_val_images", p.max_val_images),
    ] {
        if let Some(n) = n {
            c.check(n >= 1, key, n, ">= 1, or absent for all");
        }
    }
}

fn coco(c: &mut Checks, s: &CocoSpec) {
    pipeline(c, s.pipeline());
    c.exists(
        "dataset.images",
        &s.images,
        true,
        "an existing directory of images",
    );
    if let Some(v) = &s.val_images {
        c.exists(
            "dataset.val_images",
            v,
            true,
            "an existing directory of images",
        );
    }
    c.exists(
        "dataset.train",
        &s.train,
        false,
        "an existing COCO annotation file",
    );
    c.exists(
        "dataset.val",
        &s.val,
        false,
        "an existing COCO annotation file",
    );
}

fn voc(c: &mut Checks, s: &VocSpec) {
    pipeline(c, s.pipeline());
    c.exists(
        "dataset.root",
        &s.root,
        true,
        "an existing VOCdevkit directory",
    );
    c.check(
        !s.train.is_empty(),
        "dataset.train",
        "[]",
        "one or more sets like VOC2007/trainval",
    );
    let mut names: Vec<&String> = s.classes.iter().collect();
    names.sort();
    names.dedup();
    c.check(
        names.len() == s.classes.len() && s.classes.iter().all(|n| !n.trim().is_empty()),
        "dataset.classes",
        format!("{:?}", s.classes),
        "distinct non-empty names, or [] for the names found in the annotations",
    );
    if !s.root.is_dir() {
        return;
    }
    let sets = s
        .train
        .iter()
        .map(|t| ("dataset.train", t))
        .chain([("dataset.val", &s.val)]);
    for (key, set) in sets {
        match set.split_once('/') {
            Some((year, name)) if !year.is_empty() && !name.is_empty() && !name.contains('/') => {
                let list = s
                    .root
                    .join(year)
                    .join("ImageSets/Main")
                    .join(format!("{name}.txt"));
                c.exists(
                    key,
                    &list,
                    false,
                    "sets YEAR/NAME with a list ROOT/YEAR/ImageSets/Main/NAME.txt",
                );
            }
            _ => c.check(false, key, set, "a set YEAR/NAME, e.g. VOC2007/trainval"),
        }
    }
}

fn visdrone(c: &mut Checks, s: &VisdroneSpec) {
    pipeline(c, s.pipeline());
    c.exists(
        "dataset.root",
        &s.root,
        true,
        "an existing directory holding the VisDrone splits",
    );
    if !s.root.is_dir() {
        return;
    }
    for (key, split) in [("dataset.train", &s.train), ("dataset.val", &s.val)] {
        for sub in ["images", "annotations"] {
            let allowed = "a split directory under dataset.root with images/ and annotations/";
            c.exists(key, &s.root.join(split).join(sub), true, allowed);
        }
    }
}

fn model(c: &mut Checks, m: &ModelSpec) {
    c.check(
        (8..=1024).contains(&m.fpn_channels) && m.fpn_channels % 8 == 0,
        "model.fpn_channels",
        m.fpn_channels,
        "a multiple of 8 from 8 to 1024",
    );
    c.check(
        m.head_convs <= 8,
        "model.head_convs",
        m.head_convs,
        "0 to 8",
    );
    let tv = matches!(
        m.detector,
        DetectorSpec::TorchvisionRetinanet(_)
            | DetectorSpec::TorchvisionFcos(_)
            | DetectorSpec::TorchvisionFasterRcnn(_)
    );
    let ssd = matches!(m.detector, DetectorSpec::TorchvisionSsd(_));
    match &m.backbone {
        BackboneSpec::TinyResnet { width, blocks } => {
            c.check(
                !tv,
                "model.backbone.kind",
                "tiny_resnet",
                "resnet (torchvision_retinanet, torchvision_fcos and torchvision_faster_rcnn run on torchvision's ResNet)",
            );
            c.check(
                !ssd,
                "model.backbone.kind",
                "tiny_resnet",
                "vgg16 (torchvision_ssd runs on torchvision's VGG16)",
            );
            c.check(
                (8..=512).contains(width) && width % 8 == 0,
                "model.backbone.width",
                width,
                "a multiple of 8 from 8 to 512",
            );
            c.check(
                blocks.len() == 4 && blocks.iter().all(|b| (1..=8).contains(b)),
                "model.backbone.blocks",
                format!("{blocks:?}"),
                "four stages of 1 to 8 blocks",
            );
        }
        BackboneSpec::Resnet(r) => {
            c.check(
                !ssd,
                "model.backbone.kind",
                "resnet",
                "vgg16 (torchvision_ssd runs on torchvision's VGG16)",
            );
            if !ssd {
                resnet(c, r, tv);
            }
        }
        BackboneSpec::Vgg16(v) => vgg16(c, v, ssd),
    }
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
            c.check(
                *anchor_scale > 0.0,
                "model.detector.anchor_scale",
                anchor_scale,
                "> 0",
            );
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
        DetectorSpec::TorchvisionRetinanet(d) => torchvision_retinanet(c, d),
        DetectorSpec::TorchvisionFcos(d) => torchvision_fcos(c, d),
        DetectorSpec::TorchvisionSsd(d) => torchvision_ssd(c, d),
        DetectorSpec::TorchvisionFasterRcnn(d) => two_stage::faster_rcnn(c, d),
    }
}

fn vgg16(c: &mut Checks, v: &Vgg16Spec, ssd: bool) {
    c.check(
        ssd,
        "model.backbone.kind",
        "vgg16",
        "tiny_resnet for fcos and retinanet, resnet for torchvision_retinanet and torchvision_fcos (vgg16 is torchvision_ssd's)",
    );
    c.check(
        v.trainable_layers <= 5,
        "model.backbone.trainable_layers",
        v.trainable_layers,
        "0 to 5",
    );
    if let Some(w) = &v.weights {
        c.exists("model.backbone.weights", w, false, WEIGHTS_FILE);
    }
}

fn torchvision_ssd(c: &mut Checks, d: &TorchvisionSsdSpec) {
    c.check(
        d.iou_thresh > 0.0 && d.iou_thresh <= 1.0,
        "model.detector.iou_thresh",
        d.iou_thresh,
        "in (0, 1]",
    );
    thresholds(
        c,
        d.score_thresh,
        d.nms_thresh,
        d.detections_per_img,
        d.topk_candidates,
    );
    if let Some(w) = &d.weights {
        c.exists("model.detector.weights", w, false, WEIGHTS_FILE);
    }
}

/// Pairs of choices that cannot work together.
fn combinations(c: &mut Checks, cfg: &JobConfig) {
    let whole_weights = match &cfg.model.detector {
        DetectorSpec::TorchvisionRetinanet(d) => d.weights.as_ref(),
        DetectorSpec::TorchvisionFcos(d) => d.weights.as_ref(),
        DetectorSpec::TorchvisionFasterRcnn(d) => d.weights.as_ref(),
        _ => None,
    };
    two_stage::losses(c, cfg);
    if let (Some(w), RegLossSpec::Ugs(_)) = (whole_weights, &cfg.loss.reg) {
        c.check(
            false,
            "model.detector.weights",
            w.display(),
            "no model.detector.weights with loss.reg ugs (its distribution head's bbox_reg has n + 1 outputs per side, torchvision's has 1); start from model.backbone.weights",
        );
    }
    let fcos = matches!(
        cfg.model.detector,
        DetectorSpec::Fcos { .. } | DetectorSpec::TorchvisionFcos(_)
    );
    if let RegLossSpec::L2 { normalize } = cfg.loss.reg {
        c.check(
            fcos || normalize == L2Normalize::Encoded,
            "loss.reg.normalize",
            "box_coder",
            "encoded with a RetinaNet detector (its encoded targets already are the box coder's deltas); box_coder with fcos or torchvision_fcos",
        );
    }
    if let Some(CouplingSpec::Harmonic { cls, .. }) = &cfg.loss.coupling {
        let softmax = matches!(cfg.loss.cls, ClsLossSpec::CeOhem { .. });
        match cls {
            HarmonicCls::Paper => c.check(
                softmax,
                "loss.coupling.cls",
                "paper",
                "paper with loss.cls ce_ohem (the paper's softmax cross-entropy); focal with a sigmoid loss.cls (focal, auc, ap)",
            ),
            HarmonicCls::Focal => c.check(
                !softmax,
                "loss.coupling.cls",
                "focal",
                "focal with a sigmoid loss.cls (focal, auc, ap); paper with loss.cls ce_ohem",
            ),
        }
    }
}

const WEIGHTS_FILE: &str =
    "an existing safetensors file (scripts/convert-weights IN.pth OUT.safetensors converts torchvision's .pth)";

fn resnet(c: &mut Checks, r: &ResnetSpec, tv: bool) {
    c.check(
        tv,
        "model.backbone.kind",
        "resnet",
        "tiny_resnet (fcos and retinanet are the tiny detectors; torchvision_retinanet, torchvision_fcos and torchvision_faster_rcnn run on resnet)",
    );
    c.check(
        [18, 34, 50, 101, 152].contains(&r.depth),
        "model.backbone.depth",
        r.depth,
        "18, 34, 50, 101 or 152",
    );
    c.check(
        r.trainable_layers <= 5,
        "model.backbone.trainable_layers",
        r.trainable_layers,
        "0 to 5",
    );
    if let Some(w) = &r.weights {
        c.exists("model.backbone.weights", w, false, WEIGHTS_FILE);
    }
}

fn torchvision_retinanet(c: &mut Checks, d: &TorchvisionRetinanetSpec) {
    input_sizes(c, d.min_size, d.max_size);
    c.check(
        d.fpn_channels >= 8 && d.fpn_channels % 8 == 0,
        "model.detector.fpn_channels",
        d.fpn_channels,
        "a multiple of 8, >= 8",
    );
    thresholds(
        c,
        d.score_thresh,
        d.nms_thresh,
        d.detections_per_img,
        d.topk_candidates,
    );
    if let Some(w) = &d.weights {
        c.exists("model.detector.weights", w, false, WEIGHTS_FILE);
    }
}

/// `GeneralizedRCNNTransform`'s sizes of a torchvision detector.
fn input_sizes(c: &mut Checks, min_size: u32, max_size: u32) {
    c.check(min_size >= 32, "model.detector.min_size", min_size, ">= 32");
    c.check(
        max_size >= min_size,
        "model.detector.max_size",
        max_size,
        ">= min_size",
    );
}

/// The post-processing settings of a torchvision detector.
fn thresholds(c: &mut Checks, score: f64, nms: f64, per_img: u32, topk: u32) {
    c.check(
        (0.0..=1.0).contains(&score),
        "model.detector.score_thresh",
        score,
        "in [0, 1]",
    );
    c.check(
        (0.0..=1.0).contains(&nms),
        "model.detector.nms_thresh",
        nms,
        "in [0, 1]",
    );
    c.check(
        per_img >= 1,
        "model.detector.detections_per_img",
        per_img,
        ">= 1",
    );
    c.check(topk >= 1, "model.detector.topk_candidates", topk, ">= 1");
}

fn torchvision_fcos(c: &mut Checks, d: &TorchvisionFcosSpec) {
    input_sizes(c, d.min_size, d.max_size);
    c.check(
        d.fpn_channels >= 32 && d.fpn_channels % 32 == 0,
        "model.detector.fpn_channels",
        d.fpn_channels,
        "a multiple of 32, >= 32 (the head's GroupNorm has 32 groups)",
    );
    c.check(
        d.center_sampling_radius > 0.0 && d.center_sampling_radius.is_finite(),
        "model.detector.center_sampling_radius",
        d.center_sampling_radius,
        "> 0 (in anchor sizes)",
    );
    thresholds(
        c,
        d.score_thresh,
        d.nms_thresh,
        d.detections_per_img,
        d.topk_candidates,
    );
    c.check(
        (1..=8).contains(&d.num_convs),
        "model.detector.num_convs",
        d.num_convs,
        "1 to 8",
    );
    if let Some(w) = &d.weights {
        c.exists("model.detector.weights", w, false, WEIGHTS_FILE);
    }
}

/// What torchvision's SSD does not run: UGS (its head has no distribution branch) and the
/// harmonic coupling (its losses are torchvision's own, outside the objective).
fn torchvision_limits(c: &mut Checks, cfg: &JobConfig) {
    if !matches!(cfg.model.detector, DetectorSpec::TorchvisionSsd(_)) {
        return;
    }
    c.check(
        !matches!(cfg.loss.reg, RegLossSpec::Ugs(_)),
        "loss.reg.kind",
        "ugs",
        "a loss other than ugs with torchvision_ssd (its head has no distribution branch)",
    );
    c.check(
        cfg.loss.coupling.is_none(),
        "loss.coupling",
        "harmonic",
        "none with torchvision_ssd",
    );
}

fn train(c: &mut Checks, t: &TrainSpec) {
    c.check(t.iterations >= 1, "train.iterations", t.iterations, ">= 1");
    c.check(t.batch_size >= 1, "train.batch_size", t.batch_size, ">= 1");
    c.check(t.lr > 0.0 && t.lr.is_finite(), "train.lr", t.lr, "> 0");
    c.check(
        (0.0..1.0).contains(&t.momentum),
        "train.momentum",
        t.momentum,
        "0 <= momentum < 1",
    );
    c.check(
        t.weight_decay >= 0.0,
        "train.weight_decay",
        t.weight_decay,
        ">= 0",
    );
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
    c.check(
        t.lr_decay > 0.0 && t.lr_decay <= 1.0,
        "train.lr_decay",
        t.lr_decay,
        "0 < decay <= 1",
    );
    if let Some(clip) = t.grad_clip {
        c.check(
            clip > 0.0,
            "train.grad_clip",
            clip,
            "> 0, or null for no clipping",
        );
    }
    c.check(
        t.checkpoint_every >= 1,
        "train.checkpoint_every",
        t.checkpoint_every,
        ">= 1",
    );
    c.check(t.log_every >= 1, "train.log_every", t.log_every, ">= 1");
}

fn losses(c: &mut Checks, l: &LossSpec) {
    match &l.cls {
        ClsLossSpec::Focal { alpha, gamma } => {
            c.check(
                (0.0..=1.0).contains(alpha),
                "loss.cls.alpha",
                alpha,
                "0 to 1",
            );
            c.check(*gamma >= 0.0, "loss.cls.gamma", gamma, ">= 0");
        }
        ClsLossSpec::CeOhem { neg_pos_ratio: r } => {
            c.check(
                *r > 0.0 && r.is_finite(),
                "loss.cls.neg_pos_ratio",
                r,
                "> 0 negatives per positive",
            );
        }
        ClsLossSpec::Softmax => {}
        ClsLossSpec::Auc { delta, .. } | ClsLossSpec::Ap { delta, .. } => c.check(
            *delta > 0.0 && delta.is_finite(),
            "loss.cls.delta",
            delta,
            "> 0 (half-width of the piecewise step function, AP-loss Eq. 21)",
        ),
    }
    match &l.reg {
        RegLossSpec::SmoothL1 { beta } => c.check(
            *beta >= 0.0 && beta.is_finite(),
            "loss.reg.beta",
            beta,
            ">= 0 (0 = L1)",
        ),
        RegLossSpec::Hiou { gamma } => c.check(
            *gamma > 0.0 && *gamma <= 1.0,
            "loss.reg.gamma",
            gamma,
            "0 < gamma <= 1 (HIoU decreases with IoU only for gamma <= 1, Harmonic loss supplementary Eq. 13)",
        ),
        RegLossSpec::Ugs(u) => {
            c.check((2..=256).contains(&u.n), "loss.reg.n", u.n, "2 to 256 bins");
            c.check(u.alpha > 0.0 && u.alpha.is_finite(), "loss.reg.alpha", u.alpha, "> 0");
            c.check(u.beta > 0.0 && u.alpha * u.beta <= 50.0, "loss.reg.beta", u.beta, "> 0, with alpha * beta <= 50");
            c.check(u.lambda >= 0.0, "loss.reg.lambda", u.lambda, ">= 0 (0 = off)");
            c.check(u.gamma >= 0.0, "loss.reg.gamma", u.gamma, ">= 0 (0 = off)");
            c.check(u.rho > 0.0, "loss.reg.rho", u.rho, "> 0");
        }
        RegLossSpec::L1
        | RegLossSpec::L2 { .. }
        | RegLossSpec::Iou { .. }
        | RegLossSpec::Giou
        | RegLossSpec::Diou
        | RegLossSpec::Ciou => {}
    }
    task_weights(c, &l.weights, "loss.weights");
}

/// The task weights at `key` (`loss.weights`, or a stage's, `loss.rpn.weights`) and their ALWA.
fn task_weights(c: &mut Checks, w: &WeightsSpec, key: &str) {
    c.check(w.cls >= 0.0, &format!("{key}.cls"), w.cls, ">= 0");
    c.check(w.reg >= 0.0, &format!("{key}.reg"), w.reg, ">= 0");
    if let Some(AdaptSpec::Alwa {
        variant, window, ..
    }) = &w.adapt
    {
        c.check(
            *variant == 1 || *variant == 2,
            &format!("{key}.adapt.variant"),
            variant,
            "1 (ALWA_1: mean + std) or 2 (ALWA_2: std)",
        );
        c.check(
            *window >= 2,
            &format!("{key}.adapt.window"),
            window,
            ">= 2 iterations",
        );
    }
}

fn eval(c: &mut Checks, e: &EvalSpec) {
    c.check(
        (0.0..1.0).contains(&e.score_threshold),
        "eval.score_threshold",
        e.score_threshold,
        "0 <= threshold < 1",
    );
    c.check(
        e.nms_iou > 0.0 && e.nms_iou <= 1.0,
        "eval.nms_iou",
        e.nms_iou,
        "0 < iou <= 1",
    );
    c.check(
        e.max_detections >= 1,
        "eval.max_detections",
        e.max_detections,
        ">= 1",
    );
    c.check(
        e.pre_nms_top_k >= 1,
        "eval.pre_nms_top_k",
        e.pre_nms_top_k,
        ">= 1",
    );
    let mut kinds = e.perturbations.clone();
    kinds.sort();
    kinds.dedup();
    let names: Vec<&str> = e.perturbations.iter().map(|p| p.name()).collect();
    let all: Vec<&str> = Perturbation::ALL.iter().map(|p| p.name()).collect();
    c.check(
        kinds.len() == e.perturbations.len(),
        "eval.perturbations",
        format!("[{}]", names.join(", ")),
        &format!("each of {} at most once", all.join(", ")),
    );
    let fractions = |v: &[f64]| {
        let v: Vec<String> = v.iter().map(f64::to_string).collect();
        format!("[{}]", v.join(", "))
    };
    c.check(
        e.at.iter().all(|f| *f > 0.0 && *f <= 1.0)
            && e.at.windows(2).all(|w| w[0] < w[1])
            && e.at.last() == Some(&1.0),
        "eval.at",
        fractions(&e.at),
        "fractions of train.iterations, 0 < f <= 1, increasing, ending at 1 (e.g. [0.5, 0.75, 1])",
    );
}
