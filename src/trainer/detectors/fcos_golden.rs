//! Our FCOS against torchvision's (`tests/golden_fcos.py`, run at test time): the same weights
//! and FPN levels must give the same head outputs (1e-4 relative), anchors, matches, the three
//! training losses (1e-4) and the detections (same count, boxes within 1e-2 px, scores within
//! 1e-4), under torchvision's default thresholds, a set where top-k and the cap bite, and a low
//! threshold that lets P6 and P7 detections through.
//! A shifted anchor, the nominal strides in place of torchvision's `size // grid`, or one
//! perturbed weight must each make the comparison fail. The gradient of the summed losses for
//! every head parameter must match torchvision's to 1e-4 of that tensor's largest value.

use super::fcos::{Anchors, FcosDetector, FcosParams};
use crate::spec::config::JobConfig;
use crate::trainer::losses::Score;
use crate::trainer::objective::Objective;
use crate::trainer::synth::Object;
use crate::trainer::torchvision_golden::fixture;
use serde_json::Value;
use std::collections::HashMap;
use tch::{nn, Device, Kind, Tensor};

struct Golden {
    tensors: HashMap<String, Tensor>,
    json: Value,
    weights: std::path::PathBuf,
}

fn golden() -> Golden {
    let dir = fixture("golden_fcos.py").unwrap_or_else(|e| panic!("{e}"));
    let weights = dir.join("fcos.safetensors");
    let tensors = Tensor::read_safetensors(&weights)
        .expect("the script writes safetensors")
        .into_iter()
        .collect();
    let json = serde_json::from_slice(&std::fs::read(dir.join("fcos.json")).unwrap()).unwrap();
    Golden {
        tensors,
        json,
        weights,
    }
}

/// What a test changes on our side before comparing.
#[derive(Clone, Copy, PartialEq)]
enum Tweak {
    None,
    /// Moves the one anchor of the smallest box 1 px right.
    ShiftAnchor,
    /// Strides 8 · 2^l on both axes instead of torchvision's `batch // grid`.
    NominalStrides,
    /// Adds 0.01 to one weight of the regression tower's first conv.
    PerturbWeight,
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|x| match x.as_array() {
            Some(a) => a.iter().map(|y| y.as_f64().unwrap()).collect(),
            None => vec![x.as_f64().unwrap()],
        })
        .collect()
}

fn host(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

/// The first index where `|a − b| > tol · max(1, |b|)`, as a message.
fn close(what: &str, a: &[f64], b: &[f64], tol: f64) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!(
            "{what}: {} values, torchvision {}",
            a.len(),
            b.len()
        ));
    }
    match (0..a.len()).find(|&i| (a[i] - b[i]).abs() > tol * b[i].abs().max(1.0)) {
        Some(i) => Err(format!("{what}[{i}]: {} vs torchvision {}", a[i], b[i])),
        None => Ok(()),
    }
}

fn objects(g: &Golden) -> Vec<Vec<Object>> {
    g.json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let boxes = floats(&t["boxes"]);
            let labels = t["labels"].as_array().unwrap();
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| Object {
                    class: l.as_u64().unwrap() as usize,
                    bbox: std::array::from_fn(|k| boxes[i * 4 + k] as f32),
                })
                .collect()
        })
        .collect()
}

/// Everything compared, with `tweak` applied; the failures, by part.
fn compare(tweak: Tweak) -> Vec<(&'static str, String)> {
    let _guard = tch::no_grad_guard();
    let g = golden();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut det = FcosDetector::new(&vs.root(), 64, 3, 4, FcosParams::default(), None);
    vs.load(&g.weights)
        .expect("every head parameter is in the file");
    if tweak == Tweak::PerturbWeight {
        let w = vs
            .variables()
            .remove("head.regression_head.conv.0.weight")
            .unwrap();
        let _ = w.get(0).get(0).get(1).get(1).g_add_scalar_(0.01);
    }
    let feats: Vec<Tensor> = (0..5)
        .map(|l| g.tensors[&format!("feat.{l}")].shallow_clone())
        .collect();
    let out = det.head.forward(&feats);
    let mut fails = Vec::new();
    let mut check = |part: &'static str, r: Result<(), String>| {
        if let Err(e) = r {
            fails.push((part, e));
        }
    };
    let want = |k: &str| host(&g.tensors[k]);
    check(
        "head",
        close("cls_logits", &host(&out.cls), &want("out.cls_logits"), 1e-4),
    );
    check(
        "head",
        close(
            "bbox_regression",
            &host(&out.reg),
            &want("out.bbox_regression"),
            1e-4,
        ),
    );
    let ctr = out.ctr.as_ref().unwrap();
    check(
        "head",
        close("bbox_ctrness", &host(ctr), &want("out.bbox_ctrness"), 1e-4),
    );

    let mut anchors = Anchors::of_levels([128, 160], &feats).unwrap();
    let objs = objects(&g);
    match tweak {
        Tweak::ShiftAnchor => {
            let tiny = objs[0].len() - 1;
            let i = det
                .match_image(&anchors, &objs[0])
                .iter()
                .position(|&m| m == tiny as i64);
            let a = &mut anchors.boxes[i.expect("the tiny box has an anchor")];
            a[0] += 1.0;
            a[2] += 1.0;
        }
        Tweak::NominalStrides => {
            let grids: Vec<[i64; 2]> = anchors
                .grids
                .iter()
                .map(|g| [g.height as i64, g.width as i64])
                .collect();
            anchors.boxes.clear();
            for (l, g) in grids.iter().enumerate() {
                let nominal = Anchors::new(
                    [g[0] << (l + 3), g[1] << (l + 3)],
                    &[*g],
                    &[8.0 * (1 << l) as f32],
                )
                .unwrap();
                anchors.boxes.extend(nominal.boxes);
            }
        }
        _ => {}
    }
    if tweak == Tweak::None {
        check(
            "anchors",
            close(
                "anchors",
                &host(&Tensor::from_slice(&anchors.boxes.concat())),
                &want("anchors"),
                0.0,
            ),
        );
        for (b, o) in objs.iter().enumerate() {
            let m: Vec<f64> = det
                .match_image(&anchors, o)
                .iter()
                .map(|&v| v as f64)
                .collect();
            check(
                "matches",
                close("matched", &m, &floats(&g.json["matched"][b]), 0.0),
            );
        }
    }

    let refs: Vec<&[Object]> = objs.iter().map(|o| o.as_slice()).collect();
    let t = det
        .assign(&anchors, &refs)
        .to_device(&anchors.priors_tensor(Device::Cpu), Device::Cpu);
    let objective = Objective::new(&JobConfig::default());
    let terms = det.terms(&objective, &out, &t, &feats);
    let l = &g.json["losses"];
    let ours = [&terms.cls, &terms.reg, terms.ctr.as_ref().unwrap()].map(|t| t.double_value(&[]));
    let theirs =
        ["classification", "bbox_regression", "bbox_ctrness"].map(|k| l[k].as_f64().unwrap());
    for (i, name) in ["classification", "bbox_regression", "bbox_ctrness"]
        .iter()
        .enumerate()
    {
        if (ours[i] - theirs[i]).abs() > 1e-4 {
            check(
                "losses",
                Err(format!("{name}: {} vs torchvision {}", ours[i], theirs[i])),
            );
        }
    }

    let sizes: Vec<[i64; 2]> = g.json["image_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| [s[0].as_i64().unwrap(), s[1].as_i64().unwrap()])
        .collect();
    for set in ["default", "topk", "all_levels"] {
        let p = &g.json["detections"][set]["params"];
        det.params = FcosParams {
            score_thresh: p["score_thresh"].as_f64().unwrap() as f32,
            nms_thresh: p["nms_thresh"].as_f64().unwrap() as f32,
            detections_per_img: p["detections_per_img"].as_u64().unwrap() as usize,
            topk_candidates: p["topk_candidates"].as_u64().unwrap() as usize,
            ..FcosParams::default()
        };
        let dets = det.detect(&out, &anchors, &sizes, Score::Sigmoid);
        for (b, d) in dets.iter().enumerate() {
            let want = &g.json["detections"][set]["images"][b];
            let n = want["scores"].as_array().unwrap().len();
            if d.len() != n {
                check(
                    "detections",
                    Err(format!(
                        "{set} image {b}: {} detections, torchvision {n}",
                        d.len()
                    )),
                );
                continue;
            }
            let boxes: Vec<f64> = d.iter().flat_map(|x| x.bbox.map(f64::from)).collect();
            let scores: Vec<f64> = d.iter().map(|x| x.score as f64).collect();
            let labels: Vec<f64> = d.iter().map(|x| x.class as f64).collect();
            check(
                "detections",
                close(
                    &format!("{set} image {b} boxes"),
                    &boxes,
                    &floats(&want["boxes"]),
                    0.0,
                )
                .or_else(|_| {
                    let w = floats(&want["boxes"]);
                    match (0..w.len()).find(|&i| (boxes[i] - w[i]).abs() > 1e-2) {
                        Some(i) => Err(format!(
                            "{set} image {b} box value {i}: {} vs torchvision {}",
                            boxes[i], w[i]
                        )),
                        None => Ok(()),
                    }
                }),
            );
            let ws = floats(&want["scores"]);
            if let Some(i) = (0..n).find(|&i| (scores[i] - ws[i]).abs() > 1e-4) {
                check(
                    "detections",
                    Err(format!(
                        "{set} image {b} score {i}: {} vs torchvision {}",
                        scores[i], ws[i]
                    )),
                );
            }
            check(
                "detections",
                close(
                    &format!("{set} image {b} labels"),
                    &labels,
                    &floats(&want["labels"]),
                    0.0,
                ),
            );
        }
    }
    fails
}

fn parts(fails: &[(&'static str, String)]) -> Vec<&'static str> {
    let mut p: Vec<&str> = fails.iter().map(|f| f.0).collect();
    p.dedup();
    p
}

#[test]
fn fcos_matches_torchvision() {
    let fails = compare(Tweak::None);
    assert!(fails.is_empty(), "{fails:#?}");
}

#[test]
fn fcos_comparison_catches_a_shifted_anchor() {
    let fails = compare(Tweak::ShiftAnchor);
    assert!(parts(&fails).contains(&"losses"), "{fails:#?}");
    assert!(!parts(&fails).contains(&"head"), "{fails:#?}");
}

#[test]
fn fcos_comparison_catches_nominal_strides() {
    let fails = compare(Tweak::NominalStrides);
    assert!(parts(&fails).contains(&"detections"), "{fails:#?}");
}

#[test]
fn fcos_comparison_catches_a_perturbed_weight() {
    let fails = compare(Tweak::PerturbWeight);
    assert!(parts(&fails).contains(&"head"), "{fails:#?}");
}

/// `|a − b| ≤ tol · max|b|` over a whole tensor (gradients span many magnitudes).
fn close_scaled(what: &str, a: &[f64], b: &[f64], tol: f64) -> Result<(), String> {
    let scale = b.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
    match (0..a.len().min(b.len())).find(|&i| (a[i] - b[i]).abs() > tol * scale) {
        _ if a.len() != b.len() => Err(format!(
            "{what}: {} values, torchvision {}",
            a.len(),
            b.len()
        )),
        Some(i) => Err(format!(
            "{what}[{i}]: {} vs torchvision {} (scale {scale})",
            a[i], b[i]
        )),
        None => Ok(()),
    }
}

#[test]
fn fcos_gradients_match_torchvision() {
    let g = golden();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let det = FcosDetector::new(&vs.root(), 64, 3, 4, FcosParams::default(), None);
    vs.load(&g.weights)
        .expect("every head parameter is in the file");
    let feats: Vec<Tensor> = (0..5)
        .map(|l| g.tensors[&format!("feat.{l}")].shallow_clone())
        .collect();
    let objs = objects(&g);
    let refs: Vec<&[Object]> = objs.iter().map(|o| o.as_slice()).collect();
    let objective = Objective::new(&JobConfig::default());
    let terms = det
        .train_terms(&objective, &feats, [128, 160], &refs)
        .unwrap();
    (&terms.cls_backprop + &terms.reg + terms.ctr.as_ref().unwrap()).backward();
    let mut fails = Vec::new();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, v) in &vars {
        let want = host(&g.tensors[&format!("grad.{name}")]);
        if let Err(e) = close_scaled(name, &host(&v.grad()), &want, 1e-4) {
            fails.push(e);
        }
    }
    assert_eq!(
        vars.len(),
        4 * 4 + 2 + 4 * 4 + 4,
        "every head parameter is compared"
    );
    assert!(fails.is_empty(), "{fails:#?}");
}
