//! Val-set noise: COCO AP and AP50 over bootstrap resamples of the val images (drawn with
//! replacement, seeded: [`crate::stats::Resampler`]). A resample is evaluated as pycocotools
//! would evaluate the multiset with each drawn image's copies listed next to each other in id
//! order; phase 1 (per-image matching) does not depend on the other images, so it runs once and
//! each resample only re-accumulates with every image weighted by its number of copies. (The
//! copies of a detection tie in score and agree in outcome, and merging their points changes
//! neither the precision envelope nor where a recall threshold lands.)

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::image::{evaluate_cells, CellEvals};
use super::{Params, MAX_DETS};
use crate::eval::index::Cells;
use crate::eval::numeric::{coco_iou_thresholds, coco_recall_thresholds, SPACING_1};
use crate::eval::{Detection, EvalError, GtSet};
use crate::stats::Resampler;

/// Resamples a job's val-set bootstrap draws.
pub const VAL_BOOTSTRAP_RESAMPLES: usize = 1000;
/// Its seed: the same for every job, so the replicates of two jobs come from the same image
/// multisets and their differences pair up.
pub const VAL_BOOTSTRAP_SEED: u64 = 0;

/// AP and AP50 (all areas, 100 detections) of each resample, in draw order; -1 when no drawn
/// image has ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBootstrap {
    pub resamples: usize,
    pub seed: u64,
    pub ap: Vec<f64>,
    pub ap50: Vec<f64>,
}

/// One category's detections in accumulate order, and its ground truth per image.
struct Category {
    /// (image, tp bits, ig bits) at area range "all", best score first.
    dets: Vec<(u32, u16, u16)>,
    /// (image, non-ignored ground truths).
    gts: Vec<(u32, u32)>,
}

pub fn image_bootstrap(
    gt: &GtSet,
    dts: &[Detection],
    resamples: usize,
    seed: u64,
) -> Result<ImageBootstrap, EvalError> {
    let params = Params {
        iou_thrs: coco_iou_thresholds(),
        rec_thrs: coco_recall_thresholds(),
    };
    let cells = Cells::build(gt, dts)?;
    let evals = evaluate_cells(gt, dts, &cells, &params);
    let categories: Vec<Category> = cells
        .category_ranges()
        .into_iter()
        .map(|range| category(&cells, &evals, range))
        .collect();
    let n = cells.catalog.images.len();
    let mut r = Resampler::new(seed, n);
    let draws: Vec<Vec<usize>> = (0..resamples).map(|_| r.next_indices()).collect();
    let (ap, ap50): (Vec<f64>, Vec<f64>) = draws
        .par_iter()
        .map(|idx| {
            let mut w = vec![0u32; n];
            for &i in idx {
                w[i] += 1;
            }
            scores(&categories, &w, &params)
        })
        .unzip();
    Ok(ImageBootstrap {
        resamples,
        seed,
        ap,
        ap50,
    })
}

fn category(cells: &Cells, evals: &CellEvals, range: std::ops::Range<usize>) -> Category {
    let mut dets = Vec::new();
    let mut gts = Vec::new();
    for c in range {
        let img = cells.list[c].img;
        gts.push((img, evals.npig[c][0]));
        // Each cell holds its top MAX_DETS[2] detections in score order.
        let cell = &evals.dets[evals.ranges[c].clone()];
        dets.extend(
            cell.iter()
                .take(MAX_DETS[2])
                .map(|d| (d.score, img, d.tp[0], d.ig[0])),
        );
    }
    // Cells are in image order: a stable sort on -score is accumulate's order.
    dets.sort_by(|a, b| b.0.partial_cmp(&a.0).expect("scores were checked finite"));
    Category {
        dets: dets.into_iter().map(|(_, i, tp, ig)| (i, tp, ig)).collect(),
        gts,
    }
}

/// (AP, AP50) of one resample given each image's number of copies.
fn scores(categories: &[Category], w: &[u32], p: &Params) -> (f64, f64) {
    let (t_n, r_n) = (p.iou_thrs.len(), p.rec_thrs.len());
    let (mut sum, mut sum50, mut defined) = (0.0, 0.0, 0usize);
    let (mut rc, mut pr) = (Vec::new(), Vec::new());
    for c in categories {
        let np: u64 = c
            .gts
            .iter()
            .map(|&(i, g)| u64::from(w[i as usize]) * u64::from(g))
            .sum();
        if np == 0 {
            continue;
        }
        defined += 1;
        let np = np as f64;
        for t in 0..t_n {
            let bit = 1u16 << t;
            rc.clear();
            pr.clear();
            let (mut tp, mut fp) = (0u64, 0u64);
            for &(img, tpb, igb) in &c.dets {
                let copies = u64::from(w[img as usize]);
                if copies == 0 || igb & bit != 0 {
                    continue;
                }
                if tpb & bit != 0 {
                    tp += copies;
                } else {
                    fp += copies;
                }
                let (tpf, fpf) = (tp as f64, fp as f64);
                rc.push(tpf / np);
                pr.push(tpf / (fpf + tpf + SPACING_1));
            }
            for i in (1..pr.len()).rev() {
                if pr[i] > pr[i - 1] {
                    pr[i - 1] = pr[i];
                }
            }
            let mut j = 0;
            let mut s = 0.0;
            for &r in &p.rec_thrs {
                while j < rc.len() && rc[j] < r {
                    j += 1;
                }
                s += if j < rc.len() { pr[j] } else { 0.0 };
            }
            sum += s;
            if t == 0 {
                sum50 += s;
            }
        }
    }
    if defined == 0 {
        return (-1.0, -1.0);
    }
    let k = defined as f64;
    (sum / (k * (t_n * r_n) as f64), sum50 / (k * r_n as f64))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::eval::GroundTruth;

    fn case(c: &Value) -> (GtSet, Vec<Detection>) {
        let anns = c["annotations"].as_array().unwrap();
        let gt = GtSet {
            image_ids: serde_json::from_value(c["image_ids"].clone()).unwrap(),
            category_ids: serde_json::from_value(c["categories"].clone()).unwrap(),
            annotations: anns
                .iter()
                .map(|a| GroundTruth {
                    id: a["id"].as_u64().unwrap(),
                    image_id: a["image_id"].as_u64().unwrap(),
                    category_id: a["category_id"].as_u64().unwrap(),
                    bbox: serde_json::from_value(a["bbox"].clone()).unwrap(),
                    area: a["area"].as_f64().unwrap(),
                    iscrowd: a["iscrowd"].as_u64().unwrap() == 1,
                    difficult: false,
                })
                .collect(),
        };
        let dts = serde_json::from_value(c["detections"].clone()).unwrap();
        (gt, dts)
    }

    #[test]
    fn each_resample_equals_pycocotools_on_the_resampled_images() {
        let golden: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/stats/stats_golden.json"
        ))
        .unwrap();
        for c in golden["coco_bootstrap"].as_array().unwrap() {
            let (gt, dts) = case(c);
            let n = c["resamples"].as_u64().unwrap() as usize;
            let b = image_bootstrap(&gt, &dts, n, c["seed"].as_u64().unwrap()).unwrap();
            for (i, want) in c["ap_ap50"].as_array().unwrap().iter().enumerate() {
                let (ap, ap50) = (want[0].as_f64().unwrap(), want[1].as_f64().unwrap());
                assert!(
                    (b.ap[i] - ap).abs() < 1e-12,
                    "resample {i}: {} vs {ap}",
                    b.ap[i]
                );
                assert!(
                    (b.ap50[i] - ap50).abs() < 1e-12,
                    "resample {i}: {} vs {ap50}",
                    b.ap50[i]
                );
            }
        }
    }

    #[test]
    fn every_image_once_gives_the_evaluators_ap() {
        let golden: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/stats/stats_golden.json"
        ))
        .unwrap();
        let (gt, dts) = case(&golden["coco_bootstrap"][1]);
        let params = Params {
            iou_thrs: coco_iou_thresholds(),
            rec_thrs: coco_recall_thresholds(),
        };
        let cells = Cells::build(&gt, &dts).unwrap();
        let evals = evaluate_cells(&gt, &dts, &cells, &params);
        let cats: Vec<Category> = cells
            .category_ranges()
            .into_iter()
            .map(|r| category(&cells, &evals, r))
            .collect();
        let ones = vec![1; cells.catalog.images.len()];
        let (ap, ap50) = scores(&cats, &ones, &params);
        let full = super::super::evaluate(&gt, &dts).unwrap().summary;
        assert!((ap - full.ap).abs() < 1e-12 && (ap50 - full.ap50).abs() < 1e-12);
        // Doubling every image changes nothing either.
        let twos = vec![2; cells.catalog.images.len()];
        assert!((scores(&cats, &twos, &params).0 - full.ap).abs() < 1e-12);
    }
}
