//! Loading torchvision's weights: a whole detector's state dict (keys `backbone.body.*`,
//! `backbone.fpn.*`, `head.*`, as `retinanet_resnet50_fpn_coco-eeacb38b.pth` holds them) or an
//! ImageNet classifier's (`conv1.weight`, `layer1.0.bn1.running_mean`, `fc.*`, as
//! `resnet50-0676ba61.pth`), which goes into `backbone.body` without its `fc`, or VGG16's
//! (`features.N.*`, as `vgg16_features-amdegroot-88682ab5.pth`), which goes into SSD300's
//! extractor without its `classifier` as torchvision's `SSDFeatureExtractorVGG` splits it:
//! `features.0`–`features.22` stay `backbone.features.N`, `features.23`–`features.29` (pool4,
//! conv5) become `backbone.extra.0.{N − 23}`; fc6, fc7, the extras and the L2 scale keep their
//! initialisation.
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

/// VGG16 layers that SSD300 keeps in `backbone.features` (the rest, up to conv5_3, open
/// `backbone.extra.0`).
const VGG_FEATURES: usize = 23;

/// Where a backbone state dict's key goes in the model (`None`: dropped, the classifier).
fn backbone_key(vgg: bool, k: &str) -> Option<String> {
    if !vgg {
        return (!k.starts_with("fc.")).then(|| format!("{BODY}{k}"));
    }
    let rest = k.strip_prefix("features.")?;
    let (n, param) = rest.split_once('.')?;
    Some(match n.parse::<usize>() {
        Ok(i) if i >= VGG_FEATURES => format!("backbone.extra.0.{}.{param}", i - VGG_FEATURES),
        _ => format!("backbone.features.{rest}"),
    })
}

/// Whether a backbone state dict must cover the model variable `name`.
fn backbone_covers(vgg: bool, name: &str) -> bool {
    if !vgg {
        return name.starts_with(BODY);
    }
    name.starts_with("backbone.features.")
        || (name.starts_with("backbone.extra.0.") && !name.starts_with("backbone.extra.0.7."))
}

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
    let vars = vs.variables();
    let vgg = vars.keys().any(|k| k.starts_with("backbone.features."));
    let mapped: BTreeMap<String, &Tensor> = file
        .iter()
        .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
        .filter_map(|(k, t)| match kind {
            WeightsKind::Detector => Some((k.clone(), t)),
            WeightsKind::Backbone => backbone_key(vgg, k).map(|k| (k, t)),
        })
        .collect();
    let covered = |name: &str| kind == WeightsKind::Detector || backbone_covers(vgg, name);
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
            WeightsKind::Backbone if vgg => {
                "a VGG16 state dict (loaded into backbone.features and backbone.extra.0)"
            }
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
            WeightsKind::Backbone => "a backbone's state dict (keys conv1.*, layer1.* or features.*): set it as model.backbone.weights",
        }
        };
        return Err(TrainError::Weights {
            path: path.to_path_buf(),
            message: format!("this is {}", name(found)),
        });
    }
    load_tensors(vs, path, &file).map(|_| ())
}
