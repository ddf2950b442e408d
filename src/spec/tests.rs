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

/// A spec with two rows, one spec-wide axis and a table with sections by width.
const SCALED: &str = "name: t
variants:
  - {name: a, set: {train.lr: 0.02}}
  - {name: b}
grid:
  model.backbone.width: [32, 64]
seeds: [0]
scales:
  quick: {}
  full:
    seeds: [0, 1]
    train.lr: 0.5
    variants:
      b: {train.lr: 0.004, train.batch_size: 4}
    grid:
      model.backbone.width: [16]
      train.iterations: [10, 20]
table:
  sections: {axis: model.backbone.width, labels: {32: narrow, 64: wide}}
";

fn plan(text: &str, scale: Option<&str>) -> Result<Vec<crate::expand::Job>, Vec<SpecError>> {
    let spec = parse(Path::new("t.yaml"), text.into(), scale, &[]).map_err(|e| e.0)?;
    crate::expand::expand(&spec).map_err(|e| e.0)
}

fn position(e: &SpecError) -> (usize, usize) {
    match &e.origin {
        Origin::File { pos: Some(p), .. } => (p.line, p.col),
        other => panic!("not located: {other:?} ({e})"),
    }
}

#[test]
fn a_scale_sets_rows_after_its_flat_keys_and_reshapes_the_grid() {
    let quick = plan(SCALED, None).unwrap();
    assert_eq!(quick.len(), 4, "2 rows × 2 widths × 1 seed");
    assert_eq!(quick[0].config.train.lr, 0.02);
    let full = plan(SCALED, Some("full")).unwrap();
    // 2 rows × (1 width × 2 iteration counts) × 2 seeds; the replaced axis keeps its place.
    assert_eq!(full.len(), 8);
    let a: Vec<_> = full.iter().filter(|j| j.variant == "a").collect();
    let b: Vec<_> = full.iter().filter(|j| j.variant == "b").collect();
    assert!(
        a.iter().all(|j| j.config.train.lr == 0.5),
        "flat keys follow the variant's set"
    );
    assert!(
        b.iter()
            .all(|j| j.config.train.lr == 0.004 && j.config.train.batch_size == 4),
        "the scale's row keys follow its flat keys"
    );
    assert_eq!(a[0].row, "a [width=16, iterations=10]");
    let iters: Vec<u64> = a.iter().map(|j| j.config.train.iterations).collect();
    assert_eq!(iters, [10, 10, 20, 20]);
    // Removing an axis.
    let removed = SCALED.replace("model.backbone.width: [16]", "model.backbone.width: null");
    let jobs = plan(&removed, Some("full")).unwrap();
    assert_eq!(jobs[0].row, "a [iterations=10]");
    assert!(jobs.iter().all(|j| matches!(
        j.config.model.backbone,
        super::config::BackboneSpec::TinyResnet { width: 32, .. }
    )));
}

#[test]
fn quick_ids_do_not_depend_on_the_full_scale() {
    let without = SCALED[..SCALED.find("  full:").unwrap()].to_string() + "table: {}\n";
    let ids =
        |t: &str| -> Vec<String> { plan(t, None).unwrap().into_iter().map(|j| j.id).collect() };
    assert_eq!(ids(SCALED), ids(&without));
}

#[test]
fn a_scale_names_only_rows_axes_and_tables_the_spec_has() {
    let bad = SCALED
        .replace("      b: {train.lr", "      c: {train.lr")
        .replace(
            "      train.iterations: [10, 20]",
            "      train.iterations: [10, 20]\n      loss.reg.beta: null",
        );
    // Checked whichever scale is chosen.
    let errors = plan(&bad, None).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let row = &errors[0];
    assert_eq!(row.key, "scales.full.variants.c");
    assert_eq!(position(row), (14, 7), "{row}");
    assert!(
        row.to_string()
            .contains("`c` is not a variant of this spec; allowed: a, b"),
        "{row}"
    );
    let axis = &errors[1];
    assert_eq!(axis.key, "scales.full.grid.loss.reg.beta");
    assert_eq!(position(axis), (18, 7), "{axis}");
    assert!(
        axis.to_string().contains("allowed: model.backbone.width"),
        "{axis}"
    );

    let tables = SCALED.replace(
        "    seeds: [0, 1]\n",
        "    seeds: [0, 1]\n    tables: {x: {caption: c}}\n",
    );
    let e = &plan(&tables, None).unwrap_err()[0];
    assert_eq!(
        (e.kind, e.key.as_str()),
        (ErrorKind::Table, "scales.full.tables")
    );
    assert!(e.to_string().contains("write `table: {...}`"), "{e}");
    let multi = "name: t\nscales:\n  full:\n    tables: {t2: {caption: c}, t9: {caption: d}}\ntables:\n  - {name: t1}\n  - {name: t2}\n";
    let errors = plan(multi, Some("full")).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "scales.full.tables.t9");
    assert!(
        errors[0].to_string().contains("allowed: t1, t2"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_scale_row_value_is_checked_and_located_in_the_scale() {
    let bad = SCALED.replace("train.batch_size: 4", "train.batch_size: 0");
    let errors = plan(&bad, Some("full")).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e.key, "scales.full.variants.b.train.batch_size");
    assert_eq!(position(e), (14, 28), "{e}");
    let bad = SCALED.replace("model.backbone.width: [16]", "model.backbone.width: [12]");
    let e = &plan(&bad, Some("full")).unwrap_err()[0];
    assert_eq!(e.key, "scales.full.grid.model.backbone.width");
    assert_eq!(position(e), (16, 7), "{e}");
}

#[test]
fn a_scale_replaces_table_fields_and_its_errors_point_at_it() {
    let full = SCALED.replace(
        "      train.iterations: [10, 20]\n",
        "      train.iterations: [10, 20]\n    table:\n      sections: {axis: model.backbone.width, labels: {16: narrow}}\n      caption: scaled\n",
    );
    let spec = parse(Path::new("t.yaml"), full.clone(), Some("full"), &[]).unwrap();
    let t = &spec.tables[0];
    assert_eq!(t.caption.as_deref(), Some("scaled"));
    assert!(
        matches!(&t.sections, Some(super::table::Sections::Axis(a)) if a.labels.0.len() == 1),
        "{:?}",
        t.sections
    );
    let quick = parse(Path::new("t.yaml"), full.clone(), None, &[]).unwrap();
    assert_eq!(
        quick.tables[0].caption, None,
        "only the chosen scale applies"
    );
    assert_eq!(quick.tables[0].name.as_deref(), Some("t"));
    let bad = full.replace("caption: scaled", "claims_level: 2.0");
    let e = &parse(Path::new("t.yaml"), bad, Some("full"), &[])
        .unwrap_err()
        .0[0];
    assert_eq!(e.kind, ErrorKind::Table);
    assert_eq!(e.key, "scales.full.table.claims_level", "{e}");
    assert_eq!(position(e), (20, 7), "{e}");
    let bad = full.replace("caption: scaled", "captoin: scaled");
    let e = &parse(Path::new("t.yaml"), bad, Some("full"), &[])
        .unwrap_err()
        .0[0];
    assert_eq!(e.key, "scales.full.table", "{e}");
    assert!(e.to_string().contains("captoin"), "{e}");
}

#[test]
fn a_missing_data_set_or_weights_file_says_how_to_get_it() {
    let errors = resolve(
        "{dataset: {kind: voc, root: nowhere/VOCdevkit}, model: {detector: {kind: torchvision_retinanet}, backbone: {kind: resnet, depth: 101, weights: nowhere/resnet101-63fe2227.safetensors}}}",
        &[],
    )
    .expect_err("missing paths");
    assert_eq!(errors.len(), 2, "one error per missing path: {errors:?}");
    let voc = errors
        .iter()
        .find(|e| e.key == "base.dataset.root")
        .unwrap();
    assert!(
        voc.to_string().contains("VOCtrainval_11-May-2012.tar"),
        "{voc}"
    );
    let w = errors
        .iter()
        .find(|e| e.key == "base.model.backbone.weights")
        .unwrap();
    assert!(
        w.to_string().contains(
            "https://download.pytorch.org/models/resnet101-63fe2227.pth && scripts/convert-weights resnet101-63fe2227.pth nowhere/resnet101-63fe2227.safetensors"
        ),
        "{w}"
    );
}

#[test]
fn torchvision_ssd_runs_on_vgg16_and_vgg16_only_under_it() {
    let ssd = "{model: {detector: {kind: torchvision_ssd}, backbone: {kind: vgg16}}, loss: {cls: {kind: ce_ohem}, reg: {kind: smooth_l1, beta: 1}}}";
    resolve(ssd, &[]).unwrap();
    for (base, sets, key, says) in [
        (
            "{model: {detector: {kind: torchvision_ssd}, backbone: {kind: resnet}}}",
            vec![],
            "model.backbone.kind",
            "vgg16",
        ),
        (
            "{model: {detector: {kind: torchvision_retinanet}, backbone: {kind: vgg16}}}",
            vec![],
            "model.backbone.kind",
            "torchvision_ssd",
        ),
        (
            ssd,
            vec!["model.backbone.trainable_layers=6"],
            "model.backbone.trainable_layers",
            "0 to 5",
        ),
        (
            ssd,
            vec!["model.detector.iou_thresh=0"],
            "model.detector.iou_thresh",
            "(0, 1]",
        ),
        (
            ssd,
            vec!["loss.reg.kind=ugs"],
            "loss.reg.kind",
            "torchvision_ssd",
        ),
    ] {
        let e = one_error(base, &sets);
        assert!(e.key.ends_with(key), "{key}: {e}");
        assert!(e.to_string().contains(says), "{e}");
    }
}

const FASTER_RCNN: &str =
    "model: {detector: {kind: torchvision_faster_rcnn}, backbone: {kind: resnet, depth: 18}}";

#[test]
fn faster_rcnn_settings_have_ranges_and_its_losses_their_stage() {
    assert!(resolve(&format!("{{{FASTER_RCNN}}}"), &[]).is_ok());
    let alwa = format!(
        "{{{FASTER_RCNN}, loss: {{reg: {{kind: ciou}}, rpn: {{reg: {{kind: ciou}}, weights: {{adapt: {{kind: alwa, variant: 2}}}}}}}}}}"
    );
    assert!(resolve(&alwa, &[]).is_ok(), "{:?}", resolve(&alwa, &[]));
    let base = format!("{{{FASTER_RCNN}}}");
    for (set, key, allowed) in [
        (
            "model.detector.rpn_bg_iou_thresh=0.8",
            "model.detector.rpn_bg_iou_thresh",
            "rpn_bg_iou_thresh <= rpn_fg_iou_thresh",
        ),
        (
            "model.detector.box_positive_fraction=0",
            "model.detector.box_positive_fraction",
            "0 < fraction <= 1",
        ),
        (
            "model.detector.rpn_post_nms_top_n_test=0",
            "model.detector.rpn_post_nms_top_n_test",
            ">= 1",
        ),
        ("loss.rpn.weights.adapt.kind=alwa", "", ""),
        (
            "loss.rpn.reg.kind=ugs",
            "loss.rpn.reg.kind",
            "the RPN has no distribution head",
        ),
        ("loss.rpn.weights.reg=-1", "loss.rpn.weights.reg", ">= 0"),
    ] {
        if key.is_empty() {
            assert!(resolve(&base, &[set]).is_ok(), "{set}");
            continue;
        }
        let e = one_error(&base, &[set]);
        assert_eq!(e.key, key, "{set}: {e}");
        assert!(e.to_string().contains(allowed), "{set}: {e}");
    }
    // UGS on the box head (and so on the RPN, whose loss follows it) is refused.
    let errors = resolve(&base, &["loss.reg.kind=ugs"]).expect_err("ugs");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["loss.reg.kind", "base.loss.rpn.reg.kind"],
        "{errors:?}"
    );
    assert!(errors[0].to_string().contains("no distribution head"));
    // The box head's softmax and the RPN's losses belong to the two-stage detector.
    let e = one_error("{loss: {cls: {kind: softmax}}}", &[]);
    assert_eq!(e.key, "base.loss.cls.kind");
    assert!(e.to_string().contains("torchvision_faster_rcnn"), "{e}");
    let e = one_error("{loss: {rpn: {reg: {kind: l1}}}}", &[]);
    assert_eq!(e.key, "base.loss.rpn");
}
