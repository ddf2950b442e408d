//! The training session of a torchvision-layout detector (RetinaNet,
//! [`super::detectors::retinanet::RetinaNet`], FCOS, [`super::detectors::fcos_model::FcosModel`],
//! SSD300, [`super::detectors::ssd::Ssd`], or Faster R-CNN, [`super::tv_faster`]):
//! raw images through torchvision's transform ([`super::transform`]), torchvision's matching
//! and losses through the loss registry, SGD, and evaluation with torchvision's
//! post-processing, detections mapped back to each original image.
//!
//! Weights: the backbone's ImageNet state dict, then (when given) a whole detector's state
//! dict over everything, both strict ([`super::weights`]). The data order is the tiny
//! detectors' (a pure function of the seed and the position), so a resumed run sees the same
//! batches.

use super::alwa::Weighting;
use super::checkpoint;
use super::data::Split;
use super::datasets::loader::Picker;
use super::datasets::raw::RawImage;
use super::datasets::Dataset;
use super::detectors::fcos::FcosParams;
use super::detectors::fcos_model::{FcosModel, FcosModelConfig};
use super::detectors::retinanet::{RetinaNet, RetinaNetConfig, Target};
use super::detectors::ssd::{Ssd, SsdConfig};
use super::detectors::ssd_loss::SsdCls;
use super::losses::{self, ClsLoss, Reg, RegLoss};
use super::objective::{Objective, Terms};
use super::optim::Sgd;
use super::perturb::perturb_raw;
use super::postprocess::Det;
use super::synth::Object;
use super::transform::Transform;
use super::tv_faster::FasterParts;
use super::weights;
use super::TrainError;
use crate::eval::{Detection, GtSet};
use crate::spec::config::{
    BackboneSpec, ClsLossSpec, DetectorSpec, JobConfig, Perturbation, ResnetSpec,
};
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// Images per forward pass at evaluation.
const EVAL_BATCH: usize = 4;

/// The detector of a session. Both compute their terms with the job's [`Objective`]
/// (RetinaNet normalised per image as torchvision does; FCOS with a center-ness term).
pub enum TvModel {
    Retina(Box<RetinaNet>),
    Fcos(Box<FcosModel>),
    /// SSD300 computes its losses itself (over the batch, as torchvision's).
    Ssd(Box<SsdJob>),
    /// Faster R-CNN with its per-stage losses ([`super::tv_faster`]).
    Faster(Box<FasterParts>),
}

/// SSD300 and its losses: torchvision's own classification loss for `ce_ohem`, else the
/// registry's (see [`SsdCls`]).
pub struct SsdJob {
    pub model: Ssd,
    cls: Box<dyn ClsLoss>,
    cls_spec: ClsLossSpec,
    reg: Box<dyn RegLoss>,
}

impl SsdJob {
    fn cls(&self) -> SsdCls<'_> {
        match self.cls_spec {
            ClsLossSpec::CeOhem { neg_pos_ratio } => SsdCls::Torchvision {
                neg_to_pos_ratio: neg_pos_ratio,
            },
            _ => SsdCls::Registry(self.cls.as_ref()),
        }
    }

    /// SSD's scores: torchvision's softmax with `ce_ohem`, else the registry loss's.
    fn score(&self) -> Option<losses::Score> {
        match self.cls() {
            SsdCls::Torchvision { .. } => None,
            SsdCls::Registry(l) => Some(l.score()),
        }
    }
}

/// One torchvision-detector job's model, data, losses and optimizer.
pub struct TvSession {
    pub device: Device,
    pub vs: VarStore,
    pub model: TvModel,
    transform: Transform,
    data: Arc<Dataset>,
    picker: Picker,
    pool: rayon::ThreadPool,
    pub opt: Sgd,
    objective: Objective,
    batch: usize,
    /// The job's seed: the robustness evaluations' random streams start from it.
    seed: u64,
    pub weighting: Weighting,
}

/// The ResNet of a torchvision detector's job (the spec validated the kind).
fn resnet(cfg: &JobConfig) -> &ResnetSpec {
    match &cfg.model.backbone {
        BackboneSpec::Resnet(r) => r,
        _ => panic!("a torchvision detector on a resnet backbone (the spec validates it)"),
    }
}

/// The ImageNet weights of a torchvision detector's backbone.
fn backbone_weights(cfg: &JobConfig) -> Option<&PathBuf> {
    match &cfg.model.backbone {
        BackboneSpec::Resnet(r) => r.weights.as_ref(),
        BackboneSpec::Vgg16(v) => v.weights.as_ref(),
        BackboneSpec::TinyResnet { .. } => None,
    }
}

/// The SSD300 config of a `torchvision_ssd` job.
pub fn ssd_config(cfg: &JobConfig, classes: i64) -> SsdConfig {
    let (DetectorSpec::TorchvisionSsd(d), BackboneSpec::Vgg16(v)) =
        (&cfg.model.detector, &cfg.model.backbone)
    else {
        panic!("a torchvision_ssd job on vgg16 (the spec validates it)")
    };
    let mut c = SsdConfig::torchvision(classes);
    c.trainable_layers = v.trainable_layers;
    c.iou_thresh = d.iou_thresh;
    c.score_thresh = d.score_thresh;
    c.nms_thresh = d.nms_thresh;
    c.detections_per_img = d.detections_per_img as i64;
    c.topk_candidates = d.topk_candidates as i64;
    c
}

/// The RetinaNet config of a `torchvision_retinanet` job (`grid`: its objective's distribution
/// grid, with UGS).
pub fn retinanet_config(
    cfg: &JobConfig,
    num_classes: i64,
    grid: Option<&[f64]>,
) -> RetinaNetConfig {
    let DetectorSpec::TorchvisionRetinanet(d) = &cfg.model.detector else {
        panic!("a torchvision_retinanet job")
    };
    let r = resnet(cfg);
    let mut c = RetinaNetConfig::torchvision(r.depth, num_classes);
    c.trainable_layers = r.trainable_layers;
    c.fpn_channels = d.fpn_channels;
    c.score_thresh = d.score_thresh;
    c.nms_thresh = d.nms_thresh;
    c.detections_per_img = d.detections_per_img as i64;
    c.topk_candidates = d.topk_candidates as i64;
    c.grid = grid.map(<[f64]>::to_vec);
    c
}

/// The FCOS config of a `torchvision_fcos` job (`grid` as [`retinanet_config`]).
pub fn fcos_config(cfg: &JobConfig, num_classes: i64, grid: Option<&[f64]>) -> FcosModelConfig {
    let (params, num_convs) =
        FcosParams::of_spec(&cfg.model.detector).expect("a torchvision_fcos job");
    let DetectorSpec::TorchvisionFcos(d) = &cfg.model.detector else {
        unreachable!("of_spec accepted it")
    };
    let r = resnet(cfg);
    let mut c = FcosModelConfig::torchvision(r.depth, num_classes);
    c.trainable_layers = r.trainable_layers;
    c.fpn_channels = d.fpn_channels;
    c.num_convs = num_convs;
    c.params = params;
    c.grid = grid.map(<[f64]>::to_vec);
    c
}

/// The input sizes and whole-detector weights of a torchvision detector's spec.
fn detector_input(d: &DetectorSpec) -> (u32, u32, Option<PathBuf>) {
    match d {
        DetectorSpec::TorchvisionRetinanet(d) => (d.min_size, d.max_size, d.weights.clone()),
        DetectorSpec::TorchvisionFcos(d) => (d.min_size, d.max_size, d.weights.clone()),
        DetectorSpec::TorchvisionSsd(d) => (300, 300, d.weights.clone()),
        DetectorSpec::TorchvisionFasterRcnn(d) => (d.min_size, d.max_size, d.weights.clone()),
        _ => panic!("a torchvision detector (the caller dispatches on it)"),
    }
}

impl TvSession {
    pub fn new(cfg: &JobConfig, device: Device) -> Result<TvSession, TrainError> {
        Self::with_data(cfg, device, Arc::new(Dataset::open(&cfg.dataset)?))
    }

    /// [`TvSession::new`] on data already opened (`sweep predict --job`: other val images).
    pub fn with_data(
        cfg: &JobConfig,
        device: Device,
        data: Arc<Dataset>,
    ) -> Result<TvSession, TrainError> {
        let (min_size, max_size, detector_weights) = detector_input(&cfg.model.detector);
        tch::manual_seed(cfg.train.seed as i64);
        let vs = VarStore::new(device);
        let classes = data.num_classes() as i64;
        let objective = Objective::new(cfg);
        let grid = objective.grid();
        let model = match cfg.model.detector {
            DetectorSpec::TorchvisionFasterRcnn(_) => {
                TvModel::Faster(Box::new(FasterParts::new(&vs.root(), cfg, classes)))
            }
            DetectorSpec::TorchvisionFcos(_) => TvModel::Fcos(Box::new(FcosModel::new(
                &vs.root(),
                &fcos_config(cfg, classes, grid),
            ))),
            DetectorSpec::TorchvisionSsd(_) => TvModel::Ssd(Box::new(SsdJob {
                model: Ssd::new(&vs.root(), &ssd_config(cfg, classes)),
                cls: losses::build(&cfg.loss.cls),
                cls_spec: cfg.loss.cls.clone(),
                reg: match losses::build_reg(&cfg.loss.reg, true) {
                    Reg::Plain(r) => r,
                    Reg::Ugs(_) => panic!("ugs is refused for torchvision_ssd by the spec"),
                },
            })),
            _ => TvModel::Retina(Box::new(RetinaNet::new(
                &vs.root(),
                &retinanet_config(cfg, classes, grid),
            ))),
        };
        if let Some(path) = backbone_weights(cfg) {
            weights::load_expecting(&vs, path, weights::WeightsKind::Backbone)?;
        }
        if let Some(path) = &detector_weights {
            weights::load_expecting(&vs, path, weights::WeightsKind::Detector)?;
        }
        let threads = tch::get_num_threads().max(1) as usize;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| TrainError::Torch(format!("cannot start {threads} data threads: {e}")))?;
        let t = &cfg.train;
        Ok(TvSession {
            device,
            opt: Sgd::new(&vs, t.momentum, t.weight_decay, t.grad_clip),
            transform: match model {
                TvModel::Ssd(_) => Transform::ssd300(),
                _ => Transform::torchvision(min_size, max_size),
            },
            picker: data.picker(t.seed),
            pool,
            objective,
            batch: t.batch_size as usize,
            seed: t.seed,
            weighting: Weighting::new(&cfg.loss.weights),
            data,
            vs,
            model,
        })
    }

    /// The padded batch of `images` on the device and their targets in its pixels.
    fn prepare(&self, images: &[RawImage]) -> (super::transform::ImageList, Vec<Target>) {
        let px: Vec<Tensor> = images
            .iter()
            .map(|i| i.pixels.to_device(self.device))
            .collect();
        let boxes: Vec<Tensor> = images
            .iter()
            .map(|i| {
                let flat: Vec<f32> = i.boxes.iter().flatten().copied().collect();
                Tensor::from_slice(&flat)
                    .view([-1, 4])
                    .to_device(self.device)
            })
            .collect();
        let (list, scaled) = self.transform.batch(&px, Some(&boxes));
        let targets = scaled
            .into_iter()
            .zip(images)
            .map(|(b, i)| Target {
                boxes: b,
                labels: Tensor::from_slice(&i.classes).to_device(self.device),
            })
            .collect();
        (list, targets)
    }

    /// One training iteration; returns the detached logged values of [`TvSession::loss_names`].
    pub fn try_step(&mut self, it: u64, lr: f64) -> Result<Vec<Tensor>, TrainError> {
        let picks: Vec<_> = (0..self.batch as u64)
            .map(|j| self.picker.pick(it * self.batch as u64 + j))
            .collect();
        let data = &self.data;
        let images = self.pool.install(|| {
            picks
                .par_iter()
                .map(|p| data.raw_image(Split::Train, p.index, p.flip))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let (list, targets) = self.prepare(&images);
        if let TvModel::Faster(f) = &mut self.model {
            let s = f.step(
                it,
                &list.tensors,
                &list.image_sizes,
                &targets,
                &mut self.weighting,
            );
            self.opt.zero_grad();
            s.total.backward();
            self.opt.step(lr);
            return Ok(s.logged);
        }
        let t = match &self.model {
            TvModel::Retina(m) => {
                let out = m.forward(&list.tensors);
                let anchors = m.anchors(&list.tensors, &out.features);
                m.terms(&self.objective, &out, &anchors, &targets)
            }
            TvModel::Fcos(model) => {
                let objects: Vec<Vec<Object>> = targets.iter().map(objects_of).collect();
                let refs: Vec<&[Object]> = objects.iter().map(Vec::as_slice).collect();
                model.train_terms(&self.objective, &list.tensors, &refs)?
            }
            TvModel::Ssd(j) => {
                let out = j.model.forward(&list.tensors);
                let anchors = j.model.anchors(&list.tensors, &out.features);
                let l = j
                    .model
                    .losses(&out, &anchors, &targets, j.cls(), j.reg.as_ref());
                Terms {
                    cls_backprop: l.cls_backprop,
                    cls: l.cls,
                    reg: l.reg,
                    ctr: None,
                    ugs: None,
                    harmonic_neg: None,
                }
            }
            TvModel::Faster(_) => unreachable!("stepped above"),
        };
        let extras = t.logged_extras();
        let (cls_backprop, cls, reg, ctr) = (t.cls_backprop, t.cls, t.reg, t.ctr);
        let (wc, wr) = self.weighting.observe(it, &cls, &reg);
        let mut total = &cls_backprop * wc + &reg * wr;
        let mut logged = &cls * wc + reg.detach() * wr;
        if let Some(c) = &ctr {
            // torchvision adds the center-ness loss unweighted, as the tiny FCOS does.
            total += c;
            logged += c.detach();
        }
        self.opt.zero_grad();
        total.backward();
        self.opt.step(lr);
        let mut out = vec![logged, cls, reg.detach()];
        out.extend(ctr.map(|c| c.detach()));
        out.extend(extras);
        Ok(out)
    }

    /// Names of the values [`TvSession::try_step`] returns.
    pub fn loss_names(&self) -> Vec<&'static str> {
        let mut v = match &self.model {
            TvModel::Retina(_) | TvModel::Ssd(_) => vec!["total", "cls", "reg"],
            TvModel::Fcos(_) => vec!["total", "cls", "reg", "ctr"],
            TvModel::Faster(_) => return super::tv_faster::LOSS_NAMES.to_vec(),
        };
        v.extend(self.objective.extra_names());
        v
    }

    /// Model variables (frozen ones included), momentum buffers and the task weights' state.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut v = checkpoint::training_state(&self.vs, &self.opt, &self.weighting);
        if let TvModel::Faster(f) = &self.model {
            v.extend(f.rpn_weighting.state());
        }
        v
    }

    pub fn restore(&mut self, ck: &checkpoint::Loaded) -> Result<(), TrainError> {
        checkpoint::restore_training(
            ck,
            &self.vs,
            &mut self.opt,
            &mut self.weighting,
            self.device,
        )?;
        if let TvModel::Faster(f) = &mut self.model {
            f.rpn_weighting
                .load_state(&ck.tensors, self.device)
                .map_err(|name| TrainError::Io {
                    path: ck.path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("checkpoint has no tensor {name}"),
                    ),
                })?;
        }
        Ok(())
    }

    /// Detections on the val split (COCO records in the original images' pixels) and its
    /// ground truth.
    pub fn try_evaluate(&self) -> Result<(Vec<Detection>, GtSet), TrainError> {
        self.try_evaluate_with(None)
    }

    /// As [`TvSession::try_evaluate`], on the val images perturbed by `kind` before the
    /// detector's transform (seeded by the job seed and each image's index; see
    /// [`super::perturb::perturb_raw`]). The ground truth is the same.
    pub fn try_evaluate_perturbed(
        &self,
        kind: Perturbation,
    ) -> Result<(Vec<Detection>, GtSet), TrainError> {
        self.try_evaluate_with(Some(kind))
    }

    fn try_evaluate_with(
        &self,
        perturbation: Option<Perturbation>,
    ) -> Result<(Vec<Detection>, GtSet), TrainError> {
        let _guard = tch::no_grad_guard();
        let n = self.data.len(Split::Val);
        let score = self.objective.score();
        let mut dets = Vec::new();
        for first in (0..n).step_by(EVAL_BATCH) {
            let data = &self.data;
            let mut images = self.pool.install(|| {
                (first..(first + EVAL_BATCH).min(n))
                    .into_par_iter()
                    .map(|i| data.raw_image(Split::Val, i, false))
                    .collect::<Result<Vec<_>, _>>()
            })?;
            if let Some(kind) = perturbation {
                for (j, img) in images.iter_mut().enumerate() {
                    img.pixels = perturb_raw(
                        kind,
                        &img.pixels,
                        &img.boxes,
                        self.seed,
                        first + j,
                        self.transform.mean,
                        self.transform.std,
                    );
                }
            }
            let (list, _) = self.prepare(&images);
            let found = self.detect(&list, score)?;
            for (j, (boxes, scores, labels)) in found.iter().enumerate() {
                let boxes =
                    Transform::postprocess_boxes(boxes, list.image_sizes[j], images[j].size());
                dets.extend(
                    self.data
                        .raw_records(first + j, &host_dets(&boxes, scores, labels)),
                );
            }
        }
        Ok((dets, self.data.val_ground_truth()))
    }

    /// Detections `(boxes, scores, labels)` of each image of a batch, in its resized pixels.
    fn detect(
        &self,
        list: &super::transform::ImageList,
        score: losses::Score,
    ) -> Result<Vec<(Tensor, Tensor, Tensor)>, TrainError> {
        Ok(match &self.model {
            TvModel::Retina(m) => {
                let out = m.forward(&list.tensors);
                let anchors = m.anchors(&list.tensors, &out.features);
                m.postprocess(&out, &anchors, &list.image_sizes, score)
                    .into_iter()
                    .map(|d| (d.boxes, d.scores, d.labels))
                    .collect()
            }
            TvModel::Ssd(j) => {
                let out = j.model.forward(&list.tensors);
                let anchors = j.model.anchors(&list.tensors, &out.features);
                j.model
                    .postprocess(&out, &anchors, &list.image_sizes, j.score())
                    .into_iter()
                    .map(|d| (d.boxes, d.scores, d.labels))
                    .collect()
            }
            TvModel::Fcos(model) => {
                let sizes: Vec<[i64; 2]> = list.image_sizes.iter().map(|&(h, w)| [h, w]).collect();
                model
                    .detect(&list.tensors, &sizes, score)?
                    .iter()
                    .map(|d| dets_tensors(d, self.device))
                    .collect()
            }
            TvModel::Faster(f) => f
                .detect(&list.tensors, &list.image_sizes)
                .into_iter()
                .map(|d| (d.boxes, d.scores, d.labels))
                .collect(),
        })
    }

    pub fn parameter_count(&self) -> i64 {
        self.opt.parameter_count()
    }
}

/// Detections as host records (`class` a logit column).
pub fn host_dets(boxes: &Tensor, scores: &Tensor, labels: &Tensor) -> Vec<Det> {
    let b = Vec::<f32>::try_from(
        boxes
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .flatten(0, -1),
    )
    .expect("boxes");
    let s =
        Vec::<f32>::try_from(scores.to_device(Device::Cpu).to_kind(Kind::Float)).expect("scores");
    let l = Vec::<i64>::try_from(labels.to_device(Device::Cpu)).expect("labels");
    (0..s.len())
        .map(|i| Det {
            bbox: [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]],
            score: s[i],
            class: l[i] as usize,
        })
        .collect()
}

/// An image's ground truth (`boxes [G, 4]` in the batch's pixels) as FCOS's matcher reads it.
fn objects_of(t: &Target) -> Vec<Object> {
    let b = Vec::<f32>::try_from(
        t.boxes
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .flatten(0, -1),
    )
    .expect("boxes");
    let l = Vec::<i64>::try_from(t.labels.to_device(Device::Cpu)).expect("labels");
    l.iter()
        .enumerate()
        .map(|(i, &class)| Object {
            class: class as usize,
            bbox: [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]],
        })
        .collect()
}

/// Host detections as `(boxes [D, 4], scores [D], labels [D])` tensors on `device`.
pub fn dets_tensors(d: &[Det], device: Device) -> (Tensor, Tensor, Tensor) {
    let b: Vec<f32> = d.iter().flat_map(|x| x.bbox).collect();
    let s: Vec<f32> = d.iter().map(|x| x.score).collect();
    let l: Vec<i64> = d.iter().map(|x| x.class as i64).collect();
    (
        Tensor::from_slice(&b).view([-1, 4]).to_device(device),
        Tensor::from_slice(&s).to_device(device),
        Tensor::from_slice(&l).to_device(device),
    )
}
