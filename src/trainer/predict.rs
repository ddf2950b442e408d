//! `sweep predict`: a torchvision-layout RetinaNet, FCOS or SSD300 from a weights file, run on a COCO split
//! or a folder of images, written as a COCO results JSON that `sweep eval` scores.
//!
//! As torchvision's reference evaluation does: one image per batch, the transform's
//! `min_size` / `max_size` (SSD300: 300×300), the detector's post-processing, boxes mapped back to the original
//! image. Labels become category ids as `labels` says: torchvision's COCO models predict the
//! category id itself (91 columns, `direct`); a model trained here predicts the index of the
//! category in id order (`sorted`).

use super::datasets::transform::decode;
use super::detectors::faster_rcnn::{FasterRcnn, FasterRcnnConfig};
use super::detectors::fcos_model::{FcosModel, FcosModelConfig};
use super::detectors::retinanet::{RetinaNet, RetinaNetConfig};
use super::detectors::roi_heads::loss::BoxClassLoss;
use super::detectors::ssd::{Ssd, SsdConfig};
use super::losses::Score;
use super::transform::Transform;
use super::tv_session::{dets_tensors, host_dets};
use super::{weights, TrainError};
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind, Tensor};

/// How a logit column becomes a category id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// The column is the category id (torchvision's COCO models).
    Direct,
    /// Column `k` is the `k`-th category id in increasing order (the COCO file's; else `k + 1`).
    Sorted,
}

/// Which torchvision detector the weights are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    /// `retinanet_resnet50_fpn`'s layout.
    Retinanet,
    /// `fcos_resnet50_fpn`'s layout (torchvision's thresholds).
    Fcos,
    /// `ssd300_vgg16`'s layout (torchvision's thresholds; `depth`, `fpn_channels` and the
    /// sizes are not read).
    Ssd,
    /// `fasterrcnn_resnet50_fpn`'s layout (torchvision's thresholds); its logit column 0 is
    /// the background, so `num_classes` counts it, as torchvision's does.
    FasterRcnn,
}

/// The model `predict` runs.
enum Model {
    Retina(Box<RetinaNet>),
    Fcos(Box<FcosModel>),
    Ssd(Box<Ssd>),
    Faster(Box<FasterRcnn>),
}

/// What to run and on what.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    pub detector: DetectorKind,
    /// A whole detector's state dict (safetensors).
    pub weights: PathBuf,
    pub depth: u32,
    /// Columns of the class logits.
    pub num_classes: i64,
    /// FPN and head channels (torchvision's: 256).
    pub fpn_channels: i64,
    pub min_size: u32,
    pub max_size: u32,
    /// The image directory.
    pub images: PathBuf,
    /// A COCO annotation file naming the images and categories (absent: every .jpg/.jpeg/.png
    /// of `images`, sorted by name, image ids 1, 2, …).
    pub coco: Option<PathBuf>,
    pub labels: Labels,
    pub out: PathBuf,
    pub device: Device,
}

fn io_err(path: &Path, e: std::io::Error) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// `(image id, file)` pairs, and the category ids in increasing order.
pub type Inputs = (Vec<(u64, PathBuf)>, Vec<u64>);

/// The images to run on and the categories to name.
fn inputs(o: &PredictOptions) -> Result<Inputs, TrainError> {
    let (images, cats) = image_list(&o.images, o.coco.as_deref())?;
    if o.coco.is_none() {
        return Ok((images, (1..=o.num_classes as u64).collect()));
    }
    Ok((images, cats))
}

/// The images of a COCO file (`images[].id`, `file_name` under `images`) and its category ids
/// in increasing order; without a file, every .jpg/.jpeg/.png of `images` sorted by name with
/// ids 1, 2, … (and no categories).
pub fn image_list(dir: &Path, coco: Option<&Path>) -> Result<Inputs, TrainError> {
    let Some(ann) = coco else {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io_err(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                    ["jpg", "jpeg", "png"].contains(&x.to_ascii_lowercase().as_str())
                })
            })
            .collect();
        files.sort();
        return Ok(((1..).zip(files).collect(), Vec::new()));
    };
    let text = std::fs::read(ann).map_err(|e| io_err(ann, e))?;
    let bad = |m: String| TrainError::Io {
        path: ann.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, m),
    };
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let images = v["images"]
        .as_array()
        .ok_or_else(|| bad("no `images` list".into()))?
        .iter()
        .map(|i| match (i["id"].as_u64(), i["file_name"].as_str()) {
            (Some(id), Some(f)) => Ok((id, dir.join(f))),
            _ => Err(bad(format!("an image without id or file_name: {i}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut cats: Vec<u64> = v["categories"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["id"].as_u64()).collect())
        .unwrap_or_default();
    cats.sort_unstable();
    Ok((images, cats))
}

/// Runs the model over every image and writes the results JSON; returns the detections
/// written.
pub fn predict(o: &PredictOptions) -> Result<usize, TrainError> {
    let (images, cats) = inputs(o)?;
    let vs = VarStore::new(o.device);
    let model = match o.detector {
        DetectorKind::Retinanet => {
            let mut cfg = RetinaNetConfig::torchvision(o.depth, o.num_classes);
            cfg.fpn_channels = o.fpn_channels;
            Model::Retina(Box::new(RetinaNet::new(&vs.root(), &cfg)))
        }
        DetectorKind::Fcos => {
            let mut cfg = FcosModelConfig::torchvision(o.depth, o.num_classes);
            cfg.fpn_channels = o.fpn_channels;
            Model::Fcos(Box::new(FcosModel::new(&vs.root(), &cfg)))
        }
        // `num_classes` columns, the background's included.
        DetectorKind::Ssd => Model::Ssd(Box::new(Ssd::new(
            &vs.root(),
            &SsdConfig::torchvision(o.num_classes - 1),
        ))),
        DetectorKind::FasterRcnn => {
            let mut cfg = FasterRcnnConfig::torchvision(o.depth, o.num_classes - 1);
            cfg.fpn_channels = o.fpn_channels;
            Model::Faster(Box::new(FasterRcnn::new(&vs.root(), &cfg)))
        }
    };
    weights::load_expecting(&vs, &o.weights, weights::WeightsKind::Detector)?;
    let transform = match model {
        Model::Ssd(_) => Transform::ssd300(),
        _ => Transform::torchvision(o.min_size, o.max_size),
    };
    // SSD's and Faster R-CNN's detections are foreground classes: the logit column (column 0
    // being the background) is one more.
    let column_offset = usize::from(matches!(model, Model::Ssd(_) | Model::Faster(_)));
    let _guard = tch::no_grad_guard();
    let mut rows = Vec::new();
    for (id, path) in &images {
        let img = decode(path, &id.to_string())?;
        let (w, h) = img.dimensions();
        let px = Tensor::from_slice(img.as_raw())
            .view([h as i64, w as i64, 3])
            .permute([2, 0, 1])
            .to_kind(Kind::Float)
            .to_device(o.device)
            / 255.0;
        let (list, _) = transform.batch(&[px], None);
        let (d_boxes, d_scores, d_labels) = match &model {
            Model::Retina(m) => {
                let out = m.forward(&list.tensors);
                let anchors = m.anchors(&list.tensors, &out.features);
                let d = m
                    .postprocess(&out, &anchors, &list.image_sizes, Score::Sigmoid)
                    .remove(0);
                (d.boxes, d.scores, d.labels)
            }
            Model::Fcos(m) => {
                let (ih, iw) = list.image_sizes[0];
                let d = m.detect(&list.tensors, &[[ih, iw]], Score::Sigmoid)?;
                dets_tensors(&d[0], o.device)
            }
            Model::Ssd(m) => {
                let out = m.forward(&list.tensors);
                let anchors = m.anchors(&list.tensors, &out.features);
                let d = m
                    .postprocess(&out, &anchors, &list.image_sizes, None)
                    .remove(0);
                (d.boxes, d.scores, d.labels)
            }
            Model::Faster(m) => {
                let d = m
                    .detect(&list.tensors, &list.image_sizes, &BoxClassLoss::Softmax)
                    .remove(0);
                (d.boxes, d.scores, d.labels)
            }
        };
        let boxes =
            Transform::postprocess_boxes(&d_boxes, list.image_sizes[0], (h as i64, w as i64));
        for det in host_dets(&boxes, &d_scores, &d_labels) {
            let category = match o.labels {
                // Columns that are no category of the file (torchvision's unused ids) go.
                Labels::Direct => Some((det.class + column_offset) as u64)
                    .filter(|c| o.coco.is_none() || cats.binary_search(c).is_ok()),
                Labels::Sorted => cats.get(det.class).copied(),
            };
            let Some(category) = category else { continue };
            let b = det.bbox.map(f64::from);
            rows.push(serde_json::json!({
                "image_id": id,
                "category_id": category,
                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                "score": det.score as f64,
            }));
        }
    }
    let n = rows.len();
    super::checkpoint::write_atomic(
        &o.out,
        serde_json::Value::Array(rows).to_string().as_bytes(),
    )?;
    Ok(n)
}
