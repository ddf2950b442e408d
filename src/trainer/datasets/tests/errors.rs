//! Errors name the file and the record; bad boxes are clipped or dropped and counted, never fatal.

use super::super::fixture::{coco_json, write_coco, write_visdrone, write_voc};
use super::super::{coco, visdrone, voc, Dataset, DatasetError};
use super::*;
use crate::eval::EvalError;
use crate::spec::config::DatasetSpec;
use crate::trainer::data::Split;

fn coco_fixture(dir: &std::path::Path) -> crate::spec::config::CocoSpec {
    write_coco(dir, &[fixed("a"), fixed("b")], &[fixed("c")], "png", 2, 64)
}

#[test]
fn coco_missing_image_names_the_file_and_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let spec = coco_fixture(dir.path());
    std::fs::remove_file(spec.images.join("b.png")).unwrap();
    let e = coco::open(&spec).unwrap_err();
    assert!(
        matches!(&e, DatasetError::MissingImage { record, .. } if record == "images[1] (id 2)"),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("train.json") && msg.contains("images[1] (id 2)") && msg.contains("b.png"),
        "{msg}"
    );
}

#[test]
fn coco_truncated_json_and_unknown_category_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = coco_fixture(dir.path());
    let text = std::fs::read_to_string(&spec.train).unwrap();
    std::fs::write(&spec.train, &text[..text.len() / 2]).unwrap();
    let e = coco::open(&spec).unwrap_err();
    assert!(
        matches!(&e, DatasetError::Coco(EvalError::Json { .. })),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("train.json") && msg.contains("EOF"), "{msg}");

    let bad = text.replacen("\"category_id\":3", "\"category_id\":99", 1);
    assert_ne!(bad, text);
    std::fs::write(&spec.train, bad).unwrap();
    let e = coco::open(&spec).unwrap_err();
    assert!(
        matches!(&e, DatasetError::Coco(EvalError::UnknownCategory { found: 99, record, .. }) if record == "annotations[0]"),
        "{e}"
    );
    assert!(e.to_string().contains("train.json"), "{e}");
}

#[test]
fn coco_bad_boxes_are_clipped_or_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let spec = coco_fixture(dir.path());
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec.train).unwrap()).unwrap();
    let anns = v["annotations"].as_array_mut().unwrap();
    anns[0]["bbox"] = serde_json::json!([70, 50, 30, 30]); // reaches outside the 80 × 60 image
    anns[1]["bbox"] = serde_json::json!([10, 10, -5, 8]); // negative width
    anns[2]["bbox"] = serde_json::json!([90, 10, 5, 8]); // wholly outside
    std::fs::write(&spec.train, v.to_string()).unwrap();
    let r = coco::open(&spec).unwrap();
    assert_eq!((r.notes.clipped, r.notes.dropped), (1, 2));
    assert_eq!(r.train[0].objects[0].bbox, [70.0, 50.0, 80.0, 60.0]);
    let first = r.notes.first_dropped.as_deref().unwrap();
    assert!(
        first.contains("train.json") && first.contains("annotations[1] (id 2)"),
        "{first}"
    );
    assert!(
        r.summary().contains("1 clipped to their image, 2 dropped"),
        "{}",
        r.summary()
    );
}

#[test]
fn coco_val_categories_must_match_train() {
    let dir = tempfile::tempdir().unwrap();
    let spec = coco_fixture(dir.path());
    std::fs::write(&spec.val, coco_json(&[fixed("c")], 3, "png", 3)).unwrap();
    let e = coco::open(&spec).unwrap_err();
    assert!(matches!(e, DatasetError::Categories { .. }), "{e}");
}

#[test]
fn voc_unknown_class_and_bad_numbers_name_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_voc(dir.path(), &[fixed("000001")], &[fixed("000002")], 64);
    let xml = spec.root.join("VOC2007/Annotations/000001.xml");
    let text = std::fs::read_to_string(&xml).unwrap();
    std::fs::write(
        &xml,
        text.replace("<name>cat</name>", "<name>unicorn</name>"),
    )
    .unwrap();
    let e = voc::open(&spec).unwrap_err();
    assert!(
        matches!(&e, DatasetError::UnknownCategory { record, found, .. } if record == "object[1].name" && found == "\"unicorn\""),
        "{e}"
    );
    assert!(e.to_string().contains("000001.xml"), "{e}");
    std::fs::write(&xml, text.replace("<xmin>11</xmin>", "<xmin>eleven</xmin>")).unwrap();
    let e = voc::open(&spec).unwrap_err();
    assert!(
        matches!(&e, DatasetError::Parse { record, .. } if record == "object[0].bndbox.xmin"),
        "{e}"
    );
    std::fs::write(&xml, &text[..text.len() - 20]).unwrap();
    let e = voc::open(&spec).unwrap_err();
    assert!(
        matches!(&e, DatasetError::Parse { record, .. } if record == "annotation"),
        "{e}"
    );
    std::fs::write(&xml, &text).unwrap();
    std::fs::remove_file(spec.root.join("VOC2007/JPEGImages/000002.jpg")).unwrap();
    let e = voc::open(&spec).unwrap_err();
    assert!(
        matches!(&e, DatasetError::MissingImage { path, record, .. } if path.ends_with("test.txt") && record == "line 1 (000002)"),
        "{e}"
    );
}

#[test]
fn visdrone_bad_lines_name_the_line() {
    let p = std::path::Path::new("a.txt");
    let e = visdrone::parse("1,2,3,4,1,1,0,0\n1,2,x,4,1,1,0,0\n", p).unwrap_err();
    assert!(
        matches!(&e, DatasetError::Parse { record, .. } if record == "line 2.width"),
        "{e}"
    );
    let e = visdrone::parse("1,2,3,4,1,12,0,0\n", p).unwrap_err();
    assert!(
        matches!(&e, DatasetError::UnknownCategory { record, .. } if record == "line 1.category"),
        "{e}"
    );
    let e = visdrone::parse("1,2,3\n", p).unwrap_err();
    assert!(e.to_string().starts_with("a.txt: line 1: 3 fields"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let spec = write_visdrone(dir.path(), &[fixed("a")], &[fixed("b")], 64);
    std::fs::remove_file(spec.root.join("VisDrone2019-DET-val/images/b.jpg")).unwrap();
    let e = visdrone::open(&spec).unwrap_err();
    assert!(
        matches!(&e, DatasetError::MissingImage { path, .. } if path.ends_with("annotations/b.txt")),
        "{e}"
    );
}

#[test]
fn undecodable_or_resized_images_fail_when_loaded_naming_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let spec = coco_fixture(dir.path());
    let d = Dataset::open(&DatasetSpec::Coco(spec.clone())).unwrap();
    std::fs::write(spec.images.join("c.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let e = d.try_image(Split::Val, 0).unwrap_err();
    assert!(
        matches!(&e, DatasetError::Decode { path, record, .. } if path.ends_with("c.png") && record.contains("images[0] (id 3)")),
        "{e}"
    );
    image::RgbImage::new(40, 30)
        .save(spec.images.join("c.png"))
        .unwrap();
    let e = d.try_image(Split::Val, 0).unwrap_err();
    assert!(
        matches!(
            e,
            DatasetError::SizeMismatch {
                found: (40, 30),
                expected: (80, 60),
                ..
            }
        ),
        "{e}"
    );
}
