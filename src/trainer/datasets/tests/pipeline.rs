//! The pipeline on decoded fixture images: boxes land where the pixels went (resize, pad, flip,
//! multi-scale), ignore regions silence priors, the sample order is a pure function of (seed,
//! epoch, position), and detections survive the trip to a results JSON and back through the
//! evaluator.

use super::super::fixture::{write_coco, write_visdrone, write_voc, COLORS};
use super::super::{Dataset, Loader, Pick, Picker};
use super::*;
use crate::eval::{coco, load_coco_dt, load_coco_gt, voc, write_coco_dt, VocProtocol};
use crate::spec::config::{DatasetSpec, DetectorSpec, JobConfig};
use crate::trainer::layout::Layout;
use crate::trainer::postprocess::Det;
use crate::trainer::synth::{Image, Object};
use std::sync::Arc;

/// Pixels well inside each object's box have its class colour (JPEG and resampling blur the
/// edges: 2 px of margin, a tolerance of 40 per channel).
fn assert_objects_cover_their_colour(img: &Image) {
    for o in &img.objects {
        let c = COLORS[o.class];
        let b = o.bbox;
        for y in (b[1] + 2.0).ceil() as usize..(b[3] - 2.0).floor() as usize {
            for x in (b[0] + 2.0).ceil() as usize..(b[2] - 2.0).floor() as usize {
                let px = &img.pixels[(y * img.size + x) * 3..][..3];
                let close = px
                    .iter()
                    .zip(&c)
                    .all(|(&a, &b)| (a as i32 - b as i32).abs() < 40);
                assert!(close, "({x}, {y}) in {b:?} is {px:?}, not {c:?}");
            }
        }
    }
}

#[test]
fn decoded_flipped_and_rescaled_images_keep_their_boxes_on_their_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let train = scenes(3, 0, 4, (120, 90));
    let mut spec = write_coco(dir.path(), &train, &train[..1], "jpg", 2, 96);
    spec.multi_scale = Some([48, 96]);
    let d = Dataset::open(&DatasetSpec::Coco(spec)).unwrap();
    for (index, flip, side) in [
        (0, false, 96.0),
        (1, true, 96.0),
        (2, true, 57.0),
        (3, false, 48.0),
    ] {
        let img = d.train_image(Pick { index, flip, side }).unwrap();
        assert_eq!(img.objects.len(), train[index].objects.len());
        assert_objects_cover_their_colour(&img);
        let w = (120.0 * side / 120.0) as f32;
        for (o, s) in img.objects.iter().zip(&train[index].objects) {
            let x1 = s.bbox[0] as f32 * w / 120.0;
            let want = if flip {
                w - s.bbox[2] as f32 * w / 120.0
            } else {
                x1
            };
            assert!((o.bbox[0] - want).abs() < 1e-3, "{:?} vs {want}", o.bbox);
        }
    }
}

#[test]
fn picks_are_a_pure_function_of_seed_epoch_and_position() {
    let n = 7;
    let mut a = Picker::new(5, n, true, Some([64, 128]), 128);
    let forward: Vec<Pick> = (0..3 * n as u64).map(|p| a.pick(p)).collect();
    let backward: Vec<Pick> = (0..3 * n as u64)
        .rev()
        .map(|p| Picker::new(5, n, true, Some([64, 128]), 128).pick(p))
        .collect();
    assert_eq!(forward, backward.into_iter().rev().collect::<Vec<_>>());
    for epoch in forward.chunks(n) {
        let mut idx: Vec<usize> = epoch.iter().map(|p| p.index).collect();
        idx.sort();
        assert_eq!(
            idx,
            (0..n).collect::<Vec<_>>(),
            "each epoch is a permutation"
        );
    }
    assert!(forward.iter().all(|p| (64.0..=128.0).contains(&p.side)));
    assert!(forward.iter().any(|p| p.side < 96.0) && forward.iter().any(|p| p.side > 96.0));
    let mut no_flip = Picker::new(5, n, false, None, 128);
    assert!((0..50)
        .map(|p| no_flip.pick(p))
        .all(|p| !p.flip && p.side == 128.0));
    let mut other = Picker::new(6, n, true, Some([64, 128]), 128);
    assert_ne!(
        forward,
        (0..3 * n as u64).map(|p| other.pick(p)).collect::<Vec<_>>()
    );
}

#[test]
fn the_loader_gives_the_same_batches_in_any_order_and_with_any_threads() {
    let dir = tempfile::tempdir().unwrap();
    let train = scenes(4, 0, 6, (70, 50));
    let mut spec = write_coco(dir.path(), &train, &train[..1], "png", 2, 64);
    spec.multi_scale = Some([40, 64]);
    let d = Arc::new(Dataset::open(&DatasetSpec::Coco(spec)).unwrap());
    let mut one = Loader::new(d.clone(), 9, 4, 1).unwrap();
    let sequential: Vec<Vec<Image>> = (0..5).map(|it| one.batch(it).unwrap()).collect();
    let mut three = Loader::new(d.clone(), 9, 4, 3).unwrap();
    // A resume at 3, a jump back to 1, then on.
    for it in [3, 4, 1, 2, 3] {
        assert!(
            three.batch(it).unwrap() == sequential[it as usize],
            "iteration {it}"
        );
    }
    let mut picker = d.picker(9);
    for (it, batch) in sequential.iter().enumerate() {
        for (j, img) in batch.iter().enumerate() {
            let pick = picker.pick(it as u64 * 4 + j as u64);
            assert!(*img == d.train_image(pick).unwrap());
        }
    }
    assert!(Loader::new(d, 10, 4, 2).unwrap().batch(0).unwrap() != sequential[0]);
}

#[test]
fn background_priors_inside_ignore_regions_take_no_loss() {
    let object = Object {
        class: 1,
        bbox: [4.0, 4.0, 20.0, 20.0],
    };
    let region = [32.0, 0.0, 64.0, 32.0];
    for detector in [
        DetectorSpec::default(),
        DetectorSpec::Retinanet {
            anchor_scale: 2.0,
            scales_per_octave: 1,
            aspect_ratios: vec![1.0],
            pos_iou: 0.5,
            neg_iou: 0.4,
        },
    ] {
        let mut cfg = JobConfig::default();
        cfg.model.detector = detector;
        let layout = Layout::new(&cfg);
        let plain = layout.assign(&[&[object]]);
        let with = layout.assign_with_ignore(&[&[object]], &[&[region]]);
        assert_eq!(plain.pos, with.pos, "positives are untouched");
        let mut ignored = 0;
        for (k, p) in layout.priors().iter().enumerate() {
            let a = [
                p[0] - p[2] / 2.0,
                p[1] - p[3] / 2.0,
                p[0] + p[2] / 2.0,
                p[1] + p[3] / 2.0,
            ];
            let inside = match layout {
                Layout::Fcos(_) => p[0] >= 32.0 && p[0] < 64.0 && p[1] < 32.0,
                Layout::Retina(_) => {
                    let iw = (a[2].min(64.0) - a[0].max(32.0)).max(0.0);
                    let ih = (a[3].min(32.0) - a[1].max(0.0)).max(0.0);
                    iw * ih >= 0.5 * p[2] * p[3]
                }
            };
            if inside && plain.labels[k] == 0 {
                assert_eq!(with.labels[k], -1, "prior {k} {p:?}");
                ignored += 1;
            } else {
                assert_eq!(with.labels[k], plain.labels[k], "prior {k} {p:?}");
            }
        }
        assert!(ignored >= 8, "{ignored}");
    }
}

/// Detections equal to the val ground truth, placed in the input as the model would see them.
fn perfect_detections(
    d: &Dataset,
    extra: impl Fn(usize) -> Vec<Det>,
) -> Vec<crate::eval::Detection> {
    let Dataset::Real(r) = d else {
        panic!("a dataset on disk")
    };
    let mut out = Vec::new();
    for (i, e) in r.val.iter().enumerate() {
        let p = r.placement(e);
        let mut dets: Vec<Det> = r
            .val_gt
            .annotations
            .iter()
            .filter(|a| a.image_id == e.id && !a.iscrowd)
            .map(|a| {
                let [x, y, w, h] = a.bbox.map(|v| v as f32);
                Det {
                    bbox: p.forward([x, y, x + w, y + h]),
                    score: 0.9,
                    class: r
                        .classes
                        .iter()
                        .position(|c| c.id == a.category_id)
                        .unwrap(),
                }
            })
            .collect();
        dets.extend(extra(i));
        out.extend(d.records(i, &dets));
    }
    out
}

#[test]
fn detections_go_back_to_original_coordinates_through_the_results_json() {
    let dir = tempfile::tempdir().unwrap();
    let (train, val) = (
        scenes(7, 0, 2, (100, 70)),
        with_special(scenes(7, 10, 4, (70, 100))),
    );
    let coco_spec = write_coco(&dir.path().join("coco"), &train, &val, "png", 2, 64);
    let d = Dataset::open(&DatasetSpec::Coco(coco_spec.clone())).unwrap();
    let dets = perfect_detections(&d, |_| Vec::new());
    let path = dir.path().join("detections.json");
    write_coco_dt(&path, &dets).unwrap();
    let gt = load_coco_gt(&coco_spec.val).unwrap();
    let read = load_coco_dt(&path, &gt).unwrap();
    assert_eq!(read, dets);
    let s = coco::evaluate(&gt, &read).unwrap().summary;
    assert!(s.ap > 0.999 && s.ap50 > 0.999 && s.ar100 > 0.999, "{s:?}");
    assert_eq!(
        s,
        coco::evaluate(&d.val_ground_truth(), &dets)
            .unwrap()
            .summary
    );

    let voc_spec = write_voc(&dir.path().join("voc"), &train, &val, 64);
    let d = Dataset::open(&DatasetSpec::Voc(voc_spec)).unwrap();
    let dets = perfect_detections(&d, |_| Vec::new());
    let r = voc::evaluate(&d.val_ground_truth(), &dets, VocProtocol::Voc07).unwrap();
    assert!(r.map > 0.999, "{r:?}");

    // VisDrone: a confident false positive inside an ignore region is dropped, not scored.
    let mut vd_val = vec![fixed("v1"), fixed("v2")];
    vd_val[1].ignore.push([2, 45, 30, 58]);
    let vd_spec = write_visdrone(&dir.path().join("vd"), &train, &vd_val, 64);
    let d = Dataset::open(&DatasetSpec::Visdrone(vd_spec)).unwrap();
    let inside = |i: usize| {
        let fp = Det {
            bbox: [5.0 * 0.8, 47.0 * 0.8, 25.0 * 0.8, 56.0 * 0.8],
            score: 0.99,
            class: 0,
        };
        if i == 1 {
            vec![fp]
        } else {
            Vec::new()
        }
    };
    let dets = perfect_detections(&d, inside);
    assert_eq!(dets.len(), d.val_ground_truth().annotations.len());
    let s = coco::evaluate(&d.val_ground_truth(), &dets)
        .unwrap()
        .summary;
    assert!(s.ap > 0.999, "{s:?}");
}
