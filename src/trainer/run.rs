//! The training session: model, data, losses and optimizer of one job, the loop, and evaluation.

use super::alwa::Weighting;
use super::checkpoint::{self, Curves};
use super::data::{to_tensor, Split};
use super::datasets::{Dataset, Loader};
use super::layout::Layout;
use super::model::Detector;
use super::objective::Objective;
use super::optim::{lr_at, Sgd};
use super::perturb::perturb;
use super::postprocess::detect;
use super::synth::{Image, Object};
use super::{interim, DeviceChoice, Progress, TrainError, TrainOptions, TrainOutcome};
use crate::eval::{CocoSummary, Detection, GtSet};
use crate::spec::config::{JobConfig, Perturbation};
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Once};
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// `curves.csv`'s column of the global gradient norm before clipping, at the logged iteration.
pub const GRAD_NORM_COLUMN: &str = "grad_norm";
/// `curves.csv`'s column saying whether the clip scaled that iteration's gradients (1) or not
/// (0; always 0 without `train.grad_clip`).
pub const CLIPPED_COLUMN: &str = "clipped";

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
    pub data: Arc<Dataset>,
    /// Prepares the training batches ahead, in background threads.
    loader: Loader,
    pub opt: Sgd,
    /// Prepares the val images (as many threads as libtorch's intra-op pool).
    pool: rayon::ThreadPool,
    pub objective: Objective,
    /// Task weights in force (fixed or ALWA) and their state.
    pub weighting: Weighting,
}

impl Session {
    /// Builds everything; each parameter's initial value is a function of `train.seed` and its
    /// name alone.
    pub fn new(cfg: &JobConfig, device: Device) -> Result<Session, TrainError> {
        Self::with_data(cfg, device, Arc::new(Dataset::open(&cfg.dataset)?))
    }

    /// [`Session::new`] on data already opened (`sweep predict --job`: other val images).
    pub fn with_data(
        cfg: &JobConfig,
        device: Device,
        data: Arc<Dataset>,
    ) -> Result<Session, TrainError> {
        let layout = Layout::new(cfg);
        let objective = Objective::new(cfg);
        let vs = VarStore::new(device);
        let model = super::model::build_seeded(cfg.train.seed, || {
            Detector::with_grid(
                &vs.root(),
                &cfg.model,
                data.num_classes() as i64,
                layout.per_cell() as i64,
                objective.grid(),
            )
        });
        let t = &cfg.train;
        let threads = tch::get_num_threads().max(1) as usize;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| TrainError::Torch(format!("cannot start {threads} data threads: {e}")))?;
        Ok(Session {
            pool,
            opt: Sgd::new(&vs, t.momentum, t.weight_decay, t.grad_clip),
            loader: Loader::new(data.clone(), t.seed, t.batch_size as usize, threads)?,
            priors: layout.priors_tensor(device),
            weighting: Weighting::new(&cfg.loss.weights),
            objective,
            cfg: cfg.clone(),
            device,
            vs,
            model,
            layout,
            data,
        })
    }

    /// Names of the values [`Session::step`] returns, in order: the weighted total, then the
    /// unweighted terms.
    pub fn loss_names(&self) -> Vec<&'static str> {
        let mut v = vec!["total", "cls", "reg"];
        if self.layout.centerness() {
            v.push("ctr");
        }
        v.extend(self.objective.extra_names());
        v
    }

    /// The task weights in force.
    pub fn weights(&self) -> Vec<(String, f64)> {
        let mut v = vec![
            ("cls".to_string(), self.weighting.cls),
            ("reg".to_string(), self.weighting.reg),
        ];
        if self.layout.centerness() {
            v.push(("ctr".to_string(), 1.0));
        }
        v
    }

    /// The loss terms of a batch (see [`Objective::terms`]).
    pub fn terms(&self, images: &[Image]) -> super::objective::Terms {
        let objects: Vec<&[Object]> = images.iter().map(|i| i.objects.as_slice()).collect();
        let ignore: Vec<&[[f32; 4]]> = images.iter().map(|i| i.ignore.as_slice()).collect();
        let t = self
            .layout
            .assign_with_ignore(&objects, &ignore)
            .to_device(&self.priors, self.device);
        let x = to_tensor(images, self.device);
        self.objective.terms(&self.model, &self.layout, &x, &t)
    }

    /// [`Session::try_step`] on data that cannot fail to load (the synthetic set; tests).
    pub fn step(&mut self, it: u64, lr: f64) -> Vec<Tensor> {
        self.try_step(it, lr)
            .expect("the batch's images load (use try_step for data from disk)")
    }

    /// One training iteration (0-based `it`); returns the detached logged losses, in the order
    /// of [`Session::loss_names`]. Fails only when the batch's images cannot be read.
    pub fn try_step(&mut self, it: u64, lr: f64) -> Result<Vec<Tensor>, TrainError> {
        let images = self.loader.batch(it)?;
        let terms = self.terms(&images);
        let (wc, wr) = self.weighting.observe(it, &terms.cls, &terms.reg);
        let mut total = &terms.cls_backprop * wc + &terms.reg * wr;
        let mut logged_total = &terms.cls * wc + terms.reg.detach() * wr;
        if let Some(ctr) = &terms.ctr {
            total += ctr;
            logged_total += ctr.detach();
        }
        self.opt.zero_grad();
        total.backward();
        self.opt.step(lr);
        let extras = terms.logged_extras();
        let mut out = vec![logged_total, terms.cls, terms.reg.detach()];
        out.extend(terms.ctr.iter().map(|c| c.detach()));
        out.extend(extras);
        Ok(out)
    }

    /// Model variables, momentum buffers and the task weights' state, as saved in a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        checkpoint::training_state(&self.vs, &self.opt, &self.weighting)
    }

    pub fn restore(&mut self, ck: &checkpoint::Loaded) -> Result<(), TrainError> {
        checkpoint::restore_training(
            ck,
            &self.vs,
            &mut self.opt,
            &mut self.weighting,
            self.device,
        )
    }

    /// [`Session::try_evaluate`] on data that cannot fail to load (the synthetic set; tests).
    pub fn evaluate(&self) -> (Vec<Detection>, GtSet) {
        self.try_evaluate()
            .expect("the val images load (use try_evaluate for data from disk)")
    }

    /// Detections on the val split (COCO records, in the original images' coordinates) and its
    /// ground truth. Fails only when a val image cannot be read.
    pub fn try_evaluate(&self) -> Result<(Vec<Detection>, GtSet), TrainError> {
        self.try_evaluate_with(None)
    }

    /// [`Session::try_evaluate_perturbed`] on data that cannot fail to load (tests).
    pub fn evaluate_perturbed(&self, kind: Perturbation) -> (Vec<Detection>, GtSet) {
        self.try_evaluate_perturbed(kind)
            .expect("the val images load (use try_evaluate_perturbed for data from disk)")
    }

    /// As [`Session::try_evaluate`], on the val images perturbed by `kind` (seeded by the job
    /// seed and each image's index; see [`super::perturb`]). The ground truth is the same.
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
        let size = self.data.image_size() as f32;
        let mut dets = Vec::new();
        for first in (0..n).step_by(EVAL_BATCH) {
            let data = &self.data;
            let images = self.pool.install(|| {
                (first..(first + EVAL_BATCH).min(n))
                    .into_par_iter()
                    .map(|i| data.try_image(Split::Val, i))
                    .collect::<Result<Vec<Image>, _>>()
            })?;
            let x = match perturbation {
                None => to_tensor(&images, self.device),
                Some(kind) => {
                    let x = to_tensor(&images, Device::Cpu);
                    let perturbed: Vec<Tensor> = images
                        .iter()
                        .enumerate()
                        .map(|(j, img)| {
                            let boxes: Vec<[f32; 4]> = img.objects.iter().map(|o| o.bbox).collect();
                            perturb(
                                kind,
                                &x.get(j as i64),
                                &boxes,
                                self.cfg.train.seed,
                                first + j,
                            )
                        })
                        .collect();
                    Tensor::stack(&perturbed, 0).to_device(self.device)
                }
            };
            let out = self.model.forward(&x);
            let score = self.objective.score();
            for (j, d) in detect(&out, &self.layout, &self.cfg.eval, size, score)
                .iter()
                .enumerate()
            {
                dets.extend(self.data.records(first + j, d));
            }
        }
        Ok((dets, self.data.val_ground_truth()))
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

/// Detections as the COCO results list `detections.json` holds.
pub fn detections_json(dets: &[Detection]) -> String {
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
    let mut s = super::job::open(cfg, device)?;
    // The evaluations of `eval.at` taken so far: those of the checkpoint the run resumes from.
    let mut progress = Vec::new();
    let resume = checkpoint::resume(job_dir, device, &mut |ck| {
        s.restore(ck)?;
        progress = interim::restore(ck)?;
        Ok(())
    })?;
    if resume.iteration.is_none() {
        progress.clear();
        if resume.tainted {
            // A checkpoint was partly copied in before it failed: start from a clean model.
            s = super::job::open(cfg, device)?;
        }
    }
    if let Some(note) = resume.note {
        match &opts.notes {
            Some(tx) => {
                let _ = tx.send(note);
            }
            None => eprintln!("{note}"),
        }
    }
    let resumed_from = resume.iteration;
    let names = s.loss_names();
    let header = format!(
        "iteration,lr,{},w_cls,w_reg,{GRAD_NORM_COLUMN},{CLIPPED_COLUMN},images_per_sec",
        names.join(",")
    );
    let curves = Curves::open(job_dir, &header, resumed_from)?;
    let t = &cfg.train;
    let batch = t.batch_size as usize;
    let start = resumed_from.unwrap_or(0).min(t.iterations);
    let mut saved_at = resumed_from;
    let interim_at = interim::iterations(cfg);
    let state = |s: &dyn super::job::TrainJob, progress: &[(u64, CocoSummary)]| {
        let mut v = s.state();
        v.extend(interim::state(progress));
        v
    };
    let mut sums: Option<Vec<Tensor>> = None;
    let (mut window, mut window_start) = (0u64, Instant::now());
    for it in start..t.iterations {
        if opts.stop.load(Ordering::SeqCst) {
            if saved_at != Some(it) {
                checkpoint::save(job_dir, it, &state(&*s, &progress))?;
            }
            return Err(TrainError::Interrupted { iteration: it });
        }
        let lr = lr_at(t, it);
        let losses = s.step(it, lr)?;
        sums = Some(match sums {
            None => losses,
            Some(acc) => acc.iter().zip(&losses).map(|(a, l)| a + l).collect(),
        });
        window += 1;
        let done = it + 1;
        // An evaluation of `eval.at` is saved with a checkpoint of its iteration, so that a
        // resumed run has it and does not take it again.
        let interim = interim_at.contains(&done);
        let (log, save) = (
            done % t.log_every == 0 || done == t.iterations,
            done % t.checkpoint_every == 0 || done == t.iterations || interim,
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
            row.extend([s.weighting().cls, s.weighting().reg]);
            let (norm, clipped) = s.optimizer().last_clip().unwrap_or((f64::NAN, false));
            row.extend([norm, if clipped { 1.0 } else { 0.0 }]);
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
        if interim {
            let t0 = Instant::now();
            progress.push((done, evaluate_interim(&*s, done)?));
            // Training speed leaves the evaluation out.
            window_start += t0.elapsed();
        }
        if save {
            checkpoint::save(job_dir, done, &state(&*s, &progress))?;
            saved_at = Some(done);
        }
    }
    if opts.stop.load(Ordering::SeqCst) {
        if saved_at != Some(t.iterations) {
            checkpoint::save(job_dir, t.iterations, &state(&*s, &progress))?;
        }
        return Err(TrainError::Interrupted {
            iteration: t.iterations,
        });
    }
    let (dets, gt) = s.evaluate()?;
    checkpoint::write_atomic(
        &job_dir.join("detections.json"),
        detections_json(&dets).as_bytes(),
    )?;
    let score = |dets: &[Detection]| {
        crate::eval::coco::evaluate(&gt, dets)
            .map(|r| r.summary)
            .map_err(|e| TrainError::Eval(e.to_string()))
    };
    let metrics = score(&dets)?;
    progress.push((t.iterations, metrics));
    // Val-set noise: AP and AP50 over resamples of the val images, the same resamples for every
    // job (a fixed seed), so two jobs' replicates pair up.
    let boot = crate::eval::coco::image_bootstrap(
        &gt,
        &dets,
        crate::eval::coco::VAL_BOOTSTRAP_RESAMPLES,
        crate::eval::coco::VAL_BOOTSTRAP_SEED,
    )
    .map_err(|e| TrainError::Eval(e.to_string()))?;
    checkpoint::write_atomic(
        &job_dir.join(crate::journal::VAL_BOOTSTRAP_FILE),
        &serde_json::to_vec(&boot).expect("numbers serialize"),
    )?;
    let mut perturbed = Vec::new();
    for &kind in &cfg.eval.perturbations {
        let t0 = Instant::now();
        let (dets, _) = s.evaluate_perturbed(kind)?;
        let m = score(&dets)?;
        eprintln!(
            "robustness: {} = {:.4} (AP50 {:.4} unperturbed), {:.2} s",
            kind.metric_key("AP50"),
            m.ap50,
            metrics.ap50,
            t0.elapsed().as_secs_f64()
        );
        perturbed.push((kind, m));
    }
    Ok(TrainOutcome {
        clipped_iterations: s.optimizer().clipped_iterations(),
        metrics,
        perturbed,
        iterations: t.iterations,
        seconds: started.elapsed().as_secs_f64(),
        parameters: s.parameter_count(),
        device: device_name(device),
        threads: opts.threads,
        resumed_from,
        progress,
    })
}

/// One evaluation of `eval.at` during training: the val set's COCO metrics now, with a line
/// on stderr (kept in the job's `stderr.log`) saying what it found and what it cost.
fn evaluate_interim(
    s: &dyn super::job::TrainJob,
    iteration: u64,
) -> Result<CocoSummary, TrainError> {
    let t0 = Instant::now();
    let (dets, gt) = s.evaluate()?;
    let m = crate::eval::coco::evaluate(&gt, &dets)
        .map(|r| r.summary)
        .map_err(|e| TrainError::Eval(e.to_string()))?;
    eprintln!(
        "evaluation at iteration {iteration}: AP {:.4}, AP50 {:.4}, {:.2} s",
        m.ap,
        m.ap50,
        t0.elapsed().as_secs_f64()
    );
    Ok(m)
}
