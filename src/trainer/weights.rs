//! Loading torchvision's weights: a whole detector's state dict (keys `backbone.body.*`,
//! `backbone.fpn.*`, `head.*`, as `retinanet_resnet50_fpn_coco-eeacb38b.pth` holds them) or an
//! ImageNet classifier's (`conv1.weight`, `layer1.0.bn1.running_mean`, `fc.*`, as
//! `resnet50-0676ba61.pth`), which goes into `backbone.body` without its `fc`.
//!
//! The file is safetensors (`scripts/convert-weights` turns a `.pth` into one with the
//! project's torch). Loading is strict: every model tensor the file should cover must be there
//! with the same shape and nothing else may be, else the error lists the missing, unexpected and
//! mis-shaped keys. `num_batches_tracked` (a BatchNorm counter `FrozenBatchNorm2d` drops too) is
//! skipped.

use super::TrainError;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use tch::nn::VarStore;
use tch::Tensor;

/// What a weights file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsKind {
    /// A detector's state dict: its keys are the model's.
    Detector,
    /// A classifier's state dict: its keys go under `backbone.body.`, `fc.*` dropped.
    Backbone,
}

/// Prefix of the backbone body in the detectors' names.
pub const BODY: &str = "backbone.body.";

/// Lowercase hex SHA-256 of a file's bytes.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// The tensors of a safetensors file, by name.
pub fn read(path: &Path) -> Result<BTreeMap<String, Tensor>, TrainError> {
    let err = |message: String| TrainError::Weights {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(err("no such file".into()));
    }
    let tensors = Tensor::read_safetensors(path).map_err(|e| {
        err(format!(
            "not a safetensors file ({}); convert a PyTorch .pth with scripts/convert-weights IN.pth OUT.safetensors",
            e.to_string().lines().next().unwrap_or("")
        ))
    })?;
    Ok(tensors.into_iter().collect())
}

/// Backbone when no key starts with `backbone.`, else Detector.
pub fn kind_of(tensors: &BTreeMap<String, Tensor>) -> WeightsKind {
    if tensors.keys().any(|k| k.starts_with("backbone.")) {
        WeightsKind::Detector
    } else {
        WeightsKind::Backbone
    }
}

fn list(names: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(", … ({} in all)", names.len()));
    }
    s
}

/// Copies the file's tensors into `vs` (strictly, see the module doc); returns the kind found.
pub fn load(vs: &VarStore, path: &Path) -> Result<WeightsKind, TrainError> {
    load_tensors(vs, path, &read(path)?)
}

/// [`load`] of tensors already read from `path`.
fn load_tensors(
    vs: &VarStore,
    path: &Path,
    file: &BTreeMap<String, Tensor>,
) -> Result<WeightsKind, TrainError> {
    let kind = kind_of(file);
    let mapped: BTreeMap<String, &Tensor> = file
        .iter()
        .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
        .filter(|(k, _)| kind == WeightsKind::Detector || !k.starts_with("fc."))
        .map(|(k, t)| match kind {
            WeightsKind::Detector => (k.clone(), t),
            WeightsKind::Backbone => (format!("{BODY}{k}"), t),
        })
        .collect();
    let vars = vs.variables();
    let covered = |name: &str| kind == WeightsKind::Detector || name.starts_with(BODY);
    let mut missing: Vec<String> = vars
        .keys()
        .filter(|k| covered(k) && !mapped.contains_key(*k))
        .cloned()
        .collect();
    missing.sort();
    let unexpected: Vec<String> = mapped
        .keys()
        .filter(|k| !vars.contains_key(*k))
        .cloned()
        .collect();
    let mut misshaped: Vec<String> = mapped
        .iter()
        .filter_map(|(k, t)| {
            let v = vars.get(k)?;
            (v.size() != t.size())
                .then(|| format!("{k} (file {:?}, model {:?})", t.size(), v.size()))
        })
        .collect();
    misshaped.sort();
    if !(missing.is_empty() && unexpected.is_empty() && misshaped.is_empty()) {
        let mut parts = Vec::new();
        for (what, v) in [
            ("missing", &missing),
            ("unexpected", &unexpected),
            ("mis-shaped", &misshaped),
        ] {
            if !v.is_empty() {
                parts.push(format!("{} {what} keys: {}", v.len(), list(v)));
            }
        }
        let what = match kind {
            WeightsKind::Detector => "a detector state dict",
            WeightsKind::Backbone => "a backbone state dict (loaded into backbone.body)",
        };
        return Err(TrainError::Weights {
            path: path.to_path_buf(),
            message: format!("{what} that does not fit the model: {}", parts.join("; ")),
        });
    }
    tch::no_grad(|| {
        for (k, t) in &mapped {
            let mut v = vars[k].shallow_clone();
            v.copy_(&t.to_kind(v.kind()).to_device(v.device()));
        }
    });
    Ok(kind)
}

/// [`load`], refusing a file of the other kind (a detector's state dict given as a backbone's,
/// or the reverse).
pub fn load_expecting(vs: &VarStore, path: &Path, expected: WeightsKind) -> Result<(), TrainError> {
    let file = read(path)?;
    let found = kind_of(&file);
    if found != expected {
        let name = |k: WeightsKind| {
            match k {
            WeightsKind::Detector => "a whole detector's state dict (keys backbone.*, head.* or rpn.* and roi_heads.*): set it as model.detector.weights",
            WeightsKind::Backbone => "a backbone's state dict (keys conv1.*, layer1.*): set it as model.backbone.weights",
        }
        };
        return Err(TrainError::Weights {
            path: path.to_path_buf(),
            message: format!("this is {}", name(found)),
        });
    }
    load_tensors(vs, path, &file).map(|_| ())
}
