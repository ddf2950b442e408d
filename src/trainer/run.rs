//! The training session: model, data, losses and optimizer of one job, the loop, and evaluation.

use super::checkpoint::{self, Curves};
use super::data::{to_tensor, Sampler, Split, Synthetic};
use super::layout::Layout;
use super::losses::{self, reduce, ClsLoss, RegLoss, Space};
use super::model::Detector;
use super::optim::{lr_at, Sgd};
use super::postprocess::{detect, records};
use super::synth::{Image, Object};
use super::{DeviceChoice, Progress, TrainError, TrainOptions, TrainOutcome};
use crate::eval::{Detection, GtSet};
use crate::spec::config::{DatasetSpec, DetectorSpec, JobConfig};
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Once;
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Reduction, Tensor};

/// Images per forward pass at evaluation.
const EVAL_BATCH: usize = 16;

pub fn resolve_device(choice: DeviceChoice) -> Result<Device, TrainError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        DeviceChoice::Cuda(i) if i < super::cuda_device_count() => Ok(Device::Cuda(i)),
        DeviceChoice::Cuda(i) => Err(TrainError::Unsupported {
            what: format!(
                "cuda device {i} was requested but libtorch sees {} cuda devices",
                super::cuda_device_count()
            ),
        }),
    }
}

pub fn device_name(d: Device) -> String {
    match d {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// One job's model, data, losses and optimizer.
pub struct Session {
    pub cfg: JobConfig,
    pub device: Device,
    pub vs: VarStore,
    pub model: Detector,
    pub layout: Layout,
    priors: Tensor,
    pub data: Synthetic,
    sampler: Sampler,
    pub opt: Sgd,
    /// Renders the images of a batch (as many threads as libtorch's intra-op pool).
    pool: rayon::ThreadPool,
    cls_loss: Box<dyn ClsLoss>,
    reg_loss: Box<dyn RegLoss>,
}

impl Session {
    /// Builds everything; the model's initialisation is a function of `train.seed` alone.
    pub fn new(cfg: &JobConfig, device: Device) -> Result<Session, TrainError> {
        let DatasetSpec::Synthetic(ds) = &cfg.dataset;
        let data = Synthetic::new(ds);
        let layout = Layout::new(cfg);
        tch::manual_seed(cfg.train.seed as i64);
        let vs = VarStore::new(device);
        let model = Detector::new(
            &vs.root(),
            &cfg.model,
            ds.num_classes as i64,
            layout.per_cell() as i64,
        );
        let t = &cfg.train;
        let threads = tch::get_num_threads().max(1) as usize;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| TrainError::Torch(format!("cannot start {threads} data threads: {e}")))?;
        Ok(Session {
            pool,
            opt: Sgd::new(&vs, t.momentum, t.weight_decay, t.grad_clip),
            sampler: Sampler::new(t.seed, data.len(Split::Train)),
            priors: layout.priors_tensor(device),
            cls_loss: losses::build(&cfg.loss.cls),
            reg_loss: losses::build_reg(&cfg.loss.reg)?,
            cfg: cfg.clone(),
            device,
            vs,
            model,
            layout,
            data,
        })
    }

    /// Names of the values [`Session::losses`] returns, in order.
    pub fn loss_names(&self) -> Vec<&'static str> {
        let mut v = vec!["total", "cls", "reg"];
        if matches!(
            self.cfg.model.detector,
            DetectorSpec::Fcos {
                centerness: true,
                ..
            }
        ) {
            v.push("ctr");
        }
        v
    }

    pub fn weights(&self) -> Vec<(String, f64)> {
        let w = &self.cfg.loss.weights;
        let mut v = vec![("cls".to_string(), w.cls), ("reg".to_string(), w.reg)];
        if self.loss_names().contains(&"ctr") {
            v.push(("ctr".to_string(), 1.0));
        }
        v
    }

    /// The losses of a batch: total (weighted, to back-propagate) first, then the unweighted parts.
    pub fn losses(&self, images: &[Image]) -> Vec<Tensor> {
        let objects: Vec<&[Object]> = images.iter().map(|i| i.objects.as_slice()).collect();
        let t = self
            .layout
            .assign(&objects)
            .to_device(&self.priors, self.device);
        let out = self.model.forward(&to_tensor(images, self.device));
        let classes = out.cls.size()[2];
        let cls = self.cls_loss.loss(
            &out.cls.view([-1, classes]),
            &t.labels,
            t.num_pos.max(1) as f64,
        );
        let pred = out.reg.view([-1, 4]).index_select(0, &t.pos);
        let per_box = match self.reg_loss.space() {
            Space::Encoded => self.reg_loss.per_box(&pred, &t.encoded),
            Space::Boxes => self
                .reg_loss
                .per_box(&self.layout.decode(&pred, &t.priors), &t.boxes),
        };
        let reg = reduce(&per_box, &t.weight, t.weight_sum);
        let w = &self.cfg.loss.weights;
        let mut total = &cls * w.cls + &reg * w.reg;
        let mut parts = vec![cls, reg];
        if let (Some(ctr), Some(target)) = (&out.ctr, &t.centerness) {
            let logits = ctr.view([-1]).index_select(0, &t.pos);
            let bce = logits.binary_cross_entropy_with_logits::<Tensor>(
                target,
                None,
                None,
                Reduction::Sum,
            );
            let ctr_loss = bce / t.num_pos.max(1) as f64;
            total += &ctr_loss;
            parts.push(ctr_loss);
        }
        let mut all = vec![total];
        all.extend(parts);
        all
    }

    /// One training iteration (0-based `it`); returns the detached losses.
    pub fn step(&mut self, it: u64, lr: f64) -> Vec<Tensor> {
        let images = self.sampler.batch(
            &self.data,
            it,
            self.cfg.train.batch_size as usize,
            &self.pool,
        );
        let losses = self.losses(&images);
        self.opt.zero_grad();
        losses[0].backward();
        self.opt.step(lr);
        losses.iter().map(|l| l.detach()).collect()
    }

    /// Model variables and momentum buffers, as saved in a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.extend(self.opt.state());
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
        self.opt.load_state(&ck.tensors).map_err(missing)
    }

    /// Detections on the val split (COCO records) and its ground truth.
    pub fn evaluate(&self) -> (Vec<Detection>, GtSet) {
        let _guard = tch::no_grad_guard();
        let n = self.data.len(Split::Val);
        let size = self.data.spec.image_size as f32;
        let mut dets = Vec::new();
        for first in (0..n).step_by(EVAL_BATCH) {
            let data = &self.data;
            let images: Vec<Image> = self.pool.install(|| {
                (first..(first + EVAL_BATCH).min(n))
                    .into_par_iter()
                    .map(|i| data.image(Split::Val, i))
                    .collect()
            });
            let out = self.model.forward(&to_tensor(&images, self.device));
            for (j, d) in detect(&out, &self.layout, &self.cfg.eval, size)
                .iter()
                .enumerate()
            {
                dets.extend(records((first + j) as u64 + 1, d));
            }
        }
        (dets, self.data.val_ground_truth())
    }
}

fn finite_or_diverged(names: &[&str], values: &[f64], iteration: u64) -> Result<(), TrainError> {
    match names.iter().zip(values).find(|(_, v)| !v.is_finite()) {
        Some((n, _)) => Err(TrainError::Diverged {
            iteration,
            loss: n.to_string(),
        }),
        None => Ok(()),
    }
}

fn detections_json(dets: &[Detection]) -> String {
    let rows: Vec<serde_json::Value> = dets
        .iter()
        .map(|d| serde_json::json!({ "image_id": d.image_id, "category_id": d.category_id, "bbox": d.bbox, "score": d.score }))
        .collect();
    serde_json::Value::Array(rows).to_string()
}

static INTEROP: Once = Once::new();

/// The body of [`super::train`], after validation.
pub fn run(
    cfg: &JobConfig,
    job_dir: &Path,
    opts: &TrainOptions,
    device: Device,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<TrainOutcome, TrainError> {
    let started = Instant::now();
    INTEROP.call_once(|| tch::set_num_interop_threads(1));
    tch::set_num_threads(opts.threads.max(1) as i32);
    if let Device::Cuda(_) = device {
        tch::Cuda::cudnn_set_benchmark(false);
    }
    let mut s = Session::new(cfg, device)?;
    let resumed_from = match checkpoint::load(job_dir, device)? {
        Some(ck) => {
            s.restore(&ck)?;
            Some(ck.iteration)
        }
        None => None,
    };
    let names = s.loss_names();
    let header = format!("iteration,lr,{},images_per_sec", names.join(","));
    let curves = Curves::open(job_dir, &header, resumed_from)?;
    let t = &cfg.train;
    let batch = t.batch_size as usize;
    let start = resumed_from.unwrap_or(0).min(t.iterations);
    let mut saved_at = resumed_from;
    let mut sums: Option<Vec<Tensor>> = None;
    let (mut window, mut window_start) = (0u64, Instant::now());
    for it in start..t.iterations {
        if opts.stop.load(Ordering::SeqCst) {
            if saved_at != Some(it) {
                checkpoint::save(job_dir, it, &s.state())?;
            }
            return Err(TrainError::Interrupted { iteration: it });
        }
        let lr = lr_at(t, it);
        let losses = s.step(it, lr);
        sums = Some(match sums {
            None => losses,
            Some(acc) => acc.iter().zip(&losses).map(|(a, l)| a + l).collect(),
        });
        window += 1;
        let done = it + 1;
        let (log, save) = (
            done % t.log_every == 0 || done == t.iterations,
            done % t.checkpoint_every == 0 || done == t.iterations,
        );
        if !(log || save) {
            continue;
        }
        let acc = sums.as_ref().expect("at least one step in the window");
        let means: Vec<f64> = acc
            .iter()
            .map(|a| a.to_kind(Kind::Double).double_value(&[]) / window as f64)
            .collect();
        finite_or_diverged(&names, &means, done)?;
        if log {
            let secs = window_start.elapsed().as_secs_f64();
            let ips = (window as usize * batch) as f64 / secs.max(1e-9);
            let mut row = vec![lr];
            row.extend(&means);
            row.push(ips);
            curves.append(done, &row)?;
            on_progress(&Progress {
                iteration: done,
                iterations: t.iterations,
                lr,
                losses: names
                    .iter()
                    .zip(&means)
                    .map(|(n, v)| (n.to_string(), *v))
                    .collect(),
                weights: s.weights(),
                images_per_sec: ips,
            });
            (sums, window, window_start) = (None, 0, Instant::now());
        }
        if save {
            checkpoint::save(job_dir, done, &s.state())?;
            saved_at = Some(done);
        }
    }
    if opts.stop.load(Ordering::SeqCst) {
        if saved_at != Some(t.iterations) {
            checkpoint::save(job_dir, t.iterations, &s.state())?;
        }
        return Err(TrainError::Interrupted {
            iteration: t.iterations,
        });
    }
    let (dets, gt) = s.evaluate();
    checkpoint::write_atomic(
        &job_dir.join("detections.json"),
        detections_json(&dets).as_bytes(),
    )?;
    let metrics = crate::eval::coco::evaluate(&gt, &dets)
        .map_err(|e| TrainError::Eval(e.to_string()))?
        .summary;
    Ok(TrainOutcome {
        metrics,
        iterations: t.iterations,
        seconds: started.elapsed().as_secs_f64(),
        parameters: s.opt.parameter_count(),
        device: device_name(device),
        threads: opts.threads,
        resumed_from,
    })
}
