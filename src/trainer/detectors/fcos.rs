//! torchvision's FCOS (0.26.0, `models/detection/fcos.py`) on FPN levels given to it: anchors,
//! target matching, the training losses and the post-processing, each as torchvision computes
//! it, so that with the same weights and features the losses and detections are torchvision's.
//!
//! * Anchors: `AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), aspect 1.0)`: one square
//!   anchor of side `S_l` per location, centred on `(x · s_w, y · s_h)` (the cell's top-left
//!   corner, not its centre), the strides `s = batch size // grid size` per axis computed from
//!   the padded batch and each level's map (so a 160-px-wide batch has a 53-px P6 stride).
//! * Matching (`FCOS.compute_loss`): an anchor matches a box when its centre lies in the box
//!   (`min(l, t, r, b) > 0`), within `radius · S` of the box centre on both axes, and
//!   `4 S < max(l, t, r, b) < 8 S` (no lower bound on the first level, no upper bound on the
//!   last). Among several boxes the one of least area wins, compared as torchvision compares
//!   them: `1e8 − area` in float32, the first box on a tie.
//! * Targets: `BoxLinearCoder(normalize_by_size=True)`: ltrb from the anchor's centre divided by
//!   its size; center-ness `sqrt(min(l, r)/max(l, r) · min(t, b)/max(t, b))` of those.
//! * Losses, through the loss registry ([`Objective::terms_of`]): with torchvision's choice
//!   (sigmoid focal α 0.25, γ 2 over every anchor × class, GIoU on the foreground's decoded
//!   boxes, center-ness BCE on the foreground) each term is its sum divided by
//!   `max(1, foreground)`, as torchvision divides them; every positive weighs 1.
//! * Post-processing (`FCOS.postprocess_detections`): per level, `sqrt(p · σ(ctr))` over
//!   (anchor, class), those above `score_thresh`, the `topk_candidates` best, decoded and
//!   clipped to the image (no box is dropped for lack of area); then class-wise NMS
//!   (IoU > `nms_thresh` suppressed) over all levels and the `detections_per_img` best.

use crate::spec::config::DetectorSpec;
use crate::trainer::head::HeadOutput;
use crate::trainer::heads::fcos::FcosHead;
use crate::trainer::losses::Score;
use crate::trainer::objective::{Objective, RegBranch, Terms};
use crate::trainer::postprocess::{nms, Det};
use crate::trainer::priors::{Assignment, Targets};
use crate::trainer::synth::Object;
use crate::trainer::TrainError;
use tch::{nn, Device, Kind, Tensor};

/// Anchor side per level P3–P7 (torchvision's FCOS default, "equal to strides").
pub const ANCHOR_SIZES: [f32; 5] = [8.0, 16.0, 32.0, 64.0, 128.0];

/// torchvision's `FCOS` constructor arguments that shape training and detection.
#[derive(Debug, Clone, PartialEq)]
pub struct FcosParams {
    pub center_sampling_radius: f32,
    pub score_thresh: f32,
    pub nms_thresh: f32,
    pub detections_per_img: usize,
    pub topk_candidates: usize,
}

impl FcosParams {
    /// The parameters and head convolutions of a `torchvision_fcos` spec (`None` for the other
    /// detectors).
    pub fn of_spec(spec: &DetectorSpec) -> Option<(FcosParams, i64)> {
        match spec {
            DetectorSpec::TorchvisionFcos(d) => Some((
                FcosParams {
                    center_sampling_radius: d.center_sampling_radius as f32,
                    score_thresh: d.score_thresh as f32,
                    nms_thresh: d.nms_thresh as f32,
                    detections_per_img: d.detections_per_img as usize,
                    topk_candidates: d.topk_candidates as usize,
                },
                d.num_convs as i64,
            )),
            _ => None,
        }
    }
}

impl Default for FcosParams {
    /// torchvision's defaults.
    fn default() -> Self {
        FcosParams {
            center_sampling_radius: 1.5,
            score_thresh: 0.2,
            nms_thresh: 0.6,
            detections_per_img: 100,
            topk_candidates: 1000,
        }
    }
}

/// One level's anchor grid: rows `start .. start + height · width` of the flattened outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub height: usize,
    pub width: usize,
    /// `[s_h, s_w]` in pixels.
    pub stride: [i64; 2],
    pub size: f32,
    pub start: usize,
}

impl Grid {
    pub fn len(&self) -> usize {
        self.height * self.width
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The anchors of a batch (the same for every image of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Anchors {
    pub grids: Vec<Grid>,
    /// `[x1, y1, x2, y2]` per row, level-major then row-major over (y, x).
    pub boxes: Vec<[f32; 4]>,
}

impl Anchors {
    /// The anchors of levels with maps `grids` (`[h, w]` each) of a padded batch `[H, W]`, one
    /// square anchor of side `sizes[l]` per location of level `l`.
    pub fn new(batch: [i64; 2], grids: &[[i64; 2]], sizes: &[f32]) -> Result<Anchors, TrainError> {
        if grids.len() != sizes.len() || grids.iter().any(|g| g[0] < 1 || g[1] < 1) {
            return Err(TrainError::Unsupported {
                what: format!(
                    "fcos needs {} non-empty feature levels (P3-P7), got maps {grids:?}",
                    sizes.len()
                ),
            });
        }
        let (mut levels, mut boxes) = (Vec::new(), Vec::new());
        for (g, &size) in grids.iter().zip(sizes) {
            let stride = [batch[0] / g[0], batch[1] / g[1]];
            // AnchorGenerator's base anchor: round([-S/2, -S/2, S/2, S/2]), half to even.
            let half = (size / 2.0).round_ties_even();
            levels.push(Grid {
                height: g[0] as usize,
                width: g[1] as usize,
                stride,
                size: 2.0 * half,
                start: boxes.len(),
            });
            for y in 0..g[0] {
                for x in 0..g[1] {
                    let (cx, cy) = ((x * stride[1]) as f32, (y * stride[0]) as f32);
                    boxes.push([cx - half, cy - half, cx + half, cy + half]);
                }
            }
        }
        Ok(Anchors {
            grids: levels,
            boxes,
        })
    }

    /// [`Anchors::new`] for FPN levels `[B, C, h, w]` of a batch `[H, W]`, torchvision's sizes.
    pub fn of_levels(batch: [i64; 2], levels: &[Tensor]) -> Result<Anchors, TrainError> {
        let grids: Vec<[i64; 2]> = levels
            .iter()
            .map(|l| {
                let s = l.size();
                [s[s.len() - 2], s[s.len() - 1]]
            })
            .collect();
        Anchors::new(batch, &grids, &ANCHOR_SIZES)
    }

    pub fn len(&self) -> usize {
        self.boxes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.boxes.is_empty()
    }

    /// `[cx, cy, w, h]` of each anchor, as `BoxLinearCoder` reads it.
    pub fn priors(&self) -> Vec<[f32; 4]> {
        self.boxes
            .iter()
            .map(|a| {
                [
                    0.5 * (a[0] + a[2]),
                    0.5 * (a[1] + a[3]),
                    a[2] - a[0],
                    a[3] - a[1],
                ]
            })
            .collect()
    }

    /// [`Anchors::priors`] as a `[N, 4]` tensor.
    pub fn priors_tensor(&self, device: Device) -> Tensor {
        let flat: Vec<f32> = self.priors().into_iter().flatten().collect();
        Tensor::from_slice(&flat).view([-1, 4]).to_device(device)
    }
}

/// `BoxLinearCoder(normalize_by_size=True).encode` of `gt` at prior `p` (`[cx, cy, w, h]`).
pub fn encode(p: [f32; 4], gt: [f32; 4]) -> [f32; 4] {
    [
        (p[0] - gt[0]) / p[2],
        (p[1] - gt[1]) / p[3],
        (gt[2] - p[0]) / p[2],
        (gt[3] - p[1]) / p[3],
    ]
}

/// `BoxLinearCoder.decode` of `pred [P, 4]` at `priors [P, 4]` (`[cx, cy, w, h]`),
/// differentiable.
pub fn decode(pred: &Tensor, priors: &Tensor) -> Tensor {
    let (c, s) = (priors.narrow(1, 0, 2), priors.narrow(1, 2, 2));
    Tensor::cat(
        &[
            &c - pred.narrow(1, 0, 2) * &s,
            &c + pred.narrow(1, 2, 2) * &s,
        ],
        1,
    )
}

/// The center-ness target of an encoded ltrb.
pub fn centerness(e: [f32; 4]) -> f32 {
    ((e[0].min(e[2]) / e[0].max(e[2])) * (e[1].min(e[3]) / e[1].max(e[3]))).sqrt()
}

/// torchvision's FCOS head with its matching, losses and post-processing.
#[derive(Debug)]
pub struct FcosDetector {
    pub head: FcosHead,
    pub params: FcosParams,
}

impl FcosDetector {
    /// The head at `vs / "head"` (torchvision's names) for levels of `channels` channels.
    pub fn new(
        vs: &nn::Path,
        channels: i64,
        classes: i64,
        num_convs: i64,
        params: FcosParams,
        grid: Option<&[f64]>,
    ) -> FcosDetector {
        FcosDetector {
            head: FcosHead::new(&(vs / "head"), channels, classes, num_convs, grid),
            params,
        }
    }

    /// The box each anchor is matched to (its index in `gt`), or −1.
    pub fn match_image(&self, anchors: &Anchors, gt: &[Object]) -> Vec<i64> {
        let n = anchors.len();
        if gt.is_empty() {
            return vec![-1; n];
        }
        let first = anchors.grids.first().map_or(0, |g| g.len());
        let last_start = anchors.grids.last().map_or(n, |g| g.start);
        let score: Vec<f32> = gt
            .iter()
            .map(|o| {
                let b = o.bbox;
                1e8f32 - (b[2] - b[0]) * (b[3] - b[1])
            })
            .collect();
        let radius = self.params.center_sampling_radius;
        anchors
            .boxes
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let (cx, cy) = ((a[0] + a[2]) / 2.0, (a[1] + a[3]) / 2.0);
                let size = a[2] - a[0];
                let lower = if i < first { 0.0 } else { size * 4.0 };
                let upper = if i >= last_start {
                    f32::INFINITY
                } else {
                    size * 8.0
                };
                let (mut best, mut at) = (f32::NEG_INFINITY, 0usize);
                for (m, o) in gt.iter().enumerate() {
                    let b = o.bbox;
                    let (gx, gy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
                    let near = (cx - gx).abs().max((cy - gy).abs()) < radius * size;
                    let d = [cx - b[0], cy - b[1], b[2] - cx, b[3] - cy];
                    let dmin = d.iter().copied().fold(f32::INFINITY, f32::min);
                    let dmax = d.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let ok = near && dmin > 0.0 && dmax > lower && dmax < upper;
                    let v = if ok { score[m] } else { 0.0 };
                    if v > best {
                        (best, at) = (v, m);
                    }
                }
                if best < 1e-5 {
                    -1
                } else {
                    at as i64
                }
            })
            .collect()
    }

    /// The targets of a batch (`objects[b]` for image `b`): labels (0 background, `k + 1` class
    /// `k`; none ignored), and per positive its box, encoding, weight 1 and center-ness.
    pub fn assign(&self, anchors: &Anchors, objects: &[&[Object]]) -> Assignment {
        let n = anchors.len();
        let priors = anchors.priors();
        let mut a = Assignment::default();
        for (b, objs) in objects.iter().enumerate() {
            for (i, &m) in self.match_image(anchors, objs).iter().enumerate() {
                if m < 0 {
                    a.labels.push(0);
                    continue;
                }
                let o = &objs[m as usize];
                let e = encode(priors[i], o.bbox);
                a.labels.push(o.class as i64 + 1);
                a.pos.push((b * n + i) as i64);
                a.prior.push(i as i64);
                a.boxes.extend_from_slice(&o.bbox);
                a.encoded.extend_from_slice(&e);
                a.weight.push(1.0);
                a.centerness.push(centerness(e));
            }
        }
        a
    }

    /// The loss terms of head outputs `out` on targets `t` (from [`FcosDetector::assign`]) with
    /// the losses of `objective`; `levels`: the FPN levels the head ran on (UGS re-runs its
    /// regression branch on them, perturbed).
    pub fn terms(
        &self,
        objective: &Objective,
        out: &HeadOutput,
        t: &Targets,
        levels: &[Tensor],
    ) -> Terms {
        let rerun = |moved: &[Tensor]| self.head.reg_logits(moved);
        let branch = RegBranch {
            levels,
            reg_logits: &rerun,
        };
        objective.terms_of(out, &decode, t, Some(branch))
    }

    /// One training batch end to end: the head on FPN `levels` (`[B, C, h, w]`, P3–P7) of a
    /// batch padded to `batch` (`[H, W]`), the targets of `objects[b]` (in the batch's pixels)
    /// and the loss terms.
    pub fn train_terms(
        &self,
        objective: &Objective,
        levels: &[Tensor],
        batch: [i64; 2],
        objects: &[&[Object]],
    ) -> Result<Terms, TrainError> {
        let anchors = Anchors::of_levels(batch, levels)?;
        let device = levels[0].device();
        let out = self.head.forward(levels);
        let t = self
            .assign(&anchors, objects)
            .to_device(&anchors.priors_tensor(device), device);
        Ok(self.terms(objective, &out, &t, levels))
    }

    /// Detections of a batch from its FPN `levels`, as [`FcosDetector::detect`].
    pub fn detect_levels(
        &self,
        levels: &[Tensor],
        batch: [i64; 2],
        image_sizes: &[[i64; 2]],
        score: Score,
    ) -> Result<Vec<Vec<Det>>, TrainError> {
        let anchors = Anchors::of_levels(batch, levels)?;
        let out = tch::no_grad(|| self.head.forward(levels));
        Ok(self.detect(&out, &anchors, image_sizes, score))
    }

    /// Detections of each image of a batch; `image_sizes[b]` is image `b`'s `[h, w]` before
    /// padding (boxes are clipped to it), `score` the classification loss's score function.
    pub fn detect(
        &self,
        out: &HeadOutput,
        anchors: &Anchors,
        image_sizes: &[[i64; 2]],
        score: Score,
    ) -> Vec<Vec<Det>> {
        let _guard = tch::no_grad_guard();
        let k = out.cls.size()[2] as usize;
        let n = anchors.len();
        let ctr = out.ctr.as_ref().expect("the fcos head has center-ness");
        let scores = host(&(score.probs(&out.cls) * ctr.sigmoid().unsqueeze(-1)).sqrt());
        let reg = host(&out.reg);
        let priors = anchors.priors();
        let p = &self.params;
        image_sizes
            .iter()
            .enumerate()
            .map(|(img, &[h, w])| {
                let (h, w) = (h as f32, w as f32);
                let mut cands = Vec::new();
                for g in &anchors.grids {
                    let rows = (img * n + g.start) * k..(img * n + g.start + g.len()) * k;
                    let mut level: Vec<(f32, usize)> = rows
                        .map(|r| (scores[r], r - img * n * k))
                        .filter(|&(s, _)| s > p.score_thresh)
                        .collect();
                    level.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                    level.truncate(p.topk_candidates);
                    for (s, idx) in level {
                        let (i, class) = (idx / k, idx % k);
                        let (r, q) = (&reg[(img * n + i) * 4..][..4], priors[i]);
                        let bbox = [
                            (q[0] - r[0] * q[2]).clamp(0.0, w),
                            (q[1] - r[1] * q[3]).clamp(0.0, h),
                            (q[0] + r[2] * q[2]).clamp(0.0, w),
                            (q[1] + r[3] * q[3]).clamp(0.0, h),
                        ];
                        cands.push(Det {
                            bbox,
                            score: s,
                            class,
                        });
                    }
                }
                nms(cands, p.nms_thresh, p.detections_per_img)
            })
            .collect()
    }
}

fn host(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))
        .expect("a float tensor")
}
