//! SSD300 as torchvision 0.26 builds it (`ssd300_vgg16`): the VGG16 extractor
//! ([`crate::trainer::backbones::SsdVgg`], `backbone`), [`SsdHead`] (`head`), the default boxes
//! of [`DefaultBoxGenerator::ssd300`], the box coder with weights (10, 10, 5, 5), the SSD
//! matcher (IoU ≥ 0.5, and every ground-truth box forced onto its best default box), the input
//! transform ([`crate::trainer::transform::Transform::ssd300`]) and its post-processing
//! (softmax, then per class: scores above `score_thresh`, the `topk_candidates` best; class-wise
//! NMS, the `detections_per_img` best). The losses are in [`super::ssd_loss`].
//!
//! The class logits have torchvision's `num_classes` columns, column 0 the background; the
//! targets' and detections' labels here are the dataset's classes `0..C`, column `label + 1`.

use super::box_coder::BoxCoder;
use super::default_boxes::DefaultBoxGenerator;
use super::matcher::{Matcher, BELOW_LOW};
use super::retinanet::{Detections, Forward, Target};
use crate::trainer::backbones::{vgg::SSD_OUT_CHANNELS, SsdVgg};
use crate::trainer::box_ops::{batched_nms, box_iou, clip_boxes_to_image};
use crate::trainer::heads::ssd::SsdHead;
use crate::trainer::losses::Score;
use tch::{nn, Kind, Tensor};

/// Everything that shapes a torchvision SSD300.
#[derive(Debug, Clone, PartialEq)]
pub struct SsdConfig {
    /// Columns of the class logits, background included (torchvision's `num_classes`).
    pub num_classes: i64,
    /// torchvision's `trainable_backbone_layers` (0 to 5).
    pub trainable_layers: u32,
    pub iou_thresh: f64,
    /// Hard negatives per positive (torchvision's `(1 − positive_fraction) / positive_fraction`).
    pub neg_to_pos_ratio: f64,
    pub score_thresh: f64,
    pub nms_thresh: f64,
    pub detections_per_img: i64,
    pub topk_candidates: i64,
}

impl SsdConfig {
    /// `ssd300_vgg16`'s defaults for `classes` object classes (plus the background column).
    pub fn torchvision(classes: i64) -> SsdConfig {
        SsdConfig {
            num_classes: classes + 1,
            trainable_layers: 4,
            iou_thresh: 0.5,
            neg_to_pos_ratio: 3.0,
            score_thresh: 0.01,
            nms_thresh: 0.45,
            detections_per_img: 200,
            topk_candidates: 400,
        }
    }
}

/// torchvision's SSD300 VGG16.
#[derive(Debug)]
pub struct Ssd {
    pub backbone: SsdVgg,
    pub head: SsdHead,
    pub default_boxes: DefaultBoxGenerator,
    pub coder: BoxCoder,
    pub cfg: SsdConfig,
}

impl Ssd {
    /// Registers the parameters under `root` with torchvision's names.
    pub fn new(root: &nn::Path, cfg: &SsdConfig) -> Ssd {
        Self::with_boxes(root, cfg, DefaultBoxGenerator::ssd300())
    }

    /// [`Ssd::new`] with other default boxes.
    pub fn with_boxes(root: &nn::Path, cfg: &SsdConfig, default_boxes: DefaultBoxGenerator) -> Ssd {
        let backbone = SsdVgg::new(&(root / "backbone"), cfg.trainable_layers);
        let head = SsdHead::new(
            &(root / "head"),
            &SSD_OUT_CHANNELS,
            &default_boxes.per_location(),
            cfg.num_classes,
        );
        Ssd {
            backbone,
            head,
            default_boxes,
            coder: BoxCoder::ssd(),
            cfg: cfg.clone(),
        }
    }

    /// The six feature maps and the head's outputs of a normalised 300×300 batch.
    pub fn forward(&self, images: &Tensor) -> Forward {
        let features = self.backbone.forward(images);
        let levels = self.head.forward(&features);
        Forward { features, levels }
    }

    /// The default boxes `[A, 4]` of a batch (the same for every image).
    pub fn anchors(&self, images: &Tensor, features: &[Tensor]) -> Tensor {
        let s = images.size();
        let grids: Vec<(i64, i64)> = features
            .iter()
            .map(|f| (f.size()[2], f.size()[3]))
            .collect();
        self.default_boxes
            .boxes((s[2], s[3]), &grids, images.device())
    }

    /// torchvision's `SSDMatcher`: the matched box of each default box `[A]` (−1 background).
    pub fn match_image(&self, anchors: &Tensor, target: &Target) -> Tensor {
        let a = anchors.size()[0];
        if target.boxes.numel() == 0 {
            return Tensor::full([a], BELOW_LOW, (Kind::Int64, anchors.device()));
        }
        let q = box_iou(&target.boxes, anchors);
        let m = Matcher {
            high: self.cfg.iou_thresh,
            low: self.cfg.iou_thresh,
            allow_low_quality: false,
        };
        let mut matches = m.assign(&q);
        let (_, best) = q.max_dim(1, false);
        let g = Tensor::arange(best.size()[0], (Kind::Int64, anchors.device()));
        let _ = matches.index_put_(&[Some(best)], &g, false);
        matches
    }

    /// torchvision's `postprocess_detections`: detections per image in the batch's pixels,
    /// clipped to each image's resized size. `score` turns the logits into class scores
    /// `[A, C]` ([`class_scores`]).
    pub fn postprocess(
        &self,
        out: &Forward,
        anchors: &Tensor,
        image_sizes: &[(i64, i64)],
        score: Option<Score>,
    ) -> Vec<Detections> {
        let c = &self.cfg;
        let (cls, reg) = out.concat();
        image_sizes
            .iter()
            .enumerate()
            .map(|(i, &(h, w))| {
                let i = i as i64;
                let boxes = self.coder.decode(&reg.get(i), anchors);
                let boxes = clip_boxes_to_image(&boxes, h, w);
                let scores = class_scores(&cls.get(i), score);
                let (mut bx, mut sc, mut lb) = (vec![], vec![], vec![]);
                for label in 0..scores.size()[1] {
                    let s = scores.select(1, label);
                    let keep = s.gt(c.score_thresh);
                    let s = s.masked_select(&keep);
                    let idx = keep.nonzero().squeeze_dim(1);
                    let n = s.size()[0].min(c.topk_candidates);
                    let (s, order) = s.topk(n, 0, true, true);
                    bx.push(boxes.index_select(0, &idx.index_select(0, &order)));
                    lb.push(Tensor::full([n], label, (Kind::Int64, s.device())));
                    sc.push(s);
                }
                let (boxes, scores, labels) = (
                    Tensor::cat(&bx, 0),
                    Tensor::cat(&sc, 0),
                    Tensor::cat(&lb, 0),
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

/// The logits the loss registry sees `[.., C]` of SSD's `[.., 1 + C]`: a softmax-scored loss
/// (CE + OHEM) takes each class relative to the background column, `x_k − x_0`, so that its
/// pinned-at-zero background is torchvision's background logit and its loss and scores are
/// those of the full softmax; a sigmoid-scored loss (focal, AUC-, AP-loss) takes the class
/// columns as they are and the background column takes no part.
pub fn registry_logits(logits: &Tensor, score: Score) -> Tensor {
    let last = logits.dim() as i64 - 1;
    let c = logits.size()[last as usize] - 1;
    let classes = logits.narrow(last, 1, c);
    match score {
        Score::Softmax => classes - logits.narrow(last, 0, 1),
        Score::Sigmoid => classes,
    }
}

/// Class scores `[A, C]` (background dropped) of SSD's logits `[A, 1 + C]`: torchvision's
/// softmax over all columns (`None`), or the registry loss's score of [`registry_logits`].
pub fn class_scores(logits: &Tensor, score: Option<Score>) -> Tensor {
    match score {
        None => {
            let c = logits.size()[1] - 1;
            logits.softmax(1, logits.kind()).narrow(1, 1, c)
        }
        Some(s) => s.probs(&registry_logits(logits, s)),
    }
}
