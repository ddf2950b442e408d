//! COCO bbox evaluation, equal to pycocotools 2.0.11 `COCOeval(gt, dt, 'bbox')` followed by
//! `evaluate(); accumulate(); summarize()`.
//!
//! Two phases, as in the reference, each parallel with rayon:
//! 1. [`image`]: per (category, image) cell, the top 100 detections by score are matched
//!    greedily to the ground truth at each IoU threshold and area range (`evaluateImg`).
//! 2. [`accumulate`]: per category, the detections of all images are ranked by score and turned
//!    into precision/recall curves sampled at 101 recall points (`accumulate`).
//!
//! [`summary`] averages them into the 12 numbers (`summarize`). Memory is linear in the number of
//! detections (no K x A x I table of per-image records as in the reference).
//!
//! Choices where pycocotools has no answer: an empty detection list is "nothing detected" (its
//! `loadRes` raises on `[]`); annotations and detections must name images and categories the
//! ground truth lists (pycocotools asserts for images and silently drops unknown categories);
//! annotation ids must be unique (pycocotools would evaluate a duplicated id's last annotation twice).

mod accumulate;
mod bootstrap;
mod image;
mod summary;
#[cfg(test)]
mod tests;

use serde::Serialize;

use super::index::Cells;
use super::numeric::{coco_iou_thresholds, coco_recall_thresholds, mean_defined};
use super::{Detection, EvalError, GtSet};

pub use bootstrap::{image_bootstrap, ImageBootstrap, VAL_BOOTSTRAP_RESAMPLES, VAL_BOOTSTRAP_SEED};
pub use summary::CocoSummary;

/// Area range labels, in the order of the `A` axis.
pub const AREA_LABELS: [&str; 4] = ["all", "small", "medium", "large"];

/// Area ranges `[lo, hi]`, both inclusive, on the annotation's `area` field and on a detection's
/// `w * h`: pycocotools' `[0, 1e5**2]`, `[0, 32**2]`, `[32**2, 96**2]`, `[96**2, 1e5**2]`.
pub const AREA_RANGES: [[f64; 2]; 4] =
    [[0.0, 1e10], [0.0, 1024.0], [1024.0, 9216.0], [9216.0, 1e10]];

/// Detections kept per image and category, in the order of the `M` axis.
pub const MAX_DETS: [usize; 3] = [1, 10, 100];

/// Everything `accumulate` computes, plus the summary.
#[derive(Debug, Clone, Serialize)]
pub struct CocoResult {
    /// The 12 numbers pycocotools' `summarize` prints.
    pub summary: CocoSummary,
    /// AP@[.50:.95], all areas, 100 detections, per category id (sorted), -1 without ground truth
    /// (as detectron2 reports it: mean of `precision[:, :, k, 0, 2]` over entries > -1).
    pub per_category_ap: Vec<(u64, f64)>,
    /// `T` values: .50:.05:.95 as numpy's linspace makes them.
    pub iou_thresholds: Vec<f64>,
    /// `R` values: 0:.01:1 as numpy's linspace makes them.
    pub recall_thresholds: Vec<f64>,
    /// `K` values: the ground truth's category ids, sorted.
    pub category_ids: Vec<u64>,
    /// `[T, R, K, A, M]`, row-major, -1 where the category has no ground truth in that area range.
    pub precision: Vec<f64>,
    /// `[T, R, K, A, M]`: thresholds, recall points, categories, area ranges, maxDets.
    pub precision_shape: [usize; 5],
    /// `[T, K, A, M]`, row-major, -1 as for `precision`.
    pub recall: Vec<f64>,
    /// `[T, K, A, M]`.
    pub recall_shape: [usize; 4],
}

impl CocoResult {
    /// `precision[t, r, k, a, m]`.
    pub fn precision_at(&self, t: usize, r: usize, k: usize, a: usize, m: usize) -> f64 {
        let [_, nr, nk, na, nm] = self.precision_shape;
        self.precision[(((t * nr + r) * nk + k) * na + a) * nm + m]
    }

    /// `recall[t, k, a, m]`.
    pub fn recall_at(&self, t: usize, k: usize, a: usize, m: usize) -> f64 {
        let [_, nk, na, nm] = self.recall_shape;
        self.recall[((t * nk + k) * na + a) * nm + m]
    }
}

/// Evaluation parameters: pycocotools' defaults for bbox, fixed.
pub(crate) struct Params {
    pub(crate) iou_thrs: Vec<f64>,
    pub(crate) rec_thrs: Vec<f64>,
}

/// Evaluates `dts` against `gt` as pycocotools' COCOeval (bbox) does. See the module doc for the
/// few inputs where the reference has no answer.
pub fn evaluate(gt: &GtSet, dts: &[Detection]) -> Result<CocoResult, EvalError> {
    let params = Params {
        iou_thrs: coco_iou_thresholds(),
        rec_thrs: coco_recall_thresholds(),
    };
    let cells = Cells::build(gt, dts)?;
    let evals = image::evaluate_cells(gt, dts, &cells, &params);
    let curves = accumulate::accumulate(&cells, &evals, &params);

    let (t, r) = (params.iou_thrs.len(), params.rec_thrs.len());
    let (k, a, m) = (
        cells.catalog.categories.len(),
        AREA_RANGES.len(),
        MAX_DETS.len(),
    );
    let mut precision = vec![-1.0; t * r * k * a * m];
    let mut recall = vec![-1.0; t * k * a * m];
    for (ki, c) in curves.iter().enumerate() {
        for ti in 0..t {
            for ai in 0..a {
                for mi in 0..m {
                    recall[((ti * k + ki) * a + ai) * m + mi] = c.recall_at(ti, ai, mi);
                    for ri in 0..r {
                        precision[(((ti * r + ri) * k + ki) * a + ai) * m + mi] =
                            c.precision_at(ti, ri, ai, mi);
                    }
                }
            }
        }
    }

    let category_ids = cells.catalog.categories.ids().to_vec();
    let mut result = CocoResult {
        summary: CocoSummary::default(),
        per_category_ap: Vec::new(),
        iou_thresholds: params.iou_thrs.clone(),
        recall_thresholds: params.rec_thrs.clone(),
        category_ids: category_ids.clone(),
        precision,
        precision_shape: [t, r, k, a, m],
        recall,
        recall_shape: [t, k, a, m],
    };
    result.summary = CocoSummary::from_result(&result);
    result.per_category_ap = category_ids
        .iter()
        .enumerate()
        .map(|(ki, &id)| {
            let all = (0..t).flat_map(|ti| (0..r).map(move |ri| (ti, ri)));
            let ap = mean_defined(all.map(|(ti, ri)| result.precision_at(ti, ri, ki, 0, 2)));
            (id, ap)
        })
        .collect();
    Ok(result)
}
