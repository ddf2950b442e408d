//! Phase 1, pycocotools' `computeIoU` + `evaluateImg` for one (category, image) cell, run in
//! parallel over cells. The matching at the top-100 detections also serves maxDets 1 and 10:
//! matching is greedy in score order, so a detection's outcome never depends on the ones after
//! it, and `accumulate` just takes each cell's first `maxDet` results, as the reference does.

use std::ops::Range;

use rayon::prelude::*;

use super::{Params, AREA_RANGES, MAX_DETS};
use crate::eval::index::{Cell, Cells};
use crate::eval::{Detection, GroundTruth, GtSet};

/// The outcome of one kept detection: bit `t` of `tp[a]` is set when it is a true positive at
/// IoU threshold `t` in area range `a`, bit `t` of `ig[a]` when it is ignored there (neither TP
/// nor FP). Neither bit: a false positive.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DetEval {
    pub(super) score: f64,
    pub(super) tp: [u16; 4],
    pub(super) ig: [u16; 4],
}

/// Phase 1 output for all cells, in cell order.
pub(super) struct CellEvals {
    /// Per cell, its range in `dets`: the cell's top `MAX_DETS[2]` detections in score order.
    pub(super) ranges: Vec<Range<usize>>,
    pub(super) dets: Vec<DetEval>,
    /// Per cell and area range, the number of ground truths that are not ignored.
    pub(super) npig: Vec<[u32; 4]>,
}

/// pycocotools' bbox IoU (maskApi.c `bbIou`), same operations in the same order: no +1; a crowd
/// ground truth divides by the detection's area only.
pub(crate) fn bbox_iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let (da, ga) = (d[2] * d[3], g[2] * g[3]);
    let w = (d[2] + d[0]).min(g[2] + g[0]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[3] + d[1]).min(g[3] + g[1]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let u = if crowd { da } else { da + ga - i };
    i / u
}

/// Buffers reused across the cells one rayon job handles.
#[derive(Default)]
struct Scratch {
    /// `ious[d * G + g]`, ground truths in input order.
    ious: Vec<f64>,
    /// Ground truths of one area range, not ignored first (stable): (column in `ious`, crowd,
    /// id is 0).
    order: Vec<(usize, bool, bool)>,
    matched: Vec<bool>,
    /// Per kept detection, its `w * h` (pycocotools' `loadRes` sets a result's area so).
    dt_area: Vec<f64>,
}

/// Runs phase 1 over every cell.
pub(super) fn evaluate_cells(
    gt: &GtSet,
    dts: &[Detection],
    cells: &Cells,
    params: &Params,
) -> CellEvals {
    let mut ranges = Vec::with_capacity(cells.list.len());
    let mut total = 0;
    for c in &cells.list {
        let n = c.dts.len().min(MAX_DETS[2]);
        ranges.push(total..total + n);
        total += n;
    }
    let mut dets = vec![DetEval::default(); total];
    let mut slices = Vec::with_capacity(ranges.len());
    let mut rest = dets.as_mut_slice();
    for r in &ranges {
        let (head, tail) = rest.split_at_mut(r.len());
        slices.push(head);
        rest = tail;
    }
    let npig = cells
        .list
        .par_iter()
        .zip(slices.into_par_iter())
        .map_init(Scratch::default, |s, (cell, out)| {
            let g: Vec<&GroundTruth> = cells.gt_order[cell.gts.clone()]
                .iter()
                .map(|&i| &gt.annotations[i as usize])
                .collect();
            let d: Vec<&Detection> = cells.dt_order[cell_dts(cell, out.len())]
                .iter()
                .map(|&i| &dts[i as usize])
                .collect();
            evaluate_cell(&g, &d, params, s, out)
        })
        .collect();
    CellEvals { ranges, dets, npig }
}

/// The kept detections of a cell: the first `n` of its score-ordered range.
fn cell_dts(cell: &Cell, n: usize) -> Range<usize> {
    cell.dts.start..cell.dts.start + n
}

/// `evaluateImg` for one cell at every area range: `gts` in input order, `dts` the kept ones in
/// score order. Fills `out` (one entry per detection) and returns the non-ignored counts.
fn evaluate_cell(
    gts: &[&GroundTruth],
    dts: &[&Detection],
    params: &Params,
    s: &mut Scratch,
    out: &mut [DetEval],
) -> [u32; 4] {
    let ng = gts.len();
    s.ious.clear();
    for d in dts {
        s.ious
            .extend(gts.iter().map(|g| bbox_iou(&d.bbox, &g.bbox, g.iscrowd)));
    }
    s.dt_area.clear();
    s.dt_area.extend(dts.iter().map(|d| d.bbox[2] * d.bbox[3]));
    for (o, d) in out.iter_mut().zip(dts) {
        *o = DetEval {
            score: d.score,
            ..DetEval::default()
        };
    }

    let mut npig = [0u32; 4];
    for (a, &[lo, hi]) in AREA_RANGES.iter().enumerate() {
        // `_ignore`: crowd, or the annotation's own `area` outside [lo, hi].
        let ignored = |g: &GroundTruth| g.iscrowd || g.area < lo || g.area > hi;
        s.order.clear();
        for pass_ignored in [false, true] {
            for (j, g) in gts.iter().enumerate() {
                if ignored(g) == pass_ignored {
                    s.order.push((j, g.iscrowd, g.id == 0));
                }
            }
        }
        let n_kept = gts.iter().filter(|g| !ignored(g)).count();
        npig[a] = n_kept as u32;

        for (t, &thr) in params.iou_thrs.iter().enumerate() {
            let bit = 1u16 << t;
            s.matched.clear();
            s.matched.resize(ng, false);
            for (di, o) in out.iter_mut().enumerate() {
                let row = &s.ious[di * ng..(di + 1) * ng];
                let mut best = thr.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                for (pos, &(col, crowd, _)) in s.order.iter().enumerate() {
                    // A matched ground truth is taken, unless it is a crowd region.
                    if s.matched[pos] && !crowd {
                        continue;
                    }
                    // Once matched to a regular ground truth, ignored ones (sorted last) can't win.
                    if m.is_some_and(|mp| mp < n_kept) && pos >= n_kept {
                        break;
                    }
                    // `>=`: a later ground truth with an equal IoU takes the match.
                    if row[col] < best {
                        continue;
                    }
                    best = row[col];
                    m = Some(pos);
                }
                let outside = s.dt_area[di] < lo || s.dt_area[di] > hi;
                match m {
                    Some(mp) => {
                        s.matched[mp] = true;
                        let gt_ignored = mp >= n_kept;
                        // The reference records the matched annotation's id and tests `dtm == 0`
                        // for "unmatched", so a match to id 0 is no match (but still takes it).
                        let id_zero = s.order[mp].2;
                        if gt_ignored || (id_zero && outside) {
                            o.ig[a] |= bit;
                        } else if !id_zero {
                            o.tp[a] |= bit;
                        }
                    }
                    // An unmatched detection outside the area range is ignored.
                    None if outside => o.ig[a] |= bit,
                    None => {}
                }
            }
        }
    }
    npig
}
