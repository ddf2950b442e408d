//! RetinaNet anchors and IoU assignment (Lin et al., "Focal Loss for Dense Object Detection",
//! ICCV 2017, Section 4 "RetinaNet Detector").
//!
//! Anchors: at every location of a level with stride `s` (centre `s · (i + ½)`), for
//! `k in 0..scales_per_octave` and each aspect ratio `r = h / w`, an anchor of side
//! `anchor_scale · s · 2^(k / scales_per_octave)` and area side², i.e. `w = side / √r`,
//! `h = side · √r`. Order per location: scale-major, then ratio (the head's `A` channels).
//!
//! Assignment: each anchor takes the ground-truth box of highest IoU; it is positive when that IoU
//! ≥ `pos_iou`, background below `neg_iou`, ignored in between. Then every box also claims the
//! anchors whose IoU with it equals its own best IoU (> 0), as in Detectron/mmdetection
//! (`allow_low_quality_matches`), so that every box has a positive even when it is much smaller
//! than the anchors. Encoding (regression weights 1, 1, 1, 1 as in Detectron's RetinaNet):
//! `dx = (gx − ax) / aw, dy = (gy − ay) / ah, dw = ln(gw / aw), dh = ln(gh / ah)` with centres
//! and sizes of the ground truth `g` and anchor `a`.

use super::priors::{iou, levels, Assignment, Level};
use super::synth::Object;

#[derive(Debug)]
pub struct Retina {
    pub levels: Vec<Level>,
    /// `[cx, cy, w, h]` per anchor.
    pub priors: Vec<[f32; 4]>,
    /// The same anchors as `[x1, y1, x2, y2]`.
    corners: Vec<[f32; 4]>,
    pub per_cell: usize,
    pos_iou: f32,
    neg_iou: f32,
}

impl Retina {
    pub fn new(
        size: usize,
        anchor_scale: f64,
        scales: u32,
        ratios: &[f64],
        pos_iou: f64,
        neg_iou: f64,
    ) -> Retina {
        let per_cell = scales.max(1) as usize * ratios.len().max(1);
        let levels = levels(size, per_cell);
        let mut priors = Vec::new();
        for l in &levels {
            let shapes: Vec<(f32, f32)> = (0..scales.max(1))
                .flat_map(|k| {
                    let side =
                        anchor_scale * l.stride as f64 * 2f64.powf(k as f64 / scales.max(1) as f64);
                    ratios
                        .iter()
                        .map(move |r| ((side / r.sqrt()) as f32, (side * r.sqrt()) as f32))
                })
                .collect();
            for y in 0..l.side {
                for x in 0..l.side {
                    let (cx, cy) = (l.stride * (x as f32 + 0.5), l.stride * (y as f32 + 0.5));
                    priors.extend(shapes.iter().map(|&(w, h)| [cx, cy, w, h]));
                }
            }
        }
        let corners = priors
            .iter()
            .map(|p| {
                [
                    p[0] - p[2] / 2.0,
                    p[1] - p[3] / 2.0,
                    p[0] + p[2] / 2.0,
                    p[1] + p[3] / 2.0,
                ]
            })
            .collect();
        Retina {
            levels,
            priors,
            corners,
            per_cell,
            pos_iou: pos_iou as f32,
            neg_iou: neg_iou as f32,
        }
    }

    /// Appends the targets of one image (positions relative to the image) to `a`.
    pub fn assign_image(&self, objs: &[Object], a: &mut Assignment) {
        let n = self.priors.len();
        let mut matched: Vec<Option<usize>> = vec![None; n];
        let mut labels = vec![0i64; n];
        let mut gt_best = vec![0f32; objs.len()];
        let mut ious = vec![0f32; n * objs.len()];
        for (i, c) in self.corners.iter().enumerate() {
            let row = &mut ious[i * objs.len()..(i + 1) * objs.len()];
            let mut best = (0f32, None);
            for (g, o) in objs.iter().enumerate() {
                row[g] = iou(c, &o.bbox);
                gt_best[g] = gt_best[g].max(row[g]);
                if row[g] > best.0 {
                    best = (row[g], Some(g));
                }
            }
            if best.0 >= self.pos_iou {
                matched[i] = best.1;
            } else if best.0 >= self.neg_iou {
                labels[i] = -1;
            }
        }
        for (g, &b) in gt_best.iter().enumerate() {
            if b <= 0.0 {
                continue;
            }
            for i in 0..n {
                if ious[i * objs.len() + g] == b {
                    matched[i] = Some(g);
                }
            }
        }
        for (i, m) in matched.iter().enumerate() {
            let Some(g) = *m else {
                a.labels.push(labels[i]);
                continue;
            };
            a.labels.push(objs[g].class as i64 + 1);
            let (p, b) = (self.priors[i], objs[g].bbox);
            let (gw, gh) = (b[2] - b[0], b[3] - b[1]);
            let (gx, gy) = (b[0] + gw / 2.0, b[1] + gh / 2.0);
            a.pos.push(i as i64);
            a.prior.push(i as i64);
            a.boxes.extend_from_slice(&b);
            a.encoded.extend_from_slice(&[
                (gx - p[0]) / p[2],
                (gy - p[1]) / p[3],
                (gw / p[2]).ln(),
                (gh / p[3]).ln(),
            ]);
            a.weight.push(1.0);
        }
    }
}
