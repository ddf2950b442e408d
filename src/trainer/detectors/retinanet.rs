//! RetinaNet as torchvision 0.26 builds it (`retinanet_resnet50_fpn`, v1): a ResNet body
//! ([`crate::trainer::backbones::ResNet`], `backbone.body`), an FPN with P6/P7
//! ([`crate::trainer::necks::Fpn`], `backbone.fpn`), the head
//! ([`crate::trainer::heads::retinanet::RetinaNetHead`], `head`), anchors of sizes `(32, 40, 50)` …
//! `(512, 645, 812)` and ratios (0.5, 1, 2), the box coder with weights (1, 1, 1, 1), the
//! matcher (0.5, 0.4, low-quality matches allowed), and torchvision's post-processing (per level:
//! scores above `score_thresh`, the `topk_candidates` best, decode, clip; then class-wise NMS
//! and the `detections_per_img` best).
//!
//! Losses, per image as torchvision computes them and then averaged over the batch: the
//! classification loss of every non-ignored anchor divided by `max(1, foreground anchors)`, and
//! the regression loss summed over the foreground anchors divided by the same count. The
//! matching gives the registry's targets ([`RetinaNet::targets`]); the job's
//! [`Objective`] computes the terms, so every paper loss, UGS (on a distribution head) and the
//! harmonic coupling work here as on the tiny detectors. torchvision's defaults are the sigmoid
//! focal loss (α 0.25, γ 2) and L1 on the deltas. A registry loss that ranks the whole batch
//! (AUC-, AP-loss with `minibatch`) sees the batch at once, divided by all its foreground anchors.

use super::anchors::{octave_sizes, AnchorGenerator};
use super::box_coder::BoxCoder;
use super::matcher::{Matcher, BELOW_LOW, BETWEEN};
use crate::trainer::backbones::{resnet_fpn, ResNet};
use crate::trainer::box_ops::{batched_nms, box_iou, clip_boxes_to_image};
use crate::trainer::head::HeadOutput;
use crate::trainer::heads::retinanet::{LevelOutput, RetinaNetHead};
use crate::trainer::losses::Score;
use crate::trainer::necks::Fpn;
use crate::trainer::objective::{Objective, RegBranch, Terms};
use crate::trainer::priors::Targets;
use tch::{nn, Kind, Tensor};

/// Everything that shapes a torchvision RetinaNet.
#[derive(Debug, Clone, PartialEq)]
pub struct RetinaNetConfig {
    /// ResNet depth (18, 34, 50, 101, 152).
    pub depth: u32,
    /// torchvision's `trainable_backbone_layers` (0 to 5).
    pub trainable_layers: u32,
    /// Columns of the class logits (torchvision's `num_classes`).
    pub num_classes: i64,
    pub fpn_channels: i64,
    /// Anchor base size per level (P3..P7).
    pub anchor_bases: Vec<f64>,
    pub scales_per_octave: u32,
    pub aspect_ratios: Vec<f64>,
    pub fg_iou: f64,
    pub bg_iou: f64,
    pub score_thresh: f64,
    pub nms_thresh: f64,
    pub detections_per_img: i64,
    pub topk_candidates: i64,
    /// The points of a distribution regression (UGS); `None`: torchvision's plain deltas.
    pub grid: Option<Vec<f64>>,
}

impl RetinaNetConfig {
    /// `retinanet_resnet50_fpn`'s defaults for a depth and a class count.
    pub fn torchvision(depth: u32, num_classes: i64) -> RetinaNetConfig {
        RetinaNetConfig {
            depth,
            trainable_layers: 3,
            num_classes,
            fpn_channels: 256,
            anchor_bases: vec![32.0, 64.0, 128.0, 256.0, 512.0],
            scales_per_octave: 3,
            aspect_ratios: vec![0.5, 1.0, 2.0],
            fg_iou: 0.5,
            bg_iou: 0.4,
            score_thresh: 0.05,
            nms_thresh: 0.5,
            detections_per_img: 300,
            topk_candidates: 1000,
            grid: None,
        }
    }
}

/// The ground truth of one image in the batch's (resized) pixels: `boxes [G, 4]` float,
/// `labels [G]` int64 in `0..num_classes` (a column of the logits).
#[derive(Debug)]
pub struct Target {
    pub boxes: Tensor,
    pub labels: Tensor,
}

/// Detections of one image: `boxes [D, 4]`, `scores [D]`, `labels [D]` (logit columns).
#[derive(Debug)]
pub struct Detections {
    pub boxes: Tensor,
    pub scores: Tensor,
    pub labels: Tensor,
}

/// torchvision's RetinaNet.
#[derive(Debug)]
pub struct RetinaNet {
    pub body: ResNet,
    pub fpn: Fpn,
    pub head: RetinaNetHead,
    pub anchor_generator: AnchorGenerator,
    pub coder: BoxCoder,
    pub matcher: Matcher,
    pub cfg: RetinaNetConfig,
}

/// The forward pass of a batch: the FPN levels and the head's outputs per level.
#[derive(Debug)]
pub struct Forward {
    pub features: Vec<Tensor>,
    pub levels: Vec<LevelOutput>,
}

impl Forward {
    /// `[B, N, K]` logits and `[B, N, 4]` deltas over all levels.
    pub fn concat(&self) -> (Tensor, Tensor) {
        let cls: Vec<&Tensor> = self.levels.iter().map(|l| &l.cls_logits).collect();
        let reg: Vec<&Tensor> = self.levels.iter().map(|l| &l.bbox_regression).collect();
        (Tensor::cat(&cls, 1), Tensor::cat(&reg, 1))
    }

    /// The outputs over all levels: [`Forward::concat`], and with a distribution head the
    /// deltas' logits `[B, N, 4, n + 1]`.
    pub fn head_output(&self) -> HeadOutput {
        let (cls, reg) = self.concat();
        let logits: Option<Vec<&Tensor>> =
            self.levels.iter().map(|l| l.reg_logits.as_ref()).collect();
        HeadOutput {
            cls,
            reg,
            ctr: None,
            reg_logits: logits.map(|v| Tensor::cat(&v, 1)),
        }
    }
}

impl RetinaNet {
    /// Registers the parameters under `root` with torchvision's names.
    pub fn new(root: &nn::Path, cfg: &RetinaNetConfig) -> RetinaNet {
        let (body, fpn) = resnet_fpn(root, cfg.depth, cfg.trainable_layers, cfg.fpn_channels);
        let sizes = octave_sizes(&cfg.anchor_bases, cfg.scales_per_octave);
        let anchor_generator = AnchorGenerator::new(&sizes, &cfg.aspect_ratios);
        let head = RetinaNetHead::new(
            &(root / "head"),
            cfg.fpn_channels,
            anchor_generator.per_location(),
            cfg.num_classes,
            cfg.grid.as_deref(),
        );
        RetinaNet {
            body,
            fpn,
            head,
            anchor_generator,
            coder: BoxCoder::retinanet(),
            matcher: Matcher {
                high: cfg.fg_iou,
                low: cfg.bg_iou,
                allow_low_quality: true,
            },
            cfg: cfg.clone(),
        }
    }

    /// FPN levels P3–P7 and the head's outputs of a padded, normalised batch.
    pub fn forward(&self, images: &Tensor) -> Forward {
        let c = self.body.forward(images);
        let features = self.fpn.forward(&c[1..]);
        let levels = self.head.forward(&features);
        Forward { features, levels }
    }

    /// The anchors of each level for a batch `images [B, 3, H, W]` (the same for every image).
    pub fn anchors(&self, images: &Tensor, features: &[Tensor]) -> Vec<Tensor> {
        let s = images.size();
        let grids: Vec<(i64, i64)> = features
            .iter()
            .map(|f| (f.size()[2], f.size()[3]))
            .collect();
        self.anchor_generator
            .grid_anchors((s[2], s[3]), &grids, images.device())
    }

    /// The matched box of each anchor `[A]` (−1 background, −2 ignored) for one image.
    pub fn match_image(&self, anchors: &Tensor, target: &Target) -> Tensor {
        if target.boxes.numel() == 0 {
            return Tensor::full(
                [anchors.size()[0]],
                BELOW_LOW,
                (Kind::Int64, anchors.device()),
            );
        }
        self.matcher.assign(&box_iou(&target.boxes, anchors))
    }

    /// The registry's labels of one image: −1 ignored, 0 background, `label + 1` foreground.
    fn registry_labels(matched: &Tensor, target: &Target) -> Tensor {
        let fg = matched.ge(0);
        let mut labels = Tensor::zeros_like(matched);
        let _ = labels.masked_fill_(&matched.eq(BETWEEN), -1);
        if target.labels.numel() > 0 {
            let idx = matched.clamp_min(0);
            let cls = target.labels.index_select(0, &idx) + 1;
            labels = labels.where_self(&fg.logical_not(), &cls);
        }
        labels
    }

    /// The registry's targets of a batch against `targets` (one per image): every anchor's
    /// label over the batch (`[B·A]`), and per foreground anchor its index, anchor, matched box
    /// and the box coder's deltas.
    pub fn targets(&self, anchors: &[Tensor], targets: &[Target]) -> Targets {
        let anchors = Tensor::cat(anchors, 0);
        let a = anchors.size()[0];
        let (mut labels, mut pos, mut priors, mut boxes) = (vec![], vec![], vec![], vec![]);
        for (i, t) in targets.iter().enumerate() {
            let matched = self.match_image(&anchors, t);
            labels.push(Self::registry_labels(&matched, t));
            let fg = matched.ge(0).nonzero().squeeze_dim(1);
            boxes.push(t.boxes.index_select(0, &matched.index_select(0, &fg)));
            priors.push(anchors.index_select(0, &fg));
            pos.push(fg + i as i64 * a);
        }
        let (priors, boxes) = (Tensor::cat(&priors, 0), Tensor::cat(&boxes, 0));
        let pos = Tensor::cat(&pos, 0);
        let p = pos.size()[0];
        Targets {
            labels: Tensor::cat(&labels, 0),
            encoded: self.coder.encode(&boxes, &priors),
            weight: Tensor::ones([p], (Kind::Float, anchors.device())),
            pos,
            priors,
            boxes,
            centerness: None,
            num_pos: p as usize,
            weight_sum: p as f64,
        }
    }

    /// The loss terms of a batch against `targets` (one per image) with `objective`'s losses,
    /// normalised as its [`Normalise`](crate::trainer::objective::Normalise) says (torchvision's
    /// per image for this detector).
    pub fn terms(
        &self,
        objective: &Objective,
        out: &Forward,
        anchors: &[Tensor],
        targets: &[Target],
    ) -> Terms {
        let t = self.targets(anchors, targets);
        let rerun = |moved: &[Tensor]| self.head.reg_logits(moved);
        let branch = RegBranch {
            levels: &out.features,
            reg_logits: &rerun,
        };
        let decode = |p: &Tensor, a: &Tensor| self.coder.decode(p, a);
        objective.terms_of(&out.head_output(), &decode, &t, Some(branch))
    }

    /// torchvision's `postprocess_detections`: detections per image in the batch's pixels,
    /// clipped to each image's resized size.
    pub fn postprocess(
        &self,
        out: &Forward,
        anchors: &[Tensor],
        image_sizes: &[(i64, i64)],
        score: Score,
    ) -> Vec<Detections> {
        let c = &self.cfg;
        image_sizes
            .iter()
            .enumerate()
            .map(|(i, &(h, w))| {
                let (mut boxes, mut scores, mut labels) = (vec![], vec![], vec![]);
                for (lv, a) in out.levels.iter().zip(anchors) {
                    let logits = lv.cls_logits.get(i as i64);
                    let k = logits.size()[1];
                    let s = score.probs(&logits).flatten(0, -1);
                    let keep = s.gt(c.score_thresh);
                    let s = s.masked_select(&keep);
                    let idx = keep.nonzero().squeeze_dim(1);
                    let n = idx.size()[0].min(c.topk_candidates);
                    let (s, order) = s.topk(n, 0, true, true);
                    let idx = idx.index_select(0, &order);
                    let anchor_idx = idx.divide_scalar_mode(k, "floor");
                    let lab = idx.remainder(k);
                    let d = lv
                        .bbox_regression
                        .get(i as i64)
                        .index_select(0, &anchor_idx);
                    let bx = self.coder.decode(&d, &a.index_select(0, &anchor_idx));
                    boxes.push(clip_boxes_to_image(&bx, h, w));
                    scores.push(s);
                    labels.push(lab);
                }
                let (boxes, scores, labels) = (
                    Tensor::cat(&boxes, 0),
                    Tensor::cat(&scores, 0),
                    Tensor::cat(&labels, 0),
                );
                let mut keep = batched_nms(&boxes, &scores, &labels, c.nms_thresh);
                keep.truncate(c.detections_per_img.max(0) as usize);
                let keep = Tensor::from_slice(&keep.iter().map(|&k| k as i64).collect::<Vec<_>>())
                    .to_device(boxes.device());
                Detections {
                    boxes: boxes.index_select(0, &keep),
                    scores: scores.index_select(0, &keep),
                    labels: labels.index_select(0, &keep),
                }
            })
            .collect()
    }
}
