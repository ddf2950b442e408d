//! Where the head's predictions sit ("priors") and what they mean: the detector-specific glue
//! between the network, the targets, the losses and the decoder.
//!
//! Predictions are flattened over (level, y, x, anchor) into `N` rows per image, the order of
//! [`super::model::Head::forward`]. Each row has a prior `[cx, cy, sw, sh]`: for FCOS the point
//! (cell centre `stride · (i + ½)`) and the stride twice; for RetinaNet the anchor's centre and
//! size. Target assignment runs in plain Rust on the ground-truth boxes (a few hundred rows ×
//! ≤ 8 boxes per image: microseconds, and no device work), see [`super::fcos`] and
//! [`super::retina`]; the regression encodings and decodings live here.

use super::priors::{Assignment, Level};
use super::synth::Object;
use super::{fcos::Fcos, retina::Retina};
use crate::spec::config::{DetectorSpec, JobConfig};
use tch::{Device, Tensor};

/// The detector-specific layout of one config.
#[derive(Debug)]
pub enum Layout {
    Fcos(Fcos),
    Retina(Retina),
}

/// A RetinaNet anchor with at least this fraction of its area inside an ignore region is
/// ignored.
pub const IGNORE_IOF: f32 = 0.5;

/// Clamp on RetinaNet's dw, dh before `exp` (detectron2's `log(1000 / 16)`).
pub const MAX_DWH: f32 = 4.135_166_6;

impl Layout {
    pub fn new(cfg: &JobConfig) -> Layout {
        let size = cfg.dataset.image_size() as usize;
        match &cfg.model.detector {
            DetectorSpec::Fcos {
                center_sampling_radius,
                centerness,
            } => Layout::Fcos(Fcos::new(size, *center_sampling_radius as f32, *centerness)),
            DetectorSpec::Retinanet {
                anchor_scale,
                scales_per_octave,
                aspect_ratios,
                pos_iou,
                neg_iou,
            } => Layout::Retina(Retina::new(
                size,
                *anchor_scale,
                *scales_per_octave,
                aspect_ratios,
                *pos_iou,
                *neg_iou,
            )),
            DetectorSpec::TorchvisionRetinanet(_)
            | DetectorSpec::TorchvisionFcos(_)
            | DetectorSpec::TorchvisionSsd(_)
            | DetectorSpec::TorchvisionFasterRcnn(_) => {
                panic!("the torchvision detectors have their own session (trainer::tv_session)")
            }
        }
    }

    /// Whether the head has a center-ness branch (FCOS with `centerness: true`).
    pub fn centerness(&self) -> bool {
        matches!(self, Layout::Fcos(f) if f.centerness)
    }

    /// Priors per location.
    pub fn per_cell(&self) -> usize {
        match self {
            Layout::Fcos(_) => 1,
            Layout::Retina(r) => r.per_cell,
        }
    }

    pub fn levels(&self) -> &[Level] {
        match self {
            Layout::Fcos(f) => &f.levels,
            Layout::Retina(r) => &r.levels,
        }
    }

    /// `[N]` priors `[cx, cy, sw, sh]`.
    pub fn priors(&self) -> &[[f32; 4]] {
        match self {
            Layout::Fcos(f) => &f.priors,
            Layout::Retina(r) => &r.priors,
        }
    }

    pub fn priors_tensor(&self, device: Device) -> Tensor {
        let flat: Vec<f32> = self.priors().iter().flatten().copied().collect();
        Tensor::from_slice(&flat).view([-1, 4]).to_device(device)
    }

    /// Targets of a batch of images.
    pub fn assign(&self, objects: &[&[Object]]) -> Assignment {
        self.assign_with_ignore(objects, &[])
    }

    /// Targets of a batch of images with ignore regions (`ignore[b]` for image `b`): a
    /// background prior inside a region is ignored (label −1, no loss); a positive stays
    /// positive (an annotated object wins over a region around it). "Inside": an FCOS point
    /// lies in the region; a RetinaNet anchor has at least [`IGNORE_IOF`] of its area in it.
    pub fn assign_with_ignore(&self, objects: &[&[Object]], ignore: &[&[[f32; 4]]]) -> Assignment {
        let n = self.priors().len();
        let mut a = Assignment::default();
        for (b, objs) in objects.iter().enumerate() {
            let first = a.pos.len();
            let labels = a.labels.len();
            match self {
                Layout::Fcos(f) => f.assign_image(objs, &mut a),
                Layout::Retina(r) => r.assign_image(objs, &mut a),
            }
            for p in &mut a.pos[first..] {
                *p += (b * n) as i64;
            }
            let regions = ignore.get(b).copied().unwrap_or(&[]);
            if !regions.is_empty() {
                self.ignore_inside(regions, &mut a.labels[labels..]);
            }
        }
        a
    }

    /// Sets the background priors inside any of `regions` to ignored.
    fn ignore_inside(&self, regions: &[[f32; 4]], labels: &mut [i64]) {
        for (l, p) in labels.iter_mut().zip(self.priors()) {
            if *l != 0 {
                continue;
            }
            let inside = match self {
                Layout::Fcos(_) => regions
                    .iter()
                    .any(|r| r[0] <= p[0] && p[0] < r[2] && r[1] <= p[1] && p[1] < r[3]),
                Layout::Retina(_) => {
                    let a = [
                        p[0] - p[2] / 2.0,
                        p[1] - p[3] / 2.0,
                        p[0] + p[2] / 2.0,
                        p[1] + p[3] / 2.0,
                    ];
                    regions.iter().any(|r| {
                        let iw = (a[2].min(r[2]) - a[0].max(r[0])).max(0.0);
                        let ih = (a[3].min(r[3]) - a[1].max(r[1])).max(0.0);
                        iw * ih >= IGNORE_IOF * p[2] * p[3]
                    })
                }
            };
            if inside {
                *l = -1;
            }
        }
    }

    /// Differentiable decoding of `pred [P, 4]` at `priors [P, 4]` into `[x1, y1, x2, y2]`.
    pub fn decode(&self, pred: &Tensor, priors: &Tensor) -> Tensor {
        let (c, s) = (priors.narrow(1, 0, 2), priors.narrow(1, 2, 2));
        match self {
            Layout::Fcos(_) => Tensor::cat(
                &[
                    &c - pred.narrow(1, 0, 2) * &s,
                    &c + pred.narrow(1, 2, 2) * &s,
                ],
                1,
            ),
            Layout::Retina(_) => {
                let ctr = &c + pred.narrow(1, 0, 2) * &s;
                let half = pred.narrow(1, 2, 2).clamp_max(MAX_DWH as f64).exp() * &s * 0.5;
                Tensor::cat(&[&ctr - &half, &ctr + &half], 1)
            }
        }
    }

    /// [`Layout::decode`] of one row, in plain Rust (post-processing).
    pub fn decode_one(&self, d: [f32; 4], p: [f32; 4]) -> [f32; 4] {
        match self {
            Layout::Fcos(_) => [
                p[0] - d[0] * p[2],
                p[1] - d[1] * p[3],
                p[0] + d[2] * p[2],
                p[1] + d[3] * p[3],
            ],
            Layout::Retina(_) => {
                let (cx, cy) = (p[0] + d[0] * p[2], p[1] + d[1] * p[3]);
                let (hw, hh) = (
                    d[2].min(MAX_DWH).exp() * p[2] * 0.5,
                    d[3].min(MAX_DWH).exp() * p[3] * 0.5,
                );
                [cx - hw, cy - hh, cx + hw, cy + hh]
            }
        }
    }
}
