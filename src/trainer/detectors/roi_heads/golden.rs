//! Our box head against torchvision's `RoIHeads` (`tests/golden_roi_heads.py`, run at test time),
//! apart from the pooling: we are fed torchvision's pooled features and replay its sampler's
//! draws. Compared: the labels before sampling and the sampled indices (exactly), the sampled
//! labels (exactly) and regression targets (1e-4 relative), the head's outputs (1e-4 relative),
//! the two losses (1e-4), the regression loss under L1, GIoU, DIoU and CIoU from the registry
//! against torchvision.ops on the same positives (1e-4 relative), the gradients of their sum for `fc6.weight` and the pooled features
//! (1e-3 relative), and the eval detections under torchvision's defaults and a stricter set (same
//! count and labels, boxes within 1e-2 px, scores within 1e-4). From torchvision's seed, our
//! [`TorchDraw`] must draw what torchvision drew (torch's `randperm`, same generator). Box coder weights (1, 1, 1, 1) or another score
//! threshold must each break the parts they touch, and only those.

use super::loss::BoxClassLoss;
use super::{RoiHeads, RoiHeadsConfig};
use crate::trainer::detectors::retinanet::{Detections, Target};
use crate::trainer::detectors::sampler::{Draw, Side, TorchDraw};
use crate::trainer::losses::diou::{Ciou, Diou};
use crate::trainer::losses::{giou::Giou, l1::L1, smooth_l1::SmoothL1, RegLoss, Score};
use crate::trainer::torchvision_golden::fixture;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use tch::{nn, Device, Kind, Tensor};

struct Golden {
    io: HashMap<String, Tensor>,
    json: Value,
    weights: std::path::PathBuf,
}

impl Golden {
    fn load() -> Golden {
        let dir = fixture("golden_roi_heads.py").unwrap_or_else(|e| panic!("{e}"));
        let io = Tensor::read_safetensors(dir.join("io.safetensors"))
            .expect("the script writes safetensors")
            .into_iter()
            .collect();
        let json =
            serde_json::from_slice(&std::fs::read(dir.join("golden.json")).unwrap()).unwrap();
        Golden {
            io,
            json,
            weights: dir.join("weights.safetensors"),
        }
    }

    fn t(&self, name: &str) -> &Tensor {
        self.io
            .get(name)
            .unwrap_or_else(|| panic!("the fixture has no {name}"))
    }

    fn per_image(&self, name: &str) -> Vec<Tensor> {
        (0..2)
            .map(|i| self.t(&format!("{name}{i}")).shallow_clone())
            .collect()
    }

    fn image_sizes(&self) -> Vec<(i64, i64)> {
        self.json["image_sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s[0].as_i64().unwrap(), s[1].as_i64().unwrap()))
            .collect()
    }

    fn targets(&self) -> Vec<Target> {
        vec![
            Target {
                boxes: self.t("gt_boxes0").shallow_clone(),
                labels: self.t("gt_labels0").shallow_clone(),
            },
            Target {
                boxes: Tensor::zeros([0, 4], (Kind::Float, Device::Cpu)),
                labels: Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
            },
        ]
    }

    /// torchvision's draws, in our sampler's order (per image: positives, then negatives).
    fn draws(&self, prefix: &str) -> Vec<Tensor> {
        (0..2)
            .flat_map(|i| {
                ["pos", "neg"].map(|w| self.t(&format!("{prefix}_{w}{i}")).shallow_clone())
            })
            .collect()
    }
}

/// Replays recorded draws (positions among the candidates, in draw order).
struct Replay(VecDeque<Tensor>);

impl Draw for Replay {
    fn draw(&mut self, _: usize, _: Side, candidates: &[i64], k: usize) -> Vec<i64> {
        let t = self.0.pop_front().expect("torchvision drew as often");
        let n = candidates.len();
        assert_eq!(
            t.size()[0] as usize,
            k,
            "torchvision drew {} of {n}",
            t.size()[0]
        );
        Vec::<i64>::try_from(t.to_kind(Kind::Int64))
            .unwrap()
            .into_iter()
            .map(|p| candidates[p as usize])
            .collect()
    }
}

/// Records what another draw chose, as sorted positions among the candidates (a draw decides
/// a set).
struct Recording(TorchDraw, Vec<Tensor>);

impl Draw for Recording {
    fn draw(&mut self, image: usize, side: Side, candidates: &[i64], k: usize) -> Vec<i64> {
        let chosen = self.0.draw(image, side, candidates, k);
        let mut pos: Vec<i64> = chosen
            .iter()
            .map(|c| candidates.binary_search(c).unwrap() as i64)
            .collect();
        pos.sort_unstable();
        self.1.push(Tensor::from_slice(&pos));
        chosen
    }
}

/// What a test changes on our side.
#[derive(Clone, Copy, PartialEq)]
enum Tweak {
    None,
    /// RetinaNet's coder weights instead of (10, 10, 5, 5).
    UnitCoderWeights,
    /// Score threshold 0.2 instead of 0.05.
    ScoreThresh,
}

fn heads(g: &Golden, tweak: Tweak) -> (nn::VarStore, RoiHeads) {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut cfg = RoiHeadsConfig::torchvision(g.json["classes"].as_i64().unwrap());
    cfg.pooled_channels = g.json["channels"].as_i64().unwrap();
    cfg.representation = g.json["representation"].as_i64().unwrap();
    cfg.batch_size_per_image = g.json["batch_size_per_image"].as_i64().unwrap();
    match tweak {
        Tweak::None => {}
        Tweak::UnitCoderWeights => cfg.box_coder_weights = [1.0; 4],
        Tweak::ScoreThresh => cfg.score_thresh = 0.2,
    }
    let h = RoiHeads::new(&(vs.root() / "roi_heads"), &cfg);
    vs.load(&g.weights).expect("torchvision's state dict loads");
    (vs, h)
}

/// `max |a − b| ≤ rel · max |b|`, same shape.
fn close(what: &str, ours: &Tensor, theirs: &Tensor, rel: f64) -> Result<(), String> {
    if ours.size() != theirs.size() {
        return Err(format!(
            "{what}: shape {:?} vs torchvision {:?}",
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
            "{what}: max difference {diff:.3e}, scale {scale:.3e}"
        ))
    }
}

fn equal(what: &str, ours: &Tensor, theirs: &Tensor) -> Result<(), String> {
    let host = |t: &Tensor| Vec::<i64>::try_from(t.to_kind(Kind::Int64).flatten(0, -1)).unwrap();
    if host(ours) == host(theirs) {
        Ok(())
    } else {
        Err(format!(
            "{what}: {:?} vs torchvision {:?}",
            host(ours),
            host(theirs)
        ))
    }
}

fn scalar_close(what: &str, ours: f64, theirs: f64, tol: f64) -> Result<(), String> {
    if (ours - theirs).abs() <= tol * theirs.abs().max(1.0) {
        Ok(())
    } else {
        Err(format!("{what}: {ours} vs torchvision {theirs}"))
    }
}

/// Same count and labels, boxes within 1e-2 px, scores within 1e-4.
fn detections(what: &str, ours: &[Detections], g: &Golden, prefix: &str) -> Result<(), String> {
    for (i, d) in ours.iter().enumerate() {
        let name = |k: &str| format!("{prefix}det_{k}{i}");
        equal(
            &format!("{what} labels {i}"),
            &d.labels,
            g.t(&name("labels")),
        )?;
        let db = (&d.boxes - g.t(&name("boxes")))
            .abs()
            .max()
            .double_value(&[]);
        let ds = (&d.scores - g.t(&name("scores")))
            .abs()
            .max()
            .double_value(&[]);
        if db > 1e-2 || ds > 1e-4 {
            return Err(format!(
                "{what} {i}: boxes off by {db:.3e} px, scores by {ds:.3e}"
            ));
        }
    }
    Ok(())
}

/// Every comparison, with `tweak` applied; the failures, by part.
fn compare(tweak: Tweak) -> Vec<(&'static str, String)> {
    let g = Golden::load();
    let (vs, h) = heads(&g, tweak);
    let proposals = g.per_image("proposals");
    let targets = g.targets();
    let mut failures = vec![];
    let mut check = |part: &'static str, r: Result<(), String>| {
        if let Err(e) = r {
            failures.push((part, e));
        }
    };

    // Matching, before the sampler.
    for (i, (p, t)) in proposals.iter().zip(&targets).enumerate() {
        let all = Tensor::cat(&[p, &t.boxes], 0);
        let (_, labels) = h.assign(&all, t);
        check(
            "labels",
            equal(
                &format!("labels before sampling {i}"),
                &labels,
                g.t(&format!("labels_in{i}")),
            ),
        );
    }

    // Training: torchvision's draws and pooled features.
    let pooled = g.t("pooled").detach().set_requires_grad(true);
    let pool = |_: &[Tensor]| pooled.shallow_clone();
    let mut replay = Replay(g.draws("draw").into());
    let out = h.forward_train(
        &pool,
        &proposals,
        &targets,
        &mut replay,
        &BoxClassLoss::Softmax,
        &SmoothL1 { beta: 1.0 / 9.0 },
    );
    let s = &out.samples;
    for i in 0..2 {
        check(
            "sampling",
            equal(
                &format!("sampled {i}"),
                &s.indices[i],
                g.t(&format!("sampled{i}")),
            ),
        );
        check(
            "sampling",
            equal(
                &format!("sampled labels {i}"),
                &s.labels[i],
                g.t(&format!("sampled_labels{i}")),
            ),
        );
        // Background rows of the image without objects encode against a zero box: −∞ in both.
        let (ours, theirs) = (
            &s.regression_targets[i],
            g.t(&format!("regression_targets{i}")),
        );
        let finite = theirs.isfinite();
        check(
            "regression_targets",
            equal(&format!("finite targets {i}"), &ours.isfinite(), &finite),
        );
        let zero = Tensor::zeros_like(theirs);
        check(
            "regression_targets",
            close(
                &format!("regression targets {i}"),
                &ours.where_self(&finite, &zero),
                &theirs.where_self(&finite, &zero),
                1e-4,
            ),
        );
    }
    check(
        "head",
        close(
            "class logits",
            &out.head.class_logits,
            g.t("class_logits"),
            1e-4,
        ),
    );
    check(
        "head",
        close(
            "box regression",
            &out.head.box_regression,
            g.t("box_regression"),
            1e-4,
        ),
    );
    let losses = &g.json["losses"];
    let l = &out.losses;
    check(
        "losses",
        scalar_close(
            "loss_classifier",
            l.cls.double_value(&[]),
            losses["loss_classifier"].as_f64().unwrap(),
            1e-4,
        ),
    );
    check(
        "losses",
        scalar_close(
            "loss_box_reg",
            l.reg.double_value(&[]),
            losses["loss_box_reg"].as_f64().unwrap(),
            1e-4,
        ),
    );
    // Other registry losses on the same positives, against torchvision.ops (1e-4 relative).
    let others: [(&str, &dyn RegLoss); 4] = [
        ("l1", &L1),
        ("giou", &Giou),
        ("diou", &Diou),
        ("ciou", &Ciou),
    ];
    for (name, reg) in others {
        let ours = h
            .losses(&out.head, s, &BoxClassLoss::Softmax, reg)
            .reg
            .double_value(&[]);
        let theirs = g.json["registry_losses"][name].as_f64().unwrap();
        check("losses", scalar_close(name, ours / theirs, 1.0, 1e-4));
    }
    (&l.cls_backprop + &l.reg).backward();
    let fc6 = vs.variables()["roi_heads.box_head.fc6.weight"].grad();
    check(
        "gradients",
        close("d/d fc6.weight", &fc6, g.t("grad_fc6_weight"), 1e-3),
    );
    check(
        "gradients",
        close("d/d pooled", &pooled.grad(), g.t("grad_pooled"), 1e-3),
    );

    // Eval on fixed proposals.
    let _guard = tch::no_grad_guard();
    let eval_proposals = g.per_image("eval_proposals");
    let eval_pooled = g.t("eval_pooled").shallow_clone();
    let sizes = g.image_sizes();
    let dets = h.forward_eval(
        &|_: &[Tensor]| eval_pooled.shallow_clone(),
        &eval_proposals,
        &sizes,
        &BoxClassLoss::Softmax,
    );
    check("detections", detections("default", &dets, &g, ""));
    let head = h.forward_head(&eval_pooled);
    check(
        "head",
        close(
            "eval class logits",
            &head.class_logits,
            g.t("eval_class_logits"),
            1e-4,
        ),
    );
    let mut strict = h;
    let set = &g.json["sets"]["strict"];
    strict.cfg.score_thresh = set["score_thresh"].as_f64().unwrap();
    strict.cfg.nms_thresh = set["nms_thresh"].as_f64().unwrap();
    strict.cfg.detections_per_img = set["detections_per_img"].as_i64().unwrap();
    let dets = strict.postprocess(&head, &eval_proposals, &sizes, Score::Softmax);
    check("detections", detections("strict", &dets, &g, "strict_"));
    failures
}

/// Our seeded draws (from torchvision's seed) against torchvision's, or why not.
fn seeded_draws(g: &Golden, h: &RoiHeads) -> Result<(), String> {
    let proposals = g.per_image("proposals");
    tch::manual_seed(g.json["seed"].as_i64().unwrap());
    let mut rec = Recording(TorchDraw, vec![]);
    let _ = h.select_training_samples(&proposals, &g.targets(), &mut rec);
    let theirs = g.draws("seeded");
    if rec.1.len() != theirs.len() {
        return Err(format!(
            "{} draws, torchvision {}",
            rec.1.len(),
            theirs.len()
        ));
    }
    for (k, (ours, theirs)) in rec.1.iter().zip(&theirs).enumerate() {
        equal(&format!("seeded draw {k}"), ours, theirs)?;
    }
    Ok(())
}

fn parts(failures: &[(&'static str, String)]) -> Vec<&'static str> {
    let mut p: Vec<&'static str> = failures.iter().map(|f| f.0).collect();
    p.dedup();
    p
}

#[test]
fn roi_heads_match_torchvision() {
    let failures = compare(Tweak::None);
    assert!(failures.is_empty(), "{failures:#?}");
    let g = Golden::load();
    // The fixture exercises what it should: positives sampled, the cap and the threshold biting.
    assert_eq!(g.json["positives"][0].as_i64(), Some(8));
    assert_eq!(g.t("det_scores0").size()[0], 100);
    assert!(g.t("strict_det_scores0").size()[0] < 10);
}

/// torch's generator is global to the process and other tests draw from it in parallel: an
/// interleaved draw can only spoil a match (never make one), so a few attempts are allowed.
#[test]
fn roi_heads_seeded_draws_are_torchvisions() {
    let g = Golden::load();
    let (_vs, h) = heads(&g, Tweak::None);
    let attempts: Vec<Result<(), String>> = (0..5).map(|_| seeded_draws(&g, &h)).collect();
    assert!(attempts.iter().any(|a| a.is_ok()), "{attempts:#?}");
}

#[test]
fn roi_heads_golden_catches_unit_coder_weights() {
    let failures = compare(Tweak::UnitCoderWeights);
    assert_eq!(
        parts(&failures),
        vec!["regression_targets", "losses", "gradients", "detections"],
        "{failures:#?}"
    );
}

#[test]
fn roi_heads_golden_catches_another_score_threshold() {
    let failures = compare(Tweak::ScoreThresh);
    assert_eq!(parts(&failures), vec!["detections"], "{failures:#?}");
}
