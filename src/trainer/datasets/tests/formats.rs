//! Each format parses into the boxes the fixture drew, with its classes, special boxes and
//! ground truth as its protocol wants them.

use super::super::fixture::{coco_category, write_coco, write_visdrone, write_voc, VOC_NAMES};
use super::super::{coco, visdrone, voc, Dataset};
use super::*;
use crate::eval::GroundTruth;
use crate::spec::config::{BoxHandling, DatasetSpec};

#[test]
fn coco_maps_categories_keeps_crowd_for_the_evaluator_and_ignores_it_in_training() {
    let dir = tempfile::tempdir().unwrap();
    let train = with_special(vec![fixed("a"), fixed("b")]);
    let val = with_special(vec![fixed("c")]);
    let spec = write_coco(dir.path(), &train, &val, "png", 2, 64);
    let r = coco::open(&spec).unwrap();
    assert_eq!(
        r.classes.iter().map(|c| c.id).collect::<Vec<_>>(),
        [coco_category(0), coco_category(1)]
    );
    assert_eq!(r.classes[1].name, "class1");
    assert_eq!((r.train.len(), r.val.len()), (2, 1));
    let a = &r.train[0];
    assert_eq!((a.id, a.width, a.height), (1, 80, 60));
    assert!(a.path.ends_with("images/a.png"), "{:?}", a.path);
    // The crowd box is an ignore region, the other one a target with its contiguous label.
    assert_eq!(a.ignore, vec![boxf(&train[0].objects[0])]);
    assert_eq!(a.objects.len(), 1);
    assert_eq!(
        (a.objects[0].class, a.objects[0].bbox),
        (1, boxf(&train[0].objects[1]))
    );
    assert_eq!(r.train[1].objects.len(), 2);
    // The evaluator's ground truth is the file, crowd flag included; val ids follow the train ids.
    assert_eq!(r.val_gt.image_ids, vec![3]);
    assert_eq!(r.val_gt.annotations.len(), 2);
    let crowd: &GroundTruth = &r.val_gt.annotations[0];
    assert!(crowd.iscrowd && crowd.bbox == [10.0, 20.0, 20.0, 20.0] && crowd.area == 400.0);
    assert_eq!(crowd.category_id, coco_category(0));
    // `drop` leaves it out, `train` makes it an object.
    for (h, objects, regions) in [(BoxHandling::Drop, 1, 0), (BoxHandling::Train, 2, 0)] {
        let r = coco::open(&crate::spec::config::CocoSpec {
            crowd: h,
            ..spec.clone()
        })
        .unwrap();
        assert_eq!(
            (r.train[0].objects.len(), r.train[0].ignore.len()),
            (objects, regions)
        );
    }
}

#[test]
fn coco_limits_and_skips_images_without_objects() {
    let dir = tempfile::tempdir().unwrap();
    let mut train = vec![fixed("a"), fixed("b"), fixed("c")];
    train[1].objects.clear();
    let val = vec![fixed("d"), fixed("e")];
    let mut spec = write_coco(dir.path(), &train, &val, "jpg", 2, 64);
    let r = coco::open(&spec).unwrap();
    assert_eq!((r.train.len(), r.notes.skipped_images), (2, 1));
    spec.max_train_images = Some(1);
    spec.max_val_images = Some(1);
    let r = coco::open(&spec).unwrap();
    assert_eq!((r.train.len(), r.val.len()), (1, 1));
    assert_eq!(r.val_gt.image_ids, vec![4]);
    assert!(r.val_gt.annotations.iter().all(|a| a.image_id == 4));
}

#[test]
fn voc_converts_its_one_based_pixels_in_one_place() {
    let dir = tempfile::tempdir().unwrap();
    let train = with_special(vec![fixed("000001"), fixed("000002")]);
    let val = with_special(vec![fixed("000003")]);
    let spec = write_voc(dir.path(), &train, &val, 64);
    let xml = std::fs::read_to_string(spec.root.join("VOC2007/Annotations/000001.xml")).unwrap();
    // The object drawn on pixels 10..30 × 20..40 is written as VOC's 11..=30 × 21..=40.
    assert!(
        xml.contains("<xmin>11</xmin>") && xml.contains("<xmax>30</xmax>"),
        "{xml}"
    );
    assert_eq!(
        voc::voc_box(11.0, 21.0, 30.0, 40.0),
        [10.0, 20.0, 30.0, 40.0]
    );
    let r = voc::open(&spec).unwrap();
    // VOC's 20 classes by default: the fixture's "bird" and "cat" are labels 2 and 7.
    assert_eq!(r.classes.len(), 20);
    assert_eq!(
        (r.classes[2].name.as_str(), r.classes[2].id),
        (VOC_NAMES[0], 3)
    );
    let a = &r.train[0];
    assert_eq!(
        a.ignore,
        vec![[10.0, 20.0, 30.0, 40.0]],
        "difficult: ignored in training"
    );
    assert_eq!(
        (a.objects[0].class, a.objects[0].bbox),
        (7, [40.0, 5.0, 70.0, 25.0])
    );
    // The ground truth keeps the difficult object, flagged, in COCO xywh.
    let g = &r.val_gt.annotations;
    assert_eq!(g.len(), 2);
    assert!(g[0].difficult && g[0].bbox == [10.0, 20.0, 20.0, 20.0] && g[0].category_id == 3);
    assert!(!g[1].difficult && g[1].category_id == 8 && r.val_gt.image_ids == [1]);
    // `[]`: the names found, sorted.
    let found = voc::open(&crate::spec::config::VocSpec {
        classes: vec![],
        ..spec.clone()
    })
    .unwrap();
    let names: Vec<&str> = found.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["bird", "cat"]);
    assert_eq!(found.train[0].objects[0].class, 1);
}

#[test]
fn visdrone_ignore_regions_score_zero_and_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut train = with_special(vec![
        fixed("0000001_00000_d_0000001"),
        fixed("0000002_00000_d_0000002"),
    ]);
    train[0].ignore.push([2, 45, 30, 58]);
    let mut val = with_special(vec![fixed("0000003_00000_d_0000003")]);
    val[0].ignore.push([2, 45, 30, 58]);
    let spec = write_visdrone(dir.path(), &train, &val, 64);
    let txt = visdrone::parse(
        "5,6,7,8,1,4,0,1,\n\n1,2,3,4,0,2,0,0\n",
        std::path::Path::new("x.txt"),
    )
    .unwrap();
    assert_eq!(txt.len(), 2);
    assert_eq!(
        (txt[0].0, txt[0].1.bbox, txt[0].1.category),
        (1, [5.0, 6.0, 7.0, 8.0], 4)
    );
    assert_eq!((txt[1].0, txt[1].1.score), (3, 0));
    let r = visdrone::open(&spec).unwrap();
    assert_eq!(r.classes.len(), 10);
    assert_eq!(r.classes[3].name, "car");
    assert!(r.drop_in_ignore);
    let a = &r.train[0];
    // "others" (ignore by default) and the category-0 region are both ignore regions.
    assert_eq!(
        a.ignore,
        vec![[10.0, 20.0, 30.0, 40.0], [2.0, 45.0, 30.0, 58.0]]
    );
    assert_eq!((a.objects.len(), a.objects[0].class), (1, 1));
    assert_eq!(
        (a.width, a.height),
        (80, 60),
        "the size comes from the image header"
    );
    // Ground truth: the classes only; the val entry keeps its regions for dropping detections.
    assert_eq!(r.val_gt.annotations.len(), 1);
    assert_eq!(r.val_gt.annotations[0].category_id, 2);
    assert_eq!(r.val[0].ignore.len(), 2);
    let as_class = visdrone::open(&crate::spec::config::VisdroneSpec {
        others: BoxHandling::Train,
        ..spec
    })
    .unwrap();
    assert_eq!(as_class.classes.len(), 11);
    assert_eq!(as_class.val_gt.annotations.len(), 2);
    assert_eq!(as_class.val_gt.annotations[0].category_id, 11);
    assert_eq!(as_class.train[0].objects[0].class, 10);
}

#[test]
fn the_dataset_interface_serves_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (train, val) = (scenes(1, 0, 3, (90, 50)), scenes(1, 10, 2, (50, 90)));
    let specs = [
        DatasetSpec::Coco(write_coco(
            &dir.path().join("coco"),
            &train,
            &val,
            "png",
            2,
            64,
        )),
        DatasetSpec::Voc(write_voc(&dir.path().join("voc"), &train, &val, 64)),
        DatasetSpec::Visdrone(write_visdrone(&dir.path().join("vd"), &train, &val, 64)),
    ];
    for spec in specs {
        let d = Dataset::open(&spec).unwrap();
        assert_eq!(
            (d.image_size(), d.len(crate::trainer::data::Split::Val)),
            (64, 2)
        );
        let img = d.image(crate::trainer::data::Split::Val, 1);
        assert_eq!((img.size, img.pixels.len()), (64, 64 * 64 * 3));
        // The tall val image: 50 × 90 becomes 36 × 64 (rounded), padded on the right.
        let want: Vec<[f32; 4]> = val[1]
            .objects
            .iter()
            .map(|o| boxf(o).map(|v| v * 64.0 / 90.0))
            .collect();
        for (o, w) in img.objects.iter().zip(&want) {
            assert!(
                (o.bbox[1] - w[1]).abs() < 1e-3 && (o.bbox[3] - w[3]).abs() < 1e-3,
                "{:?} {w:?}",
                o.bbox
            );
            assert!(
                (o.bbox[0] - w[0]).abs() < 0.5 && (o.bbox[2] - w[2]).abs() < 0.5,
                "{:?} {w:?}",
                o.bbox
            );
        }
        assert_eq!(d.val_ground_truth().image_ids.len(), 2, "{}", spec.kind());
    }
}
