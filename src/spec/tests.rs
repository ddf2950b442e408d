//! The one validator: the keys on which the spec and the trainer once disagreed now have one
//! rule each, checked when the spec is read; errors carry a kind callers can match.

use std::path::Path;

use super::{parse, ErrorKind, Origin, Override, SpecError};

/// Resolves every job of a one-variant spec whose base sets `base`; the errors if any.
fn resolve(base: &str, sets: &[&str]) -> Result<(), Vec<SpecError>> {
    let text = format!("name: t\nbase: {base}\n");
    let overrides: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    let spec = parse(Path::new("t.yaml"), text, None, &overrides).map_err(|e| e.0)?;
    crate::expand::expand(&spec).map(|_| ()).map_err(|e| e.0)
}

fn one_error(base: &str, sets: &[&str]) -> SpecError {
    let errors = resolve(base, sets).expect_err("the value must be refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn backbone_width_is_a_multiple_of_8_up_to_512() {
    let e = one_error("{}", &["model.backbone.width=1024"]);
    assert_eq!(e.kind, ErrorKind::OutOfRange);
    assert_eq!(e.key, "model.backbone.width");
    assert!(matches!(e.origin, Origin::CommandLine { .. }), "{e}");
    assert!(
        e.to_string().contains("a multiple of 8 from 8 to 512"),
        "{e}"
    );
    assert!(resolve("{}", &["model.backbone.width=512"]).is_ok());
    assert_eq!(
        one_error("{}", &["model.backbone.width=12"]).kind,
        ErrorKind::OutOfRange
    );
}

#[test]
fn fpn_channels_is_a_multiple_of_8_up_to_1024() {
    let e = one_error("{model: {fpn_channels: 2048}}", &[]);
    assert_eq!(
        (e.kind, e.key.as_str()),
        (ErrorKind::OutOfRange, "base.model.fpn_channels")
    );
    let pos = match &e.origin {
        Origin::File { pos, .. } => pos.expect("located"),
        other => panic!("{other:?}"),
    };
    assert_eq!((pos.line, pos.col), (2, 16), "{e}");
    assert!(resolve("{model: {fpn_channels: 1024}}", &[]).is_ok());
}

#[test]
fn smooth_l1_beta_zero_is_l1_and_negative_is_refused() {
    assert!(resolve("{loss: {reg: {kind: smooth_l1, beta: 0.0}}}", &[]).is_ok());
    let e = one_error("{loss: {reg: {kind: smooth_l1, beta: -0.1}}}", &[]);
    assert_eq!(
        (e.kind, e.key.as_str()),
        (ErrorKind::OutOfRange, "base.loss.reg.beta")
    );
}

#[test]
fn nms_iou_zero_is_refused() {
    let e = one_error("{eval: {nms_iou: 0.0}}", &[]);
    assert_eq!(
        (e.kind, e.key.as_str()),
        (ErrorKind::OutOfRange, "base.eval.nms_iou")
    );
    assert!(resolve("{eval: {nms_iou: 1.0}}", &[]).is_ok());
}

#[test]
fn synthetic_objects_fit_inside_the_image() {
    let e = one_error("{dataset: {image_size: 64, max_object_size: 64}}", &[]);
    assert_eq!(e.key, "base.dataset.max_object_size");
    assert!(resolve("{dataset: {image_size: 64, max_object_size: 63}}", &[]).is_ok());
    let e = one_error("{dataset: {max_objects: 65}}", &[]);
    assert_eq!(e.key, "base.dataset.max_objects");
}

#[test]
fn error_kinds_tell_problems_apart() {
    let unknown = one_error("{loss: {reg: {kind: ugs, lamda: 0.5}}}", &[]);
    assert_eq!(unknown.kind, ErrorKind::UnknownKey);
    let kind = one_error("{loss: {reg: {kind: smoth_l1}}}", &[]);
    assert_eq!(kind.kind, ErrorKind::UnknownKind);
    let missing = resolve(
        "{dataset: {kind: coco, images: /nonexistent, train: /n/a.json, val: /n/b.json}}",
        &[],
    )
    .expect_err("missing files");
    assert_eq!(missing.len(), 3, "{missing:?}");
    assert!(
        missing.iter().all(|e| e.kind == ErrorKind::MissingPath),
        "{missing:?}"
    );
    let structure = parse(
        Path::new("t.yaml"),
        "name: t\ngrid: {train.lr: []}\n".into(),
        None,
        &[],
    )
    .expect_err("empty axis");
    assert_eq!(structure.0[0].kind, ErrorKind::Structure);
    let scale = parse(Path::new("t.yaml"), "name: t\n".into(), Some("huge"), &[])
        .expect_err("no such scale");
    assert_eq!(scale.0[0].kind, ErrorKind::CommandLine);
}

#[test]
fn l2_box_coder_is_for_fcos_and_harmonic_cls_matches_the_classification_loss() {
    assert!(resolve("{loss: {reg: {kind: l2, normalize: box_coder}}}", &[]).is_ok());
    let e = one_error(
        "{model: {detector: {kind: retinanet}}, loss: {reg: {kind: l2, normalize: box_coder}}}",
        &[],
    );
    assert_eq!(
        (e.kind, e.key.as_str()),
        (ErrorKind::OutOfRange, "base.loss.reg.normalize")
    );
    assert!(e.to_string().contains("box_coder with fcos"), "{e}");
    let paper = "{loss: {cls: {kind: ce_ohem}, coupling: {kind: harmonic, cls: paper}}}";
    assert!(resolve(paper, &[]).is_ok());
    assert!(resolve("{loss: {coupling: {kind: harmonic}}}", &[]).is_ok());
    let e = one_error("{loss: {coupling: {kind: harmonic, cls: paper}}}", &[]);
    assert_eq!(e.key, "base.loss.coupling.cls");
    assert!(e.to_string().contains("paper with loss.cls ce_ohem"), "{e}");
    let e = one_error(
        "{loss: {cls: {kind: ce_ohem}, coupling: {kind: harmonic}}}",
        &[],
    );
    assert_eq!(e.key, "base.loss.coupling.cls");
}
