//! Our torchvision-layout RetinaNet against torchvision 0.26.0 itself: `tests/golden_detectors.py`
//! builds torchvision's model (ResNet-18-FPN, 5 classes, 128/160 px, randomised frozen BN) from a
//! fixed seed and writes its weights, an input batch with targets (the second image without
//! objects) and its outputs into the target directory; we load the same weights and must give the
//! same transformed batch, anchors, per-level features and head outputs (1e-4 relative), the same
//! losses (focal with L1, smooth L1 and GIoU regression; 1e-4), gradients, and the same
//! eval-mode detections (count, labels, boxes within 1e-2 px, scores within 1e-4).
//!
//! The comparison is also shown to fail on a shifted anchor, a wrong stride and one perturbed
//! weight, so the tolerances cannot hide a real difference.

use crate::trainer::detectors::retinanet::{Forward, RetinaNet, RetinaNetConfig, Target};
use crate::trainer::losses::{
    focal::Focal, giou::Giou, l1::L1, smooth_l1::SmoothL1, Reg, RegLoss, Score,
};
use crate::trainer::objective::{Normalise, Objective, Terms};
use crate::trainer::transform::Transform;
use crate::trainer::weights;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// Scratch space under the build's target directory (unit tests have no CARGO_TARGET_TMPDIR).
fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tmp")
}

/// The project's venv python: `SWEEP_PYTHON`, else the one that holds `SWEEP_TORCH_LIB`
/// (scripts/libtorch-env.sh exports it), else `python3` on the PATH.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SWEEP_PYTHON") {
        return p.into();
    }
    if let Some(lib) = std::env::var_os("SWEEP_TORCH_LIB") {
        for dir in Path::new(&lib).ancestors() {
            let p = dir.join("bin/python");
            if p.is_file() {
                return p;
            }
        }
    }
    "python3".into()
}

/// The fixture directory, generated once per script version.
fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| generate("golden_detectors"))
}

/// Runs `tests/{stem}.py` into a directory named by the content hash of the script and of
/// `tests/golden_detectors.py` (whose helpers the others import), once: a directory with its
/// golden.json is reused. Returns that directory.
pub(super) fn generate(stem: &str) -> PathBuf {
    let tests = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let script = tests.join(format!("{stem}.py"));
    let mut text = std::fs::read(&script).expect("read the generator");
    if stem != "golden_detectors" {
        text.extend(std::fs::read(tests.join("golden_detectors.py")).expect("read the helpers"));
    }
    let tag = text.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let dir = tmp_root().join(format!("{stem}-{tag:016x}"));
    if !dir.join("golden.json").is_file() {
        let out = Command::new(python())
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("start python");
        assert!(
            out.status.success(),
            "tests/{stem}.py failed (source scripts/libtorch-env.sh first):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

/// A generated fixture: its tensors (`io.safetensors`), its numbers (`golden.json`), its folder.
pub(super) struct Golden {
    io: BTreeMap<String, Tensor>,
    pub(super) meta: serde_json::Value,
    pub(super) dir: PathBuf,
}

fn golden() -> Golden {
    Golden::load(fixture().to_path_buf())
}

impl Golden {
    pub(super) fn load(dir: PathBuf) -> Golden {
        let io = Tensor::read_safetensors(dir.join("io.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
        let meta =
            serde_json::from_slice(&std::fs::read(dir.join("golden.json")).unwrap()).unwrap();
        Golden { io, meta, dir }
    }

    pub(super) fn t(&self, name: &str) -> &Tensor {
        self.io
            .get(name)
            .unwrap_or_else(|| panic!("fixture has no {name}"))
    }
    fn loss(&self, reg: &str, which: &str) -> f64 {
        self.meta["losses"][reg][which].as_f64().unwrap()
    }
}

fn model(g: &Golden) -> (VarStore, RetinaNet) {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let mut cfg = RetinaNetConfig::torchvision(18, 5);
    cfg.fpn_channels = 64;
    let m = RetinaNet::new(&vs.root(), &cfg);
    weights::load(&vs, &g.dir.join("weights.safetensors")).expect("torchvision's state dict loads");
    (vs, m)
}

/// `max |a − b| ≤ rel · max |b|` (relative to the reference tensor's scale), same shape.
pub(super) fn close(name: &str, ours: &Tensor, theirs: &Tensor, rel: f64) -> Result<(), String> {
    if ours.size() != theirs.size() {
        return Err(format!(
            "{name}: shape {:?} vs torchvision {:?}",
            ours.size(),
            theirs.size()
        ));
    }
    if theirs.numel() == 0 {
        return Ok(());
    }
    let (a, b) = (ours.to_kind(Kind::Double), theirs.to_kind(Kind::Double));
    let diff = (&a - &b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]).max(1e-12);
    if diff <= rel * scale {
        Ok(())
    } else {
        Err(format!(
            "{name}: max difference {diff:.3e} > {rel:.0e} × {scale:.3e}"
        ))
    }
}

pub(super) fn close_abs(
    name: &str,
    ours: &Tensor,
    theirs: &Tensor,
    tol: f64,
) -> Result<(), String> {
    if ours.size() != theirs.size() {
        return Err(format!(
            "{name}: shape {:?} vs torchvision {:?}",
            ours.size(),
            theirs.size()
        ));
    }
    if theirs.numel() == 0 {
        return Ok(());
    }
    let d = (ours.to_kind(Kind::Double) - theirs.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[]);
    if d <= tol {
        Ok(())
    } else {
        Err(format!("{name}: max difference {d:.3e} > {tol:.0e}"))
    }
}

pub(super) fn scalar_close(name: &str, ours: &Tensor, theirs: f64, rel: f64) -> Result<(), String> {
    let v = ours.double_value(&[]);
    if (v - theirs).abs() <= rel * theirs.abs().max(1e-6) {
        Ok(())
    } else {
        Err(format!("{name}: {v} vs torchvision {theirs}"))
    }
}

struct Run {
    batch: Tensor,
    sizes: Vec<(i64, i64)>,
    targets: Vec<Target>,
    out: Forward,
    anchors: Vec<Tensor>,
}

fn run(g: &Golden, m: &RetinaNet) -> Run {
    let t = Transform::torchvision(128, 160);
    let images = [g.t("image0").shallow_clone(), g.t("image1").shallow_clone()];
    let boxes = [
        g.t("boxes0").shallow_clone(),
        Tensor::zeros([0, 4], (Kind::Float, Device::Cpu)),
    ];
    let (list, scaled) = t.batch(&images, Some(&boxes));
    let targets = vec![
        Target {
            boxes: scaled[0].shallow_clone(),
            labels: g.t("labels0").shallow_clone(),
        },
        Target {
            boxes: scaled[1].shallow_clone(),
            labels: Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
        },
    ];
    let out = m.forward(&list.tensors);
    let anchors = m.anchors(&list.tensors, &out.features);
    Run {
        batch: list.tensors,
        sizes: list.image_sizes,
        targets,
        out,
        anchors,
    }
}

fn compare_forward(g: &Golden, r: &Run) -> Result<(), String> {
    close_abs("transformed batch", &r.batch, g.t("batch"), 1e-5)?;
    close_abs(
        "scaled boxes",
        &r.targets[0].boxes,
        g.t("scaled_boxes0"),
        1e-4,
    )?;
    let sizes: Vec<(i64, i64)> = g.meta["image_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_i64().unwrap(), s[1].as_i64().unwrap()))
        .collect();
    if sizes != r.sizes {
        return Err(format!(
            "image sizes {:?} vs torchvision {sizes:?}",
            r.sizes
        ));
    }
    close_abs("anchors", &Tensor::cat(&r.anchors, 0), g.t("anchors"), 1e-4)?;
    for (l, lv) in r.out.levels.iter().enumerate() {
        close(
            &format!("feature P{}", l + 3),
            &r.out.features[l],
            g.t(&format!("feature{l}")),
            1e-4,
        )?;
        close(
            &format!("cls_logits level {l}"),
            &lv.cls_logits,
            g.t(&format!("cls_logits{l}")),
            1e-4,
        )?;
        close(
            &format!("bbox_regression level {l}"),
            &lv.bbox_regression,
            g.t(&format!("bbox_regression{l}")),
            1e-4,
        )?;
    }
    Ok(())
}

/// torchvision's RetinaNet objective: focal (α 0.25, γ 2) and `reg`, normalised per image.
fn torchvision_terms(m: &RetinaNet, r: &Run, anchors: &[Tensor], reg: Box<dyn RegLoss>) -> Terms {
    let focal = Focal {
        alpha: 0.25,
        gamma: 2.0,
    };
    let objective =
        Objective::of_parts(Box::new(focal), Reg::Plain(reg), None, Normalise::PER_IMAGE);
    m.terms(&objective, &r.out, anchors, &r.targets)
}

fn compare_losses(g: &Golden, m: &RetinaNet, r: &Run, anchors: &[Tensor]) -> Result<(), String> {
    let regs: [(&str, Box<dyn RegLoss>); 3] = [
        ("l1", Box::new(L1)),
        ("smooth_l1", Box::new(SmoothL1 { beta: 1.0 })),
        ("giou", Box::new(Giou)),
    ];
    for (name, reg) in regs {
        let l = torchvision_terms(m, r, anchors, reg);
        scalar_close(
            "classification loss",
            &l.cls,
            g.loss(name, "classification"),
            1e-4,
        )?;
        scalar_close(
            &format!("{name} regression loss"),
            &l.reg,
            g.loss(name, "bbox_regression"),
            1e-4,
        )?;
    }
    Ok(())
}

fn compare_detections(
    g: &Golden,
    m: &RetinaNet,
    r: &Run,
    anchors: &[Tensor],
) -> Result<(), String> {
    let dets = m.postprocess(&r.out, anchors, &r.sizes, Score::Sigmoid);
    for (i, d) in dets.iter().enumerate() {
        let orig = g.t(&format!("image{i}")).size();
        let boxes = Transform::postprocess_boxes(&d.boxes, r.sizes[i], (orig[1], orig[2]));
        let n = g.t(&format!("det_scores{i}")).size()[0];
        if d.scores.size()[0] != n {
            return Err(format!(
                "image {i}: {} detections vs torchvision {n}",
                d.scores.size()[0]
            ));
        }
        close_abs(
            &format!("image {i} scores"),
            &d.scores,
            g.t(&format!("det_scores{i}")),
            1e-4,
        )?;
        close_abs(
            &format!("image {i} boxes"),
            &boxes,
            g.t(&format!("det_boxes{i}")),
            1e-2,
        )?;
        if !d.labels.equal(g.t(&format!("det_labels{i}"))) {
            return Err(format!("image {i}: labels differ"));
        }
    }
    Ok(())
}

#[test]
fn retinanet_matches_torchvision_outputs_losses_gradients_and_detections() {
    let g = golden();
    let (vs, m) = model(&g);
    let r = run(&g, &m);
    compare_forward(&g, &r).unwrap();
    compare_losses(&g, &m, &r, &r.anchors).unwrap();
    let _guard = tch::no_grad_guard();
    compare_detections(&g, &m, &r, &r.anchors).unwrap();
    drop(_guard);
    // Gradients of torchvision's default objective (focal + L1).
    let l = torchvision_terms(&m, &r, &r.anchors, Box::new(L1));
    (l.cls_backprop + l.reg).backward();
    let vars = vs.variables();
    close(
        "grad of cls_logits.weight",
        &vars["head.classification_head.cls_logits.weight"].grad(),
        g.t("grad_cls_logits_weight"),
        1e-3,
    )
    .unwrap();
    close(
        "grad of layer4.0.conv1.weight",
        &vars["backbone.body.layer4.0.conv1.weight"].grad(),
        g.t("grad_layer4_conv"),
        1e-3,
    )
    .unwrap();
    // Frozen as torchvision's trainable_layers=3 freezes them.
    assert!(!vars["backbone.body.layer1.0.conv1.weight"].requires_grad());
    assert!(!vars["backbone.body.conv1.weight"].requires_grad());
    assert!(vars["backbone.body.layer2.0.conv1.weight"].requires_grad());
}

#[test]
fn the_comparison_detects_a_shifted_anchor_a_wrong_stride_and_a_perturbed_weight() {
    let g = golden();
    let (vs, m) = model(&g);
    let r = run(&g, &m);
    // One anchor of P3 moved by one pixel: a different target for that anchor.
    let shifted: Vec<Tensor> = r.anchors.iter().map(|a| a.copy()).collect();
    let matched = m.match_image(&Tensor::cat(&r.anchors, 0), &r.targets[0]);
    let first_fg = matched.ge(0).nonzero().get(0).int64_value(&[0]);
    let (mut level, mut idx) = (0, first_fg);
    while idx >= shifted[level].size()[0] {
        idx -= shifted[level].size()[0];
        level += 1;
    }
    let _ = shifted[level].get(idx).g_add_scalar_(1.0);
    assert!(
        compare_losses(&g, &m, &r, &shifted).is_err(),
        "a shifted anchor must change the losses"
    );
    // Strides of a batch twice as large.
    let big = Tensor::zeros([2, 3, 320, 320], (Kind::Float, Device::Cpu));
    let wrong = m.anchors(&big, &r.out.features);
    assert!(
        compare_losses(&g, &m, &r, &wrong).is_err(),
        "a wrong stride must change the losses"
    );
    let err = tch::no_grad(|| compare_detections(&g, &m, &r, &wrong));
    assert!(err.is_err(), "a wrong stride must change the detections");
    // One weight of the regression tower perturbed.
    tch::no_grad(|| {
        let _ = vs.variables()["head.regression_head.conv.2.0.weight"]
            .get(3)
            .get(7)
            .get(1)
            .get(1)
            .g_add_scalar_(0.05);
    });
    let r2 = run(&g, &m);
    assert!(
        compare_forward(&g, &r2).is_err(),
        "a perturbed weight must change the head outputs"
    );
}

#[test]
fn weights_that_do_not_fit_are_an_error_listing_the_keys() {
    let g = golden();
    let vs = VarStore::new(Device::Cpu);
    let mut cfg = RetinaNetConfig::torchvision(18, 7);
    cfg.fpn_channels = 64;
    let _m = RetinaNet::new(&vs.root(), &cfg);
    let err = weights::load(&vs, &g.dir.join("weights.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mis-shaped") && err.contains("head.classification_head.cls_logits.weight"),
        "{err}"
    );
    let vs = VarStore::new(Device::Cpu);
    let _m = RetinaNet::new(&vs.root(), &RetinaNetConfig::torchvision(34, 5));
    let err = weights::load(&vs, &g.dir.join("weights.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing keys") && err.contains("backbone.body.layer1.2.conv1.weight"),
        "{err}"
    );
    let err = weights::load(&vs, &g.dir.join("nothing.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nothing.safetensors") && err.contains("no such file"),
        "{err}"
    );
}

#[test]
fn an_imagenet_state_dict_loads_into_the_backbone_body_without_its_classifier() {
    let g = golden();
    let detector = Tensor::read_safetensors(g.dir.join("weights.safetensors")).unwrap();
    let mut body: Vec<(String, Tensor)> = detector
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix("backbone.body.")
                .map(|k| (k.to_string(), t.shallow_clone()))
        })
        .collect();
    body.push((
        "fc.weight".into(),
        Tensor::zeros([1000, 512], (Kind::Float, Device::Cpu)),
    ));
    body.push((
        "fc.bias".into(),
        Tensor::zeros([1000], (Kind::Float, Device::Cpu)),
    ));
    let dir = tmp_root().join(format!("imagenet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("resnet18.safetensors");
    Tensor::write_safetensors(&body, &path).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let mut cfg = RetinaNetConfig::torchvision(18, 5);
    cfg.fpn_channels = 64;
    let _m = RetinaNet::new(&vs.root(), &cfg);
    let kind = weights::load(&vs, &path).unwrap();
    assert_eq!(kind, weights::WeightsKind::Backbone);
    let vars = vs.variables();
    let golden: BTreeMap<String, Tensor> = detector.into_iter().collect();
    for k in [
        "backbone.body.layer4.1.bn2.running_var",
        "backbone.body.conv1.weight",
    ] {
        assert!(vars[k].equal(&golden[k]), "{k}");
    }
    let err = weights::load_expecting(&vs, &path, weights::WeightsKind::Detector)
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.backbone.weights"), "{err}");
}

#[test]
fn predict_writes_torchvisions_detections_as_coco_results() {
    use crate::trainer::predict::{predict, DetectorKind, Labels, PredictOptions};
    let g = golden();
    let dir = tmp_root().join(format!("predict-{}", std::process::id()));
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(g.dir.join("photo.png"), images.join("photo.png")).unwrap();
    let out = dir.join("dt.json");
    let written = predict(&PredictOptions {
        detector: DetectorKind::Retinanet,
        weights: g.dir.join("weights.safetensors"),
        depth: 18,
        num_classes: 5,
        fpn_channels: 64,
        min_size: 128,
        max_size: 160,
        images,
        coco: None,
        labels: Labels::Direct,
        out: out.clone(),
        device: Device::Cpu,
    })
    .unwrap();
    assert_predictions_match(&g, &out, written);
}

/// `sweep predict`'s COCO results in `out` (`written` rows) against torchvision's eval-mode
/// detections on the fixture's photo: the same count, labels, boxes within 1e-2 px (as x, y,
/// w, h) and scores within 1e-4.
pub(super) fn assert_predictions_match(g: &Golden, out: &Path, written: usize) {
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    assert_eq!(rows.len(), written);
    let boxes = Vec::<f32>::try_from(g.t("photo_boxes").flatten(0, -1)).unwrap();
    let scores = Vec::<f32>::try_from(g.t("photo_scores")).unwrap();
    let labels = Vec::<i64>::try_from(g.t("photo_labels")).unwrap();
    assert_eq!(
        rows.len(),
        scores.len(),
        "detections of torchvision: {}",
        scores.len()
    );
    assert!(!rows.is_empty());
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["image_id"], 1);
        assert_eq!(r["category_id"].as_i64().unwrap(), labels[i], "row {i}");
        assert!(
            (r["score"].as_f64().unwrap() - scores[i] as f64).abs() <= 1e-4,
            "row {i}"
        );
        let b: Vec<f64> = r["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let t = &boxes[4 * i..4 * i + 4];
        let want = [t[0], t[1], t[2] - t[0], t[3] - t[1]];
        for k in 0..4 {
            assert!(
                (b[k] - want[k] as f64).abs() <= 1e-2,
                "row {i}: {b:?} vs {want:?}"
            );
        }
    }
}
