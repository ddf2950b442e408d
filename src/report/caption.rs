//! The caption: the spec's text, then what we ran (detector, schedule, data, scale, seeds) and
//! where the paper's numbers come from, so a table never passes ours off as the paper's.

use super::build::Placed;
use crate::spec::config::{BackboneSpec, DatasetSpec, DetectorSpec};
use crate::spec::table::TableReference;
use crate::spec::TableSpec;

pub(crate) fn caption(
    placed: &[Placed],
    spec: &TableSpec,
    reference: Option<&TableReference>,
    scale: Option<&str>,
    overrides: &[String],
) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &spec.caption {
        parts.push(c.trim().to_string());
    }
    if placed.first().is_some_and(|p| p.job.config.fake.is_some()) {
        parts.push("Ours: scripted test jobs (no training).".into());
    } else if !placed.is_empty() {
        let detector = {
            let names = distinct(placed.iter().map(|p| match &p.job.config.model.detector {
                DetectorSpec::Fcos { .. } => "FCOS-style",
                DetectorSpec::Retinanet { .. } => "RetinaNet-style",
                DetectorSpec::TorchvisionRetinanet(_) => "torchvision RetinaNet",
                DetectorSpec::TorchvisionFcos(_) => "FCOS (torchvision)",
                DetectorSpec::TorchvisionSsd(_) => "SSD300 (torchvision)",
                DetectorSpec::TorchvisionFasterRcnn(_) => "Faster R-CNN (torchvision)",
            }));
            if names.len() == 1 {
                format!("{} detector", names[0])
            } else {
                format!("{} detectors", names.join(" and "))
            }
        };
        let slash = |v: Vec<String>| v.join("/");
        let widths = distinct(
            placed
                .iter()
                .filter_map(|p| match &p.job.config.model.backbone {
                    BackboneSpec::TinyResnet { width, .. } => Some(*width),
                    BackboneSpec::Resnet(_) | BackboneSpec::Vgg16(_) => None,
                }),
        );
        let mut backbones = Vec::new();
        if !widths.is_empty() {
            backbones.push(format!(
                "a tiny ResNet (width {}) + FPN trained from scratch",
                slash(widths)
            ));
        }
        backbones.extend(distinct(placed.iter().filter_map(
            |p| match &p.job.config.model.backbone {
                BackboneSpec::Resnet(r) => Some(format!(
                    "torchvision's ResNet-{}-FPN {}",
                    r.depth,
                    if r.weights.is_some() {
                        "trained from ImageNet weights"
                    } else {
                        "trained from scratch"
                    }
                )),
                BackboneSpec::Vgg16(v) => Some(format!(
                    "torchvision's VGG16 {}",
                    if v.weights.is_some() {
                        "trained from ImageNet weights"
                    } else {
                        "trained from scratch"
                    }
                )),
                BackboneSpec::TinyResnet { .. } => None,
            },
        )));
        let backbones = backbones.join(" and ");
        let seeds = distinct(placed.iter().map(|p| p.job.seed));
        let iterations = slash(distinct(
            placed.iter().map(|p| p.job.config.train.iterations),
        ));
        let batches = slash(distinct(
            placed.iter().map(|p| p.job.config.train.batch_size),
        ));
        let spread = if seeds.len() > 1 {
            "mean ± std over seeds"
        } else {
            "seed"
        };
        let data = distinct(placed.iter().map(|p| dataset(&p.job.config.dataset)));
        // The command line's changes, so a reduced run never reads as the spec's scale.
        let overrides = if overrides.is_empty() {
            String::new()
        } else {
            format!(
                " with {}",
                overrides
                    .iter()
                    .map(|o| format!("`--set {o}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        parts.push(format!(
            "Ours: {detector} with {backbones} for {iterations} iterations (batch {batches}) on {}, scale `{}`{overrides}; {spread} {}.",
            data.join(" / "),
            scale.unwrap_or("default"),
            seeds.join(", "),
        ));
    }
    if !spec.claims.is_empty() {
        let level = format!("{:.4}", spec.claims_level * 100.0);
        let level = level.trim_end_matches('0').trim_end_matches('.');
        let holm = if spec.claims.len() > 1 {
            ", Holm-adjusted across the table's claims"
        } else {
            ""
        };
        parts.push(format!(
            "Claims: a two-sided t test over seeds at {level}% (paired when both rows ran the \
             same seeds, else Welch's){holm}, with the {level}% interval of the difference; \
             reproduced or contradicted when the difference is significant on the claim's or \
             the other side, else unresolved."
        ));
    }
    if let Some(source) = reference.and_then(|r| r.source.as_ref()) {
        parts.push(format!("Paper: {}.", source.trim().trim_end_matches('.')));
    }
    parts.join(" ")
}

/// The distinct values, sorted, as text.
fn distinct<T: Ord + ToString>(values: impl Iterator<Item = T>) -> Vec<String> {
    let mut v: Vec<T> = values.collect();
    v.sort();
    v.dedup();
    v.iter().map(T::to_string).collect()
}

/// What the jobs trained and evaluated on: the synthetic set's size and classes, or the
/// annotation files or sets of a dataset on disk, and the input size.
fn dataset(d: &DatasetSpec) -> String {
    let file = |p: &std::path::Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let (what, size) = match d {
        DatasetSpec::Synthetic(s) => {
            return format!(
                "the synthetic dataset ({} px, {} classes)",
                s.image_size, s.num_classes
            )
        }
        DatasetSpec::Coco(c) => (
            format!(
                "COCO annotations `{}` (val `{}`)",
                file(&c.train),
                file(&c.val)
            ),
            c.image_size,
        ),
        DatasetSpec::Voc(v) => (
            format!("Pascal VOC {} (val {})", v.train.join(" + "), v.val),
            v.image_size,
        ),
        DatasetSpec::Visdrone(v) => (
            format!("VisDrone {} (val {})", v.train, v.val),
            v.image_size,
        ),
    };
    let mut text = format!("{what}, {size} px input");
    if let Some(p) = d.pipeline() {
        if let Some(n) = p.max_train_images {
            text.push_str(&format!(", first {n} training images"));
        }
        if let Some(n) = p.max_val_images {
            text.push_str(&format!(", first {n} val images"));
        }
    }
    text
}
