//! From head outputs to detections: score, threshold, per-level top-k, decode, class-wise NMS,
//! max detections per image. Runs on the host in plain Rust after one copy of the outputs.
//!
//! Score of a (prior, class): RetinaNet `p(cls)`; FCOS with center-ness `sqrt(p(cls) · σ(ctr))`,
//! `p` the classification loss's score function ([`Score`]: `σ` for the sigmoid losses, the
//! softmax with a background logit at 0 for CE + OHEM); the square root is the FCOS
//! repository's test-time form (center-ness down-weights off-centre boxes while the
//! score stays on the scale of a probability, so `score_threshold` keeps its meaning).
//! Candidates with score ≤ `score_threshold` are dropped, the `pre_nms_top_k` best of each level
//! are decoded and clipped to the image, boxes without area are dropped, NMS runs per class
//! (greedy, IoU > `nms_iou` suppressed; libtorch has no NMS), and the `max_detections` best
//! remain. Ties in score are broken by (level, prior, class) order, so the output is
//! deterministic.

use super::layout::Layout;
use super::losses::Score;
use super::model::HeadOutput;
use super::priors::iou;
use crate::eval::Detection;
use crate::spec::config::EvalSpec;
use tch::{Kind, Tensor};

/// One detection of one image: `[x1, y1, x2, y2]`, score, class in `0..C`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Det {
    pub bbox: [f32; 4],
    pub score: f32,
    pub class: usize,
}

fn host(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(
        t.to_device(tch::Device::Cpu)
            .to_kind(Kind::Float)
            .flatten(0, -1),
    )
    .expect("float tensor")
}

/// Detections of every image of a batch.
pub fn detect(
    out: &HeadOutput,
    layout: &Layout,
    spec: &EvalSpec,
    image_size: f32,
    score: Score,
) -> Vec<Vec<Det>> {
    let size = out.cls.size();
    let (b, n, c) = (size[0] as usize, size[1] as usize, size[2] as usize);
    let mut scores = host(&score.probs(&out.cls));
    if let Some(ctr) = &out.ctr {
        let ctr = host(&ctr.sigmoid());
        for (i, s) in scores.iter_mut().enumerate() {
            *s = (*s * ctr[i / c]).sqrt();
        }
    }
    let reg = host(&out.reg);
    (0..b)
        .map(|img| {
            let mut cands = Vec::new();
            for lv in layout.levels() {
                let mut level: Vec<(f32, usize, usize)> = Vec::new();
                for p in lv.start..lv.start + lv.len {
                    for k in 0..c {
                        let s = scores[(img * n + p) * c + k];
                        if s > spec.score_threshold as f32 {
                            level.push((s, p, k));
                        }
                    }
                }
                level.sort_by(|a, b| b.0.total_cmp(&a.0));
                level.truncate(spec.pre_nms_top_k as usize);
                for (score, p, class) in level {
                    let r = &reg[(img * n + p) * 4..][..4];
                    let bx = layout.decode_one([r[0], r[1], r[2], r[3]], layout.priors()[p]);
                    let bbox = bx.map(|v| v.clamp(0.0, image_size));
                    if bbox[2] > bbox[0] && bbox[3] > bbox[1] {
                        cands.push(Det { bbox, score, class });
                    }
                }
            }
            nms(cands, spec.nms_iou as f32, spec.max_detections as usize)
        })
        .collect()
}

/// Class-wise greedy NMS, then the `max_det` best by score (stable: earlier candidates win ties).
pub fn nms(mut cands: Vec<Det>, threshold: f32, max_det: usize) -> Vec<Det> {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Det> = Vec::new();
    for d in cands {
        if keep.len() >= max_det {
            break;
        }
        if keep
            .iter()
            .all(|k| k.class != d.class || iou(&k.bbox, &d.bbox) <= threshold)
        {
            keep.push(d);
        }
    }
    keep
}

/// The detections of which less than `fraction` of the area lies inside any one of `regions`
/// (VisDrone's ignore regions: a detection mostly inside one is neither right nor wrong, so
/// its toolkit removes it before scoring).
pub fn drop_in_regions(dets: Vec<Det>, regions: &[[f32; 4]], fraction: f32) -> Vec<Det> {
    if regions.is_empty() {
        return dets;
    }
    dets.into_iter()
        .filter(|d| {
            let b = d.bbox;
            let area = (b[2] - b[0]) * (b[3] - b[1]);
            regions.iter().all(|r| {
                let iw = (b[2].min(r[2]) - b[0].max(r[0])).max(0.0);
                let ih = (b[3].min(r[3]) - b[1].max(r[1])).max(0.0);
                iw * ih < fraction * area
            })
        })
        .collect()
}

/// COCO records of one image (`image_id`, category `class + 1`, bbox `[x, y, w, h]`).
pub fn records(image_id: u64, dets: &[Det]) -> Vec<Detection> {
    dets.iter()
        .map(|d| {
            let b = d.bbox.map(f64::from);
            Detection {
                image_id,
                category_id: d.class as u64 + 1,
                bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                score: d.score as f64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32, class: usize) -> Det {
        Det {
            bbox: [x, 0.0, x + 10.0, 10.0],
            score,
            class,
        }
    }

    #[test]
    fn nms_is_class_wise_and_keeps_the_best() {
        let d = vec![
            det(0.0, 0.5, 0),
            det(1.0, 0.9, 0),
            det(1.0, 0.8, 1),
            det(30.0, 0.7, 0),
            det(2.0, 0.6, 0),
        ];
        let kept = nms(d, 0.5, 100);
        assert_eq!(
            kept,
            vec![det(1.0, 0.9, 0), det(1.0, 0.8, 1), det(30.0, 0.7, 0)]
        );
        assert_eq!(nms(kept, 0.5, 2).len(), 2);
    }

    #[test]
    fn detections_mostly_inside_an_ignore_region_are_dropped() {
        let region = [[0.0, 0.0, 15.0, 10.0]];
        // 100% inside, 50% inside (at the threshold: dropped), 40% inside, outside.
        let d = vec![
            det(0.0, 0.9, 0),
            det(10.0, 0.8, 0),
            det(11.0, 0.7, 1),
            det(40.0, 0.6, 0),
        ];
        let kept = drop_in_regions(d.clone(), &region, 0.5);
        assert_eq!(kept, vec![d[2], d[3]]);
        assert_eq!(drop_in_regions(d.clone(), &[], 0.5), d);
    }

    /// `eval.score_threshold`: an FCOS prediction that is a perfect box but scores only 0.01
    /// (an undertrained focal model's true positive) is kept at 0.001 and gives AP 1; at the
    /// default 0.05 it is dropped before AP is computed and the image scores AP 0.
    #[test]
    fn a_low_confidence_true_positive_is_kept_at_0_001_and_dropped_at_0_05() {
        use crate::eval::{GroundTruth, GtSet};
        use crate::spec::config::{DetectorSpec, JobConfig};
        let mut cfg = JobConfig::default();
        cfg.model.detector = DetectorSpec::Fcos {
            center_sampling_radius: 1.5,
            centerness: false,
        };
        let layout = Layout::new(&cfg);
        let (n, c) = (layout.priors().len() as i64, 4i64);
        let gt = [20.0f32, 24.0, 52.0, 60.0];
        // The P3 location nearest the box centre predicts the box exactly, at σ(x) = 0.01.
        let centre = [(gt[0] + gt[2]) / 2.0, (gt[1] + gt[3]) / 2.0];
        let p = (0..layout.priors().len())
            .min_by(|&a, &b| {
                let d = |i: usize| {
                    let q = layout.priors()[i];
                    (q[0] - centre[0]).powi(2) + (q[1] - centre[1]).powi(2) + q[2]
                };
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        let q = layout.priors()[p];
        let ltrb = [
            (q[0] - gt[0]) / q[2],
            (q[1] - gt[1]) / q[3],
            (gt[2] - q[0]) / q[2],
            (gt[3] - q[1]) / q[3],
        ];
        let logit = (0.01f64 / 0.99).ln();
        let mut cls = vec![-30.0f32; (n * c) as usize];
        cls[p * c as usize + 2] = logit as f32;
        let mut reg = vec![0.0f32; (n * 4) as usize];
        reg[p * 4..p * 4 + 4].copy_from_slice(&ltrb);
        let out = HeadOutput {
            cls: Tensor::from_slice(&cls).view([1, n, c]),
            reg: Tensor::from_slice(&reg).view([1, n, 4]),
            ctr: None,
            reg_logits: None,
        };
        let truth = GtSet {
            image_ids: vec![1],
            category_ids: vec![1, 2, 3, 4],
            annotations: vec![GroundTruth {
                id: 1,
                image_id: 1,
                category_id: 3,
                bbox: [20.0, 24.0, 32.0, 36.0],
                area: 32.0 * 36.0,
                iscrowd: false,
                difficult: false,
            }],
        };
        let ap_at = |threshold: f64| {
            let spec = EvalSpec {
                score_threshold: threshold,
                ..Default::default()
            };
            let dets = detect(&out, &layout, &spec, 128.0, Score::Sigmoid);
            let rows = records(1, &dets[0]);
            let ap = crate::eval::coco::evaluate(&truth, &rows)
                .unwrap()
                .summary
                .ap;
            (dets[0].clone(), ap)
        };
        let (kept, ap) = ap_at(0.001);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!((kept[0].score - 0.01).abs() < 1e-6 && kept[0].class == 2);
        for (a, b) in kept[0].bbox.iter().zip(gt) {
            assert!((a - b).abs() < 1e-3, "{:?} vs {gt:?}", kept[0].bbox);
        }
        assert!((ap - 1.0).abs() < 1e-9, "AP at 0.001: {ap}");
        let (dropped, ap) = ap_at(0.05);
        assert!(dropped.is_empty(), "{dropped:?}");
        assert_eq!(ap, 0.0, "AP at 0.05");
        assert_eq!(EvalSpec::default().score_threshold, 0.05);
    }
}
