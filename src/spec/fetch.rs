//! How to get a data set or weights file that a config names and the disk lacks: the download
//! and, for torchvision's `.pth` files, the `scripts/convert-weights` call. Said beside each
//! missing path (README, "Running at the papers' scale", has the same steps).

use std::path::Path;

use super::config::{DatasetSpec, JobConfig};

const VOC: &str = "download VOCtrainval_11-May-2012.tar, VOCtrainval_06-Nov-2007.tar and \
VOCtest_06-Nov-2007.tar (http://host.robots.ox.ac.uk/pascal/VOC/) and untar them in data/, \
giving data/VOCdevkit/VOC2007 and data/VOCdevkit/VOC2012";
const COCO: &str = "download train2017.zip, val2017.zip and annotations_trainval2017.zip \
(https://cocodataset.org/#download) and unzip them in data/coco, giving data/coco/train2017/, \
data/coco/val2017/ and data/coco/annotations/instances_{train,val}2017.json";
const VISDRONE: &str = "download VisDrone2019-DET-train.zip and VisDrone2019-DET-val.zip \
(https://github.com/VisDrone/VisDrone-Dataset, task 1: object detection in images) and unzip \
them in data/visdrone, giving data/visdrone/VisDrone2019-DET-train/{images,annotations}";

/// What to do to get `path`, the value of config key `key` (`dataset.root`,
/// `model.backbone.weights`, ...), or None when the project knows no source for it.
pub fn how_to_get(key: &str, path: &Path, cfg: &JobConfig) -> Option<String> {
    if key.starts_with("dataset.") {
        return Some(
            match cfg.dataset {
                DatasetSpec::Voc(_) => VOC,
                DatasetSpec::Coco(_) => COCO,
                DatasetSpec::Visdrone(_) => VISDRONE,
                DatasetSpec::Synthetic(_) => return None,
            }
            .to_string(),
        );
    }
    if !key.ends_with(".weights") {
        return None;
    }
    // torchvision's file names: `<model>-<hash>.pth`, converted under the same stem.
    let stem = path.file_stem()?.to_str()?;
    let known = TORCHVISION_FILES.contains(&stem);
    let out = path.display();
    Some(if known {
        format!(
            "curl -LO https://download.pytorch.org/models/{stem}.pth && scripts/convert-weights {stem}.pth {out}"
        )
    } else {
        format!("convert the .pth it comes from with scripts/convert-weights IN.pth {out}")
    })
}

/// The torchvision weight files the shipped sweeps name (ImageNet ResNets, COCO detectors).
const TORCHVISION_FILES: [&str; 6] = [
    "resnet18-f37072fd",
    "resnet34-b627a593",
    "resnet50-0676ba61",
    "resnet101-63fe2227",
    "retinanet_resnet50_fpn_coco-eeacb38b",
    "fcos_resnet50_fpn_coco-99b0c9b7",
];
