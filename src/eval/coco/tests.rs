//! Hand-checked cases. Each expected value is derived in the comment above it; the random cases
//! against pycocotools itself are in `tests/it/eval_coco.rs`.
//!
//! Two facts used throughout: a lone true positive has precision `1 / (1 + eps)` (pycocotools
//! adds `np.spacing(1)` to the denominator), i.e. 0.9999999999999998, so a "perfect" AP is 1 only
//! to 1e-15; and recall threshold 50 is `50 * 0.01 == 0.5` exactly, so 51 of the 101 recall
//! points lie at or below a recall of one half.

use super::image::bbox_iou;
use super::*;
use crate::eval::{Detection, EvalError, GroundTruth, GtSet};

const ONE: f64 = 1.0 / (1.0 + f64::EPSILON);

fn gt(id: u64, image_id: u64, bbox: [f64; 4], area: f64, iscrowd: bool) -> GroundTruth {
    GroundTruth {
        id,
        image_id,
        category_id: 1,
        bbox,
        area,
        iscrowd,
        difficult: false,
    }
}

fn box_gt(id: u64, image_id: u64, bbox: [f64; 4]) -> GroundTruth {
    gt(id, image_id, bbox, bbox[2] * bbox[3], false)
}

fn dt(image_id: u64, bbox: [f64; 4], score: f64) -> Detection {
    Detection {
        image_id,
        category_id: 1,
        bbox,
        score,
    }
}

fn set(images: &[u64], annotations: Vec<GroundTruth>) -> GtSet {
    GtSet {
        image_ids: images.to_vec(),
        category_ids: vec![1],
        annotations,
    }
}

fn run(g: &GtSet, d: &[Detection]) -> CocoResult {
    evaluate(g, d).expect("valid input")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

const A: [f64; 4] = [0.0, 0.0, 10.0, 10.0];
const B: [f64; 4] = [50.0, 50.0, 10.0, 10.0];
const NOWHERE: [f64; 4] = [200.0, 200.0, 10.0, 10.0];

#[test]
fn one_box_found_exactly() {
    // One small GT, one exact detection: TP at every threshold; rc = [1], pr = [1 / (1 + eps)].
    // Every recall point samples index 0, so precision is ONE everywhere; medium and large have
    // no GT: -1. Recall is exactly 1.
    let r = run(&set(&[1], vec![box_gt(1, 1, A)]), &[dt(1, A, 0.9)]);
    assert_eq!(r.precision_at(0, 0, 0, 0, 2), ONE);
    assert_eq!(r.precision_at(9, 100, 0, 1, 2), ONE);
    let s = r.summary;
    assert!(close(s.ap, 1.0) && close(s.ap50, 1.0) && close(s.ap75, 1.0) && close(s.aps, 1.0));
    assert_eq!((s.apm, s.apl), (-1.0, -1.0));
    assert_eq!((s.ar1, s.ar10, s.ar100, s.ars), (1.0, 1.0, 1.0, 1.0));
    assert_eq!((s.arm, s.arl), (-1.0, -1.0));
    assert_eq!(r.per_category_ap.len(), 1);
    assert!(close(r.per_category_ap[0].1, 1.0));
}

#[test]
fn a_miss_gives_zero() {
    // IoU 0: a FP. rc = [0], pr = [0]: recall point 0 samples 0, the others run past the end: 0.
    let s = run(&set(&[1], vec![box_gt(1, 1, A)]), &[dt(1, NOWHERE, 0.9)]).summary;
    assert_eq!((s.ap, s.ap50, s.ar100), (0.0, 0.0, 0.0));
}

#[test]
fn a_duplicate_is_a_false_positive() {
    // GTs A, B. Dets: on A (.9, TP), on A again (.8, FP: A is taken), on B (.7, TP).
    // tp = [1, 1, 2], fp = [0, 1, 1]: rc = [.5, .5, 1], pr = [ONE, 1/2, 2/3] (2 + eps and
    // 3 + eps round back to 2 and 3). Envelope: [ONE, 2/3, 2/3]. Recall points <= .5 (51 of
    // them) sample index 0, the 50 above sample index 2: AP = (51 ONE + 50 * 2/3) / 101 at every
    // threshold (IoUs are 1).
    let g = set(&[1], vec![box_gt(1, 1, A), box_gt(2, 1, B)]);
    let r = run(&g, &[dt(1, A, 0.9), dt(1, A, 0.8), dt(1, B, 0.7)]);
    let expected = (51.0 + 50.0 * 2.0 / 3.0) / 101.0;
    assert!(close(r.summary.ap50, expected), "{}", r.summary.ap50);
    assert!(close(r.summary.ap, expected));
    assert_eq!(r.summary.ar100, 1.0);
}

#[test]
fn crowd_iou_divides_by_the_detection_area() {
    // Inside a crowd region: intersection = the detection = 100 -> 1. Non-crowd: 100 / 400.
    assert_eq!(bbox_iou(&A, &[0.0, 0.0, 20.0, 20.0], true), 1.0);
    assert_eq!(bbox_iou(&A, &[0.0, 0.0, 20.0, 20.0], false), 0.25);
    // The detection covering the crowd box: 100 / 400 either way.
    assert_eq!(bbox_iou(&[0.0, 0.0, 20.0, 20.0], &A, true), 0.25);
    // Touching edges: w = 0 -> 0, no +1.
    assert_eq!(bbox_iou(&A, &[10.0, 0.0, 10.0, 10.0], false), 0.0);
}

#[test]
fn detections_on_a_crowd_are_ignored_even_twice() {
    // GT A (regular) and a crowd C. Two detections inside C (IoU 1 with it by the detection's
    // area) match C, which a crowd allows repeatedly: both ignored. The third hits A: the only
    // counted detection, a TP: AP = ONE-ish, AR = 1 (npig counts A only).
    let c = gt(2, 1, [100.0, 100.0, 50.0, 50.0], 2500.0, true);
    let g = set(&[1], vec![box_gt(1, 1, A), c]);
    let d = [
        dt(1, [110.0, 110.0, 10.0, 10.0], 0.9),
        dt(1, [120.0, 120.0, 10.0, 10.0], 0.8),
        dt(1, A, 0.7),
    ];
    let s = run(&g, &d).summary;
    assert!(close(s.ap, 1.0), "{}", s.ap);
    assert_eq!(s.ar100, 1.0);
}

#[test]
fn area_ranges_use_the_annotation_area() {
    // g1: a 100x100 box whose `area` field is 500 (small); g2: area 2000 (medium).
    // d1 = g1's box (w*h = 10000), d2 far away with w*h = 100.
    // small: npig 1; d1 TP, d2 FP (100 is inside [0, 1024]): rc = [1, 1], envelope ONE: APs ~ 1.
    // medium: npig 1 (g2); d1 matches g1, ignored here -> ignored; d2 unmatched and outside
    //   [1024, 9216] -> ignored: nothing counted, APm = ARm = 0.
    // large: no GT -> -1 (d1's w*h is large, but it matched an ignored GT).
    // all: npig 2; TP then FP: rc = [.5, .5]: 51 recall points get ONE, AP = 51 ONE / 101.
    let g = set(
        &[1],
        vec![
            gt(1, 1, [0.0, 0.0, 100.0, 100.0], 500.0, false),
            gt(2, 1, B, 2000.0, false),
        ],
    );
    let d = [dt(1, [0.0, 0.0, 100.0, 100.0], 0.9), dt(1, NOWHERE, 0.8)];
    let s = run(&g, &d).summary;
    assert!(close(s.aps, 1.0), "{}", s.aps);
    assert_eq!((s.apm, s.arm), (0.0, 0.0));
    assert_eq!((s.apl, s.arl), (-1.0, -1.0));
    assert!(close(s.ap, 51.0 / 101.0), "{}", s.ap);
    assert_eq!((s.ars, s.ar100), (1.0, 0.5));
}

#[test]
fn max_dets_one_keeps_the_best_per_image() {
    // GTs A, B; dets on A (.9) and B (.8). maxDets 1 keeps only the first: recall 1/2.
    let g = set(&[1], vec![box_gt(1, 1, A), box_gt(2, 1, B)]);
    let s = run(&g, &[dt(1, B, 0.8), dt(1, A, 0.9)]).summary;
    assert_eq!((s.ar1, s.ar10, s.ar100), (0.5, 1.0, 1.0));
}

#[test]
fn only_the_top_100_per_image_count() {
    // 100 misses scored above the only hit: the hit is the 101st, dropped: AR100 = AP = 0.
    let g = set(&[1], vec![box_gt(1, 1, A)]);
    let mut d: Vec<Detection> = (0..100)
        .map(|i| dt(1, NOWHERE, 0.5 + i as f64 * 1e-3))
        .collect();
    d.push(dt(1, A, 0.1));
    assert_eq!(run(&g, &d).summary.ar100, 0.0);
    // With 99 misses the hit is kept at rank 100: recall 1.
    d.remove(0);
    assert_eq!(run(&g, &d).summary.ar100, 1.0);
}

#[test]
fn score_ties_keep_image_order_then_input_order() {
    // Images listed as [7, 3]; image 3 has a miss, image 7 a hit, both scored .5. Images are
    // visited in sorted id order, so the miss ranks first: tp = [0, 1], fp = [1, 1],
    // rc = [0, .5], pr = [0, .5], envelope [.5, .5]: 51 points get .5, AP = 51 * .5 / 101.
    // (Hit first would give 51 ONE / 101.)
    let g = set(&[7, 3], vec![box_gt(1, 7, A), box_gt(2, 3, A)]);
    let s = run(&g, &[dt(7, A, 0.5), dt(3, NOWHERE, 0.5)]).summary;
    assert!(close(s.ap50, 51.0 * 0.5 / 101.0), "{}", s.ap50);
    // Within an image, ties keep input order: miss listed first -> rc = [0, 1], pr = [0, .5],
    // envelope .5 at every recall point: AP = .5.
    let g = set(&[1], vec![box_gt(1, 1, A)]);
    let s = run(&g, &[dt(1, NOWHERE, 0.5), dt(1, A, 0.5)]).summary;
    assert_eq!(s.ap50, 0.5);
    let s = run(&g, &[dt(1, A, 0.5), dt(1, NOWHERE, 0.5)]).summary;
    assert!(close(s.ap50, 1.0));
}

#[test]
fn iou_threshold_is_inclusive_at_the_exact_float() {
    // [0,0,10,10] vs [0,0,10,5]: 50 / 100 = 0.5 exactly, matched at .50 only; vs [0,0,10,7.5]:
    // 75 / 100 = .75 == iouThrs[5] exactly: matched at .50 ... .75 (6 of 10 thresholds).
    let g = set(&[1], vec![box_gt(1, 1, A)]);
    let s = run(&g, &[dt(1, [0.0, 0.0, 10.0, 5.0], 0.9)]).summary;
    assert!(close(s.ap50, 1.0) && s.ap75 == 0.0 && close(s.ap, 0.1));
    let s = run(&g, &[dt(1, [0.0, 0.0, 10.0, 7.5], 0.9)]).summary;
    assert!(close(s.ap75, 1.0) && close(s.ap, 0.6));
}

#[test]
fn annotation_id_zero_never_counts_as_a_match() {
    // pycocotools keeps the matched GT id and treats 0 as "unmatched": an exact hit on an
    // annotation with id 0 is a FP (its GT still counts in npig): AP = AR = 0.
    let s = run(&set(&[1], vec![box_gt(0, 1, A)]), &[dt(1, A, 0.9)]).summary;
    assert_eq!((s.ap, s.ar100), (0.0, 0.0));
}

#[test]
fn no_detections_and_no_ground_truth() {
    // Category 1 has a GT, category 2 none: 0 and -1; the means leave -1 out.
    let mut g = set(&[1, 2], vec![box_gt(1, 1, A)]);
    g.category_ids.push(2);
    let r = run(&g, &[]);
    assert_eq!(r.per_category_ap, vec![(1, 0.0), (2, -1.0)]);
    assert_eq!((r.summary.ap, r.summary.ar100), (0.0, 0.0));
    // Detections of a category without GT, on an image without GT: -1 everywhere.
    let g = GtSet {
        image_ids: vec![1],
        category_ids: vec![1],
        annotations: vec![],
    };
    let s = run(&g, &[dt(1, A, 0.9)]).summary;
    assert_eq!(s.values(), [-1.0; 12]);
}

#[test]
fn unknown_ids_and_bad_numbers_are_errors() {
    let g = set(&[1], vec![box_gt(1, 1, A)]);
    let e = evaluate(&g, &[dt(9, A, 0.9)]).expect_err("image 9 is unknown");
    assert!(matches!(e, EvalError::UnknownImage { found: 9, .. }), "{e}");
    let mut d = dt(1, A, 0.9);
    d.category_id = 4;
    let e = evaluate(&g, &[d]).expect_err("category 4 is unknown");
    assert!(
        matches!(e, EvalError::UnknownCategory { found: 4, .. }),
        "{e}"
    );
    let e = evaluate(&g, &[dt(1, A, f64::NAN)]).expect_err("NaN score");
    assert!(
        matches!(e, EvalError::NotFinite { field: "score", .. }),
        "{e}"
    );
    let g2 = set(&[1], vec![box_gt(5, 1, A), box_gt(5, 1, B)]);
    let e = evaluate(&g2, &[]).expect_err("duplicate id");
    assert!(matches!(e, EvalError::DuplicateId { id: 5, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "<ground truth>: annotations[1].id: annotation id 5 is also used by annotations[0]; allowed: unique ids"
    );
}

#[test]
fn text_summary_matches_pycocotools_layout() {
    let s = run(&set(&[1], vec![box_gt(1, 1, A)]), &[dt(1, NOWHERE, 0.9)]).summary;
    let text = s.to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(
        lines[0],
        " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.000"
    );
    assert_eq!(
        lines[1],
        " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.000"
    );
    assert_eq!(
        lines[4],
        " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000"
    );
    assert_eq!(
        lines[6],
        " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.000"
    );
    assert_eq!(CocoSummary::NAMES.len(), 12);
    assert_eq!(s.get("APm"), Some(-1.0));
    assert_eq!(s.get("nope"), None);
    let json: serde_json::Value = serde_json::from_str(&s.to_json()).expect("valid JSON");
    let keys: Vec<&String> = json.as_object().expect("an object").keys().collect();
    assert_eq!(keys.len(), 12);
}
