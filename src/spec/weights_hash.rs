//! The content hash of the weights a job starts from, filled into its resolved config when the
//! spec is expanded (`weights_sha256` next to each `weights` path), so that the job id changes
//! when the file does. Each file is hashed once per process (keyed by path, size and
//! modification time): a sweep of many jobs on the same ImageNet weights reads them once.

use super::config::{BackboneSpec, DetectorSpec, JobConfig};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

type Key = (PathBuf, u64, Option<SystemTime>);

static CACHE: Mutex<Option<HashMap<Key, String>>> = Mutex::new(None);

/// Lowercase hex SHA-256 of a file; `None` when it cannot be read (validation has already
/// reported a missing file, and the trainer reports an unreadable one).
pub fn sha256(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(h) = CACHE
        .lock()
        .ok()?
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return Some(h.clone());
    }
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).ok()?;
    let h = format!("{:x}", hasher.finalize());
    CACHE
        .lock()
        .ok()?
        .get_or_insert_with(HashMap::new)
        .insert(key, h.clone());
    Some(h)
}

/// Sets every `weights_sha256` of `cfg` from its `weights` file (and clears it without one).
pub fn fill(cfg: &mut JobConfig) {
    if let BackboneSpec::Resnet(r) = &mut cfg.model.backbone {
        r.weights_sha256 = r.weights.as_deref().and_then(sha256);
    }
    if let BackboneSpec::Vgg16(v) = &mut cfg.model.backbone {
        v.weights_sha256 = v.weights.as_deref().and_then(sha256);
    }
    match &mut cfg.model.detector {
        DetectorSpec::TorchvisionRetinanet(d) => {
            d.weights_sha256 = d.weights.as_deref().and_then(sha256)
        }
        DetectorSpec::TorchvisionFcos(d) => {
            d.weights_sha256 = d.weights.as_deref().and_then(sha256)
        }
        DetectorSpec::TorchvisionSsd(d) => d.weights_sha256 = d.weights.as_deref().and_then(sha256),
        _ => {}
    }
}
