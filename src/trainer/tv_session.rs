//! The training session of a torchvision-layout detector ([`super::detectors::retinanet::RetinaNet`]):
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
use super::detectors::retinanet::{RetinaNet, RetinaNetConfig, Target};
use super::losses::{self, ClsLoss, Reg, RegLoss};
use super::optim::Sgd;
use super::postprocess::Det;
use super::transform::Transform;
use super::weights;
use super::TrainError;
use crate::eval::{Detection, GtSet};
use crate::spec::config::{BackboneSpec, ClsLossSpec, DetectorSpec, JobConfig};
use rayon::prelude::*;
use std::sync::Arc;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// Images per forward pass at evaluation.
const EVAL_BATCH: usize = 4;

/// One torchvision-detector job's model, data, losses and optimizer.
pub struct TvSession {
    pub device: Device,
    pub vs: VarStore,
    pub model: RetinaNet,
    transform: Transform,
    data: Arc<Dataset>,
    picker: Picker,
    pool: rayon::ThreadPool,
    pub opt: Sgd,
    cls: Box<dyn ClsLoss>,
    reg: Box<dyn RegLoss>,
    /// Normalise the classification loss per image (torchvision's focal loss) or per batch.
    per_image: bool,
    batch: usize,
    pub weighting: Weighting,
}

/// The detector's config of a job (the spec validated the kinds).
pub fn retinanet_config(cfg: &JobConfig, num_classes: i64) -> RetinaNetConfig {
    let (DetectorSpec::TorchvisionRetinanet(d), BackboneSpec::Resnet(r)) =
        (&cfg.model.detector, &cfg.model.backbone)
    else {
        panic!("a torchvision detector on a resnet backbone (the spec validates it)")
    };
    let mut c = RetinaNetConfig::torchvision(r.depth, num_classes);
    c.trainable_layers = r.trainable_layers;
    c.fpn_channels = d.fpn_channels;
    c.score_thresh = d.score_thresh;
    c.nms_thresh = d.nms_thresh;
    c.detections_per_img = d.detections_per_img as i64;
    c.topk_candidates = d.topk_candidates as i64;
    c
}

impl TvSession {
    pub fn new(cfg: &JobConfig, device: Device) -> Result<TvSession, TrainError> {
        let data = Arc::new(Dataset::open(&cfg.dataset)?);
        let DetectorSpec::TorchvisionRetinanet(d) = &cfg.model.detector else {
            panic!("a torchvision detector (the caller dispatches on it)")
        };
        tch::manual_seed(cfg.train.seed as i64);
        let vs = VarStore::new(device);
        let model = RetinaNet::new(
            &vs.root(),
            &retinanet_config(cfg, data.num_classes() as i64),
        );
        if let BackboneSpec::Resnet(r) = &cfg.model.backbone {
            if let Some(path) = &r.weights {
                weights::load_expecting(&vs, path, weights::WeightsKind::Backbone)?;
            }
        }
        if let Some(path) = &d.weights {
            weights::load_expecting(&vs, path, weights::WeightsKind::Detector)?;
        }
        let reg = match losses::build_reg(&cfg.loss.reg, true) {
            Reg::Plain(r) => r,
            Reg::Ugs(_) => panic!("ugs is rejected for torchvision detectors by the spec"),
        };
        let threads = tch::get_num_threads().max(1) as usize;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| TrainError::Torch(format!("cannot start {threads} data threads: {e}")))?;
        let t = &cfg.train;
        Ok(TvSession {
            device,
            opt: Sgd::new(&vs, t.momentum, t.weight_decay, t.grad_clip),
            transform: Transform::torchvision(d.min_size, d.max_size),
            picker: data.picker(t.seed),
            pool,
            cls: losses::build(&cfg.loss.cls),
            reg,
            per_image: matches!(
                cfg.loss.cls,
                ClsLossSpec::Focal { .. } | ClsLossSpec::CeOhem { .. }
            ),
            batch: t.batch_size as usize,
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

    /// One training iteration; returns the detached logged losses (total, cls, reg).
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
        let out = self.model.forward(&list.tensors);
        let anchors = self.model.anchors(&list.tensors, &out.features);
        let l = self.model.losses(
            &out,
            &anchors,
            &targets,
            self.cls.as_ref(),
            self.reg.as_ref(),
            self.per_image,
        );
        let (wc, wr) = self.weighting.observe(it, &l.cls, &l.reg);
        let total = &l.cls_backprop * wc + &l.reg * wr;
        let logged = &l.cls * wc + l.reg.detach() * wr;
        self.opt.zero_grad();
        total.backward();
        self.opt.step(lr);
        Ok(vec![logged, l.cls, l.reg.detach()])
    }

    /// Model variables (frozen ones included), momentum buffers and the task weights' state.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.extend(self.opt.state());
        v.extend(self.weighting.state());
        v
    }

    pub fn restore(&mut self, ck: &checkpoint::Loaded) -> Result<(), TrainError> {
        let missing = |name: String| TrainError::Io {
            path: ck.path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("checkpoint has no tensor {name}"),
            ),
        };
        for (name, mut var) in self.vs.variables() {
            let src = ck.tensors.get(&name).ok_or_else(|| missing(name.clone()))?;
            if src.size() != var.size() {
                return Err(missing(format!("{name} of shape {:?}", var.size())));
            }
            tch::no_grad(|| var.copy_(src));
        }
        self.opt.load_state(&ck.tensors).map_err(&missing)?;
        self.weighting
            .load_state(&ck.tensors, self.device)
            .map_err(missing)
    }

    /// Detections on the val split (COCO records in the original images' pixels) and its
    /// ground truth.
    pub fn try_evaluate(&self) -> Result<(Vec<Detection>, GtSet), TrainError> {
        let _guard = tch::no_grad_guard();
        let n = self.data.len(Split::Val);
        let score = self.cls.score();
        let mut dets = Vec::new();
        for first in (0..n).step_by(EVAL_BATCH) {
            let data = &self.data;
            let images = self.pool.install(|| {
                (first..(first + EVAL_BATCH).min(n))
                    .into_par_iter()
                    .map(|i| data.raw_image(Split::Val, i, false))
                    .collect::<Result<Vec<_>, _>>()
            })?;
            let (list, _) = self.prepare(&images);
            let out = self.model.forward(&list.tensors);
            let anchors = self.model.anchors(&list.tensors, &out.features);
            let found = self
                .model
                .postprocess(&out, &anchors, &list.image_sizes, score);
            for (j, d) in found.iter().enumerate() {
                let boxes =
                    Transform::postprocess_boxes(&d.boxes, list.image_sizes[j], images[j].size());
                dets.extend(
                    self.data
                        .raw_records(first + j, &host_dets(&boxes, &d.scores, &d.labels)),
                );
            }
        }
        Ok((dets, self.data.val_ground_truth()))
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
