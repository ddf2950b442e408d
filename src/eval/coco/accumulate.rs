//! Phase 2, pycocotools' `accumulate` per category, in parallel over categories: rank the
//! detections of all images by score, build the precision/recall curve at each IoU threshold,
//! area range and maxDets, and sample it at the recall thresholds.

use std::ops::Range;

use rayon::prelude::*;

use super::image::CellEvals;
use super::{Params, AREA_RANGES, MAX_DETS};
use crate::eval::index::Cells;
use crate::eval::numeric::SPACING_1;

const A: usize = AREA_RANGES.len();
const M: usize = MAX_DETS.len();

/// One category's curves: precision `[T, R, A, M]` and recall `[T, A, M]`, -1 where the category
/// has no (non-ignored) ground truth in the area range.
pub(super) struct Curves {
    precision: Vec<f64>,
    recall: Vec<f64>,
    r: usize,
}

impl Curves {
    pub(super) fn precision_at(&self, t: usize, r: usize, a: usize, m: usize) -> f64 {
        self.precision[((t * self.r + r) * A + a) * M + m]
    }

    pub(super) fn recall_at(&self, t: usize, a: usize, m: usize) -> f64 {
        self.recall[(t * A + a) * M + m]
    }
}

/// A detection of the category with its rank inside its own image.
#[derive(Clone, Copy)]
struct Ranked {
    score: f64,
    rank: usize,
    tp: [u16; 4],
    ig: [u16; 4],
}

/// Runs phase 2 for every category, in category order.
pub(super) fn accumulate(cells: &Cells, evals: &CellEvals, params: &Params) -> Vec<Curves> {
    cells
        .category_ranges()
        .into_par_iter()
        .map(|cr| accumulate_category(cr, evals, params))
        .collect()
}

fn accumulate_category(cell_range: Range<usize>, evals: &CellEvals, p: &Params) -> Curves {
    let (t_n, r_n) = (p.iou_thrs.len(), p.rec_thrs.len());
    let mut curves = Curves {
        precision: vec![-1.0; t_n * r_n * A * M],
        recall: vec![-1.0; t_n * A * M],
        r: r_n,
    };

    let mut npig = [0u64; A];
    let mut all = Vec::new();
    for c in cell_range {
        for (a, n) in npig.iter_mut().enumerate() {
            *n += u64::from(evals.npig[c][a]);
        }
        let dets = &evals.dets[evals.ranges[c].clone()];
        all.extend(dets.iter().enumerate().map(|(rank, d)| Ranked {
            score: d.score,
            rank,
            tp: d.tp,
            ig: d.ig,
        }));
    }
    // Cells are in image order and each cell's detections in score order, so a stable sort on
    // -score reproduces `np.argsort(-dtScores, kind='mergesort')` over the concatenation.
    all.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .expect("scores were checked finite")
    });

    let (mut rc, mut pr) = (Vec::new(), Vec::new());
    for (m, &max_det) in MAX_DETS.iter().enumerate() {
        // Each image contributes its first `max_det` detections; filtering the ranked list keeps
        // the same relative order as ranking the truncated lists.
        let kept: Vec<Ranked> = all.iter().filter(|d| d.rank < max_det).copied().collect();
        for (a, &np) in npig.iter().enumerate() {
            if np == 0 {
                continue;
            }
            let np = np as f64;
            for t in 0..t_n {
                let bit = 1u16 << t;
                rc.clear();
                pr.clear();
                let (mut tp, mut fp) = (0u64, 0u64);
                for d in &kept {
                    // An ignored detection adds a point equal to the previous one, which changes
                    // neither the envelope nor where searchsorted lands: skip it.
                    if d.ig[a] & bit != 0 {
                        continue;
                    }
                    if d.tp[a] & bit != 0 {
                        tp += 1;
                    } else {
                        fp += 1;
                    }
                    let (tpf, fpf) = (tp as f64, fp as f64);
                    rc.push(tpf / np);
                    pr.push(tpf / (fpf + tpf + SPACING_1));
                }
                curves.recall[(t * A + a) * M + m] = rc.last().copied().unwrap_or(0.0);
                // Precision envelope, right to left.
                for i in (1..pr.len()).rev() {
                    if pr[i] > pr[i - 1] {
                        pr[i - 1] = pr[i];
                    }
                }
                // `np.searchsorted(rc, recThrs, side='left')`; past the end the rest stays 0.
                let mut j = 0;
                for (ri, &r) in p.rec_thrs.iter().enumerate() {
                    while j < rc.len() && rc[j] < r {
                        j += 1;
                    }
                    let q = if j < rc.len() { pr[j] } else { 0.0 };
                    curves.precision[((t * r_n + ri) * A + a) * M + m] = q;
                }
            }
        }
    }
    curves
}
