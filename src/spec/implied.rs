//! Defaults that depend on other settings, applied in one place on the way from layers of
//! settings to a typed config (before validation, so every job id already includes them).
//!
//! - `train.grad_clip`: 10 for the tiny detectors (what keeps L2 on FCOS distances trainable);
//!   none for `torchvision_retinanet`, `torchvision_fcos` and `torchvision_ssd`, whose training follows torchvision's
//!   detection reference scripts (`references/detection/train.py`), which clip no gradients. A
//!   spec that writes `train.grad_clip` (a number or null) keeps what it wrote.
//! - `loss.cls` and `loss.reg` of `torchvision_faster_rcnn` (its box head's): torchvision's
//!   `fastrcnn_loss`, softmax cross-entropy and smooth L1 with β = 1/9, when the spec does not
//!   write them; `loss.rpn.reg` is the box head's `loss.reg` when not written (one regression
//!   loss for both stages, torchvision's smooth L1 by default), and `loss.rpn.weights` 1:1
//!   ([`RpnLossSpec`]); the validator refuses `loss.rpn` on the one-stage detectors.
//! - `loss.reg.ur_scope` (UGS): `image` when UR is on (γ > 0) and the spec does not say;
//!   dropped when γ = 0, where nothing reads it, so jobs without UR keep their ids.

use super::config::{DetectorSpec, JobConfig, RegLossSpec, RpnLossSpec, UrScope};
use super::yaml::Value;

/// Detector kinds whose training copies torchvision's reference recipe (no gradient clipping).
const REFERENCE_RECIPE_DETECTORS: [&str; 4] = [
    "torchvision_retinanet",
    "torchvision_fcos",
    "torchvision_ssd",
    "torchvision_faster_rcnn",
];

/// The two-stage detector, whose `loss.cls` / `loss.reg` defaults are its box head's.
const TWO_STAGE: &str = "torchvision_faster_rcnn";

/// The settings tree of the defaults a spec is laid over, without the keys whose default
/// depends on other settings (else they would look written, and [`fill_written_defaults`]
/// could not tell): a section's serde default fills them when nothing else does.
pub fn defaults_tree() -> Value {
    let mut base = super::yaml::to_value(&JobConfig::default());
    if let Some(train) = base.get_mut("train").and_then(Value::as_mapping_mut) {
        train.remove("grad_clip");
    }
    base
}

/// Fills, in the settings tree, the defaults that depend on which keys were written.
pub fn fill_written_defaults(value: &mut Value) {
    let detector = value
        .get("model")
        .and_then(|m| m.get("detector"))
        .and_then(|d| d.get("kind"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let detector = detector.as_deref();
    if !detector.is_some_and(|k| REFERENCE_RECIPE_DETECTORS.contains(&k)) {
        return;
    }
    let Some(root) = value.as_mapping_mut() else {
        return;
    };
    let train = root
        .entry(Value::String("train".into()))
        .or_insert_with(|| Value::Mapping(Default::default()));
    if let Some(train) = train.as_mapping_mut() {
        train
            .entry(Value::String("grad_clip".into()))
            .or_insert(Value::Null);
    }
    if detector == Some(TWO_STAGE) {
        let loss = root
            .entry(Value::String("loss".into()))
            .or_insert_with(|| Value::Mapping(Default::default()));
        if let Some(loss) = loss.as_mapping_mut() {
            for (key, kind) in [("cls", "softmax"), ("reg", "smooth_l1")] {
                let mut m = serde_yaml::Mapping::new();
                m.insert(Value::String("kind".into()), Value::String(kind.into()));
                loss.entry(Value::String(key.into()))
                    .or_insert(Value::Mapping(m));
            }
            // One regression loss for both stages unless the RPN's is written.
            let reg = loss[&Value::String("reg".into())].clone();
            let rpn = loss
                .entry(Value::String("rpn".into()))
                .or_insert_with(|| Value::Mapping(Default::default()));
            if let Some(rpn) = rpn.as_mapping_mut() {
                rpn.entry(Value::String("reg".into())).or_insert(reg);
            }
        }
    }
}

/// Fills, in the typed config, the defaults that depend on other fields' values.
pub fn fill_dependent_defaults(cfg: &mut JobConfig) {
    if matches!(cfg.model.detector, DetectorSpec::TorchvisionFasterRcnn(_)) {
        cfg.loss.rpn.get_or_insert_with(RpnLossSpec::default);
    }
    if let RegLossSpec::Ugs(u) = &mut cfg.loss.reg {
        u.ur_scope = if u.gamma > 0.0 {
            Some(u.ur_scope.unwrap_or(UrScope::Image))
        } else {
            None
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(yaml: &str) -> JobConfig {
        let mut v: Value = serde_yaml::from_str(yaml).unwrap();
        fill_written_defaults(&mut v);
        let mut cfg: JobConfig = serde_yaml::from_value(v).unwrap();
        fill_dependent_defaults(&mut cfg);
        cfg
    }

    /// The spec's defaults tree leaves `train.grad_clip` unwritten, so the detector's rule
    /// decides it once a spec is laid over the tree.
    #[test]
    fn grad_clip_default_depends_on_the_detector_under_the_defaults_tree() {
        let on_tree = |yaml: &str| {
            let mut v = defaults_tree();
            super::super::resolve::merge(&mut v, serde_yaml::from_str(yaml).unwrap());
            fill_written_defaults(&mut v);
            let cfg: JobConfig = serde_yaml::from_value(v).unwrap();
            cfg.train.grad_clip
        };
        assert_eq!(on_tree("{}"), Some(10.0));
        for kind in REFERENCE_RECIPE_DETECTORS {
            assert_eq!(
                on_tree(&format!("model: {{detector: {{kind: {kind}}}}}")),
                None
            );
            let written = format!("model: {{detector: {{kind: {kind}}}}}\ntrain: {{grad_clip: 5}}");
            assert_eq!(on_tree(&written), Some(5.0));
        }
    }

    #[test]
    fn grad_clip_default_depends_on_the_detector() {
        assert_eq!(
            resolved("model: {detector: {kind: fcos}}").train.grad_clip,
            Some(10.0)
        );
        assert_eq!(resolved("{}").train.grad_clip, Some(10.0));
        for kind in REFERENCE_RECIPE_DETECTORS {
            let cfg = resolved(&format!("model: {{detector: {{kind: {kind}}}}}"));
            assert_eq!(cfg.train.grad_clip, None, "{kind}");
            let cfg = resolved(&format!(
                "model: {{detector: {{kind: {kind}}}}}\ntrain: {{grad_clip: 5, lr: 0.1}}"
            ));
            assert_eq!((cfg.train.grad_clip, cfg.train.lr), (Some(5.0), 0.1));
        }
    }

    #[test]
    fn faster_rcnn_losses_default_to_torchvision() {
        use crate::spec::config::ClsLossSpec;
        let cfg = resolved("model: {detector: {kind: torchvision_faster_rcnn}}");
        assert_eq!(cfg.loss.cls, ClsLossSpec::Softmax);
        assert_eq!(cfg.loss.reg, RegLossSpec::SmoothL1 { beta: 1.0 / 9.0 });
        assert_eq!(cfg.loss.rpn, Some(RpnLossSpec::default()));
        assert_eq!(cfg.train.grad_clip, None);
        let cfg = resolved(
            "model: {detector: {kind: torchvision_faster_rcnn}}\nloss: {reg: {kind: ciou}}",
        );
        assert_eq!(
            (&cfg.loss.cls, &cfg.loss.reg),
            (&ClsLossSpec::Softmax, &RegLossSpec::Ciou)
        );
        assert_eq!(cfg.loss.rpn.as_ref().unwrap().reg, RegLossSpec::Ciou);
        let cfg = resolved(
            "model: {detector: {kind: torchvision_faster_rcnn}}\nloss: {reg: {kind: l1}, rpn: {reg: {kind: smooth_l1, beta: 0.5}, weights: {cls: 2}}}",
        );
        let rpn = cfg.loss.rpn.unwrap();
        assert_eq!(rpn.reg, RegLossSpec::SmoothL1 { beta: 0.5 });
        assert_eq!((rpn.weights.cls, rpn.weights.reg), (2.0, 1.0));
        // Other detectors keep their defaults and no RPN losses.
        let cfg = resolved("model: {detector: {kind: torchvision_retinanet}}");
        assert!(matches!(cfg.loss.cls, ClsLossSpec::Focal { .. }));
        assert_eq!(cfg.loss.rpn, None);
    }

    #[test]
    fn ur_scope_is_image_with_ur_and_absent_without() {
        let ugs = |extra: &str| match resolved(&format!("loss: {{reg: {{kind: ugs{extra}}}}}"))
            .loss
            .reg
        {
            RegLossSpec::Ugs(u) => u.ur_scope,
            _ => unreachable!(),
        };
        assert_eq!(ugs(", gamma: 0.1"), Some(UrScope::Image));
        assert_eq!(ugs(", gamma: 0.1, ur_scope: level"), Some(UrScope::Level));
        assert_eq!(ugs(""), None);
        assert_eq!(ugs(", ur_scope: level"), None);
    }
}
