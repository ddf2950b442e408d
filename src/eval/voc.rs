//! Pascal VOC evaluation, the logic of the standard `voc_eval.py` (py-faster-rcnn, also used by
//! detectron2 and mmdetection) with its arithmetic in the same order, so that our numbers equal
//! it to the last bit (`tests/golden_coco.py` holds a copy of it):
//! - a detection is a TP when its best IoU with a ground truth of its image and class is
//!   `> 0.5` (strictly), that ground truth is not difficult and not yet taken; a match to a
//!   difficult one is neither TP nor FP; everything else is a FP;
//! - IoU with the +1 pixel convention: widths are `x2 - x1 + 1`;
//! - VOC2007: 11-point interpolated AP; VOC2010+: area under the precision envelope.
//!
//! Boxes are COCO `[x, y, w, h]` in continuous coordinates; they become VOC's inclusive pixel
//! boxes as `(x1, y1, x2, y2) = (x + 1, y + 1, x + w, y + h)` (detectron2's convention: it
//! loads VOC XML with `xmin - 1, ymin - 1` and writes results with `+ 1`). So a box read from VOC
//! XML as `(xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1)` gets back exactly its XML
//! coordinates, and a box's VOC width is its `w`.
//!
//! Choices: crowd annotations count as difficult (VOC has no crowd; mmdetection's converter
//! stores `difficult` as `iscrowd`); detections are ranked by score with ties in input order
//! (voc_eval's `np.argsort(-confidence)` is an unstable quicksort); a category without
//! non-difficult ground truth has AP -1 and is left out of the mean (voc_eval divides by 0).

use rayon::prelude::*;
use serde::Serialize;

use super::index::Cells;
use super::numeric::pairwise_sum;
use super::{Detection, EvalError, GtSet};

/// Which AP: VOC2007's 11-point interpolation or VOC2010+'s area under the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocProtocol {
    /// VOC2007: mean of the interpolated precision at recall 0, 0.1, ..., 1.
    Voc07,
    /// VOC2010 and later: area under the monotone precision envelope.
    Voc,
}

/// mAP and AP per category id (sorted), -1 for a category without non-difficult ground truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VocResult {
    /// Mean over the categories that have non-difficult ground truth; -1 if none has.
    pub map: f64,
    /// `(category id, AP)` in id order.
    pub per_category_ap: Vec<(u64, f64)>,
}

impl VocResult {
    /// `{"mAP": .., "per_category": {"<category id>": ap, ..}}`, categories in id order.
    pub fn to_json(&self) -> String {
        let num = |v: f64| serde_json::to_string(&v).expect("a float always serializes");
        let per: Vec<String> = self
            .per_category_ap
            .iter()
            .map(|(id, ap)| format!("\"{id}\":{}", num(*ap)))
            .collect();
        format!(
            "{{\"mAP\":{},\"per_category\":{{{}}}}}",
            num(self.map),
            per.join(",")
        )
    }

    /// One line per category and the mean, without a trailing newline.
    pub fn to_text(&self, p: VocProtocol) -> String {
        let name = match p {
            VocProtocol::Voc07 => "VOC2007 11-point AP, IoU > 0.5",
            VocProtocol::Voc => "VOC2010+ all-point AP, IoU > 0.5",
        };
        let mut lines = vec![name.to_string()];
        for (id, ap) in &self.per_category_ap {
            lines.push(format!("  category {id:>6}: {ap:.4}"));
        }
        lines.push(format!("mAP = {:.4}", self.map));
        lines.join("\n")
    }
}

/// `voc_eval` for every category of `gt`, and their mean.
pub fn evaluate(gt: &GtSet, dts: &[Detection], p: VocProtocol) -> Result<VocResult, EvalError> {
    let cells = Cells::build(gt, dts)?;
    let ranges = cells.category_ranges();
    let aps: Vec<f64> = ranges
        .into_par_iter()
        .map(|cr| category_ap(gt, dts, &cells, cr, p))
        .collect();
    let defined: Vec<f64> = aps.iter().copied().filter(|&ap| ap != -1.0).collect();
    // `np.mean(aps)`: numpy's pairwise sum over the categories, then divide.
    let map = if defined.is_empty() {
        -1.0
    } else {
        pairwise_sum(&defined) / defined.len() as f64
    };
    let ids = cells.catalog.categories.ids();
    Ok(VocResult {
        map,
        per_category_ap: ids.iter().copied().zip(aps).collect(),
    })
}

/// VOC's inclusive pixel box from COCO `[x, y, w, h]` (see the module doc).
fn voc_box(b: &[f64; 4]) -> [f64; 4] {
    [b[0] + 1.0, b[1] + 1.0, b[0] + b[2], b[1] + b[3]]
}

fn category_ap(
    gt: &GtSet,
    dts: &[Detection],
    cells: &Cells,
    cell_range: std::ops::Range<usize>,
    p: VocProtocol,
) -> f64 {
    let cat_cells = &cells.list[cell_range];
    let difficult = |i: u32| {
        let a = &gt.annotations[i as usize];
        a.difficult || a.iscrowd
    };
    let npos = cat_cells
        .iter()
        .flat_map(|c| &cells.gt_order[c.gts.clone()])
        .filter(|&&i| !difficult(i))
        .count();
    if npos == 0 {
        return -1.0;
    }
    // Detections of the category across images: (score, input position, cell).
    let mut order: Vec<(f64, u32, usize)> = Vec::new();
    for (ci, c) in cat_cells.iter().enumerate() {
        for &d in &cells.dt_order[c.dts.clone()] {
            order.push((dts[d as usize].score, d, ci));
        }
    }
    order.sort_unstable_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .expect("scores were checked finite")
            .then(a.1.cmp(&b.1))
    });
    // `R['det']`: taken flags, indexed like `cells.gt_order`.
    let mut taken = vec![false; cells.gt_order.len()];
    let (mut tp, mut fp) = (
        Vec::with_capacity(order.len()),
        Vec::with_capacity(order.len()),
    );
    for &(_, d, ci) in &order {
        let bb = voc_box(&dts[d as usize].bbox);
        let gts = cat_cells[ci].gts.clone();
        let mut ovmax = f64::NEG_INFINITY;
        let mut jmax = 0;
        for j in gts.clone() {
            let g = voc_box(&gt.annotations[cells.gt_order[j] as usize].bbox);
            let iw = ((g[2].min(bb[2]) - g[0].max(bb[0])) + 1.0).max(0.0);
            let ih = ((g[3].min(bb[3]) - g[1].max(bb[1])) + 1.0).max(0.0);
            let inters = iw * ih;
            let uni = ((bb[2] - bb[0] + 1.0) * (bb[3] - bb[1] + 1.0)
                + (g[2] - g[0] + 1.0) * (g[3] - g[1] + 1.0))
                - inters;
            let ov = inters / uni;
            // np.max propagates NaN (and NaN > 0.5 is false: a FP); np.argmax takes the first max.
            if ov.is_nan() {
                ovmax = f64::NAN;
                break;
            }
            if ov > ovmax {
                ovmax = ov;
                jmax = j;
            }
        }
        let (mut t, mut f) = (0.0, 0.0);
        if ovmax > 0.5 {
            if !difficult(cells.gt_order[jmax]) {
                if !taken[jmax] {
                    t = 1.0;
                    taken[jmax] = true;
                } else {
                    f = 1.0;
                }
            }
        } else {
            f = 1.0;
        }
        tp.push(t);
        fp.push(f);
    }
    // Cumulative sums of 0/1 floats are exact counts, as `np.cumsum` gives.
    let (mut ctp, mut cfp) = (0.0, 0.0);
    let mut rec = Vec::with_capacity(tp.len());
    let mut prec = Vec::with_capacity(tp.len());
    for (t, f) in tp.into_iter().zip(fp) {
        ctp += t;
        cfp += f;
        rec.push(ctp / npos as f64);
        prec.push(ctp / (ctp + cfp).max(f64::EPSILON));
    }
    voc_ap(&rec, &prec, p)
}

/// `voc_ap(rec, prec, use_07_metric)`.
fn voc_ap(rec: &[f64], prec: &[f64], p: VocProtocol) -> f64 {
    match p {
        VocProtocol::Voc07 => {
            let mut ap = 0.0;
            // `np.arange(0., 1.1, 0.1)`: numpy fills `start + i * delta`, 11 values.
            for i in 0..11 {
                let t = i as f64 * 0.1;
                let mut pmax: Option<f64> = None;
                for (&r, &q) in rec.iter().zip(prec) {
                    if r >= t {
                        pmax = Some(pmax.map_or(q, |m: f64| m.max(q)));
                    }
                }
                ap += pmax.unwrap_or(0.0) / 11.0;
            }
            ap
        }
        VocProtocol::Voc => {
            let mut mrec = Vec::with_capacity(rec.len() + 2);
            mrec.push(0.0);
            mrec.extend_from_slice(rec);
            mrec.push(1.0);
            let mut mpre = Vec::with_capacity(prec.len() + 2);
            mpre.push(0.0);
            mpre.extend_from_slice(prec);
            mpre.push(0.0);
            for i in (1..mpre.len()).rev() {
                mpre[i - 1] = mpre[i - 1].max(mpre[i]);
            }
            let terms: Vec<f64> = (0..mrec.len() - 1)
                .filter(|&i| mrec[i + 1] != mrec[i])
                .map(|i| (mrec[i + 1] - mrec[i]) * mpre[i + 1])
                .collect();
            pairwise_sum(&terms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::GroundTruth;

    fn gt(id: u64, bbox: [f64; 4], difficult: bool) -> GroundTruth {
        let area = bbox[2] * bbox[3];
        GroundTruth {
            id,
            image_id: 1,
            category_id: 1,
            bbox,
            area,
            iscrowd: false,
            difficult,
        }
    }

    fn dt(bbox: [f64; 4], score: f64) -> Detection {
        Detection {
            image_id: 1,
            category_id: 1,
            bbox,
            score,
        }
    }

    fn set(anns: Vec<GroundTruth>) -> GtSet {
        GtSet {
            image_ids: vec![1],
            category_ids: vec![1],
            annotations: anns,
        }
    }

    #[test]
    fn one_hit_one_duplicate_one_miss() {
        // Two GTs; dets by score: exact hit on A (TP), duplicate on A (FP), nothing (FP).
        // tp = [1, 1, 1], fp = [0, 1, 2]; rec = [.5, .5, .5]; prec = [1, .5, 1/3].
        // VOC2010+: mrec = [0, .5, .5, .5, 1], envelope mpre = [1, 1, .5, 1/3, 0]:
        // AP = .5 * 1 + .5 * 0 = 0.5. VOC07: t = 0 .. 0.5 (6 points, 0.5 included since
        // 5 * 0.1 == 0.5) take max prec 1, t = 0.6 .. 1 take 0: AP = 6 / 11.
        let g = set(vec![
            gt(1, [0.0, 0.0, 10.0, 10.0], false),
            gt(2, [50.0, 50.0, 10.0, 10.0], false),
        ]);
        let d = vec![
            dt([0.0, 0.0, 10.0, 10.0], 0.9),
            dt([0.0, 0.0, 10.0, 10.0], 0.8),
            dt([100.0, 100.0, 5.0, 5.0], 0.7),
        ];
        assert_eq!(evaluate(&g, &d, VocProtocol::Voc).expect("valid").map, 0.5);
        let ap07 = evaluate(&g, &d, VocProtocol::Voc07).expect("valid").map;
        assert_eq!(ap07, (0..6).fold(0.0, |acc, _| acc + 1.0 / 11.0));
    }

    #[test]
    fn difficult_is_neither_tp_nor_fp_and_strict_half_iou_misses() {
        // A difficult GT hit by the top det: ignored. The other det overlaps the regular GT
        // [0, 0, 10, 10] with [5, 0, 15, 10] in VOC pixels: inter = (10 - 6 + 1) * 10 = 50,
        // union = 100 + 100 - 50 = 150 -> 1/3, a miss. tp = [0], fp = [1] after the ignored one.
        let g = set(vec![
            gt(1, [0.0, 0.0, 10.0, 10.0], false),
            gt(2, [50.0, 50.0, 10.0, 10.0], true),
        ]);
        let d = vec![
            dt([50.0, 50.0, 10.0, 10.0], 0.9),
            dt([5.0, 0.0, 10.0, 10.0], 0.8),
        ];
        let r = evaluate(&g, &d, VocProtocol::Voc).expect("valid");
        assert_eq!(r.map, 0.0);
        // IoU exactly 0.5 is not > 0.5: [0,0,10,10] vs [0,0,10,5]: inter 50 / union 100.
        let g = set(vec![gt(1, [0.0, 0.0, 10.0, 10.0], false)]);
        let d = vec![dt([0.0, 0.0, 10.0, 5.0], 0.9)];
        assert_eq!(evaluate(&g, &d, VocProtocol::Voc).expect("valid").map, 0.0);
    }

    #[test]
    fn category_without_ground_truth_is_left_out() {
        let mut g = set(vec![gt(1, [0.0, 0.0, 10.0, 10.0], false)]);
        g.category_ids.push(2);
        let d = vec![dt([0.0, 0.0, 10.0, 10.0], 0.9)];
        let r = evaluate(&g, &d, VocProtocol::Voc).expect("valid");
        assert_eq!(r.per_category_ap, vec![(1, 1.0), (2, -1.0)]);
        assert_eq!(r.map, 1.0);
        assert_eq!(
            r.to_json(),
            r#"{"mAP":1.0,"per_category":{"1":1.0,"2":-1.0}}"#
        );
    }
}
