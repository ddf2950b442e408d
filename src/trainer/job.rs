//! What the training loop ([`super::run::run`]) needs of a session, so that the tiny detectors'
//! [`Session`] and the torchvision detectors' [`TvSession`] share one loop, checkpointing and
//! evaluation.

use super::alwa::Weighting;
use super::checkpoint::Loaded;
use super::optim::Sgd;
use super::run::Session;
use super::tv_session::TvSession;
use super::TrainError;
use crate::eval::{Detection, GtSet};
use crate::spec::config::{DetectorSpec, JobConfig, Perturbation};
use tch::{Device, Tensor};

pub trait TrainJob {
    /// Names of the values [`TrainJob::step`] returns: the weighted total, then the terms.
    fn loss_names(&self) -> Vec<&'static str>;
    /// The task weights in force.
    fn weights(&self) -> Vec<(String, f64)>;
    fn weighting(&self) -> &Weighting;
    /// The optimizer (its gradient-clipping log).
    fn optimizer(&self) -> &Sgd;
    fn step(&mut self, it: u64, lr: f64) -> Result<Vec<Tensor>, TrainError>;
    fn state(&self) -> Vec<(String, Tensor)>;
    fn restore(&mut self, ck: &Loaded) -> Result<(), TrainError>;
    fn evaluate(&self) -> Result<(Vec<Detection>, GtSet), TrainError>;
    fn evaluate_perturbed(&self, kind: Perturbation)
        -> Result<(Vec<Detection>, GtSet), TrainError>;
    fn parameter_count(&self) -> i64;
}

/// The session of a job's detector.
pub fn open(cfg: &JobConfig, device: Device) -> Result<Box<dyn TrainJob>, TrainError> {
    let data = std::sync::Arc::new(super::datasets::Dataset::open(&cfg.dataset)?);
    open_with(cfg, device, data)
}

/// [`open`] on data already opened.
pub fn open_with(
    cfg: &JobConfig,
    device: Device,
    data: std::sync::Arc<super::datasets::Dataset>,
) -> Result<Box<dyn TrainJob>, TrainError> {
    Ok(match cfg.model.detector {
        DetectorSpec::TorchvisionRetinanet(_)
        | DetectorSpec::TorchvisionFcos(_)
        | DetectorSpec::TorchvisionSsd(_)
        | DetectorSpec::TorchvisionFasterRcnn(_) => {
            Box::new(TvSession::with_data(cfg, device, data)?)
        }
        _ => Box::new(Session::with_data(cfg, device, data)?),
    })
}

impl TrainJob for Session {
    fn loss_names(&self) -> Vec<&'static str> {
        Session::loss_names(self)
    }
    fn weights(&self) -> Vec<(String, f64)> {
        Session::weights(self)
    }
    fn weighting(&self) -> &Weighting {
        &self.weighting
    }
    fn optimizer(&self) -> &Sgd {
        &self.opt
    }
    fn step(&mut self, it: u64, lr: f64) -> Result<Vec<Tensor>, TrainError> {
        self.try_step(it, lr)
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        Session::state(self)
    }
    fn restore(&mut self, ck: &Loaded) -> Result<(), TrainError> {
        Session::restore(self, ck)
    }
    fn evaluate(&self) -> Result<(Vec<Detection>, GtSet), TrainError> {
        self.try_evaluate()
    }
    fn evaluate_perturbed(
        &self,
        kind: Perturbation,
    ) -> Result<(Vec<Detection>, GtSet), TrainError> {
        self.try_evaluate_perturbed(kind)
    }
    fn parameter_count(&self) -> i64 {
        self.opt.parameter_count()
    }
}

impl TrainJob for TvSession {
    fn loss_names(&self) -> Vec<&'static str> {
        TvSession::loss_names(self)
    }
    fn weights(&self) -> Vec<(String, f64)> {
        let mut v = vec![
            ("cls".to_string(), self.weighting.cls),
            ("reg".to_string(), self.weighting.reg),
        ];
        if let super::tv_session::TvModel::Faster(f) = &self.model {
            v.push(("rpn_cls".to_string(), f.rpn_weighting.cls));
            v.push(("rpn_reg".to_string(), f.rpn_weighting.reg));
        }
        v
    }
    fn weighting(&self) -> &Weighting {
        &self.weighting
    }
    fn optimizer(&self) -> &Sgd {
        &self.opt
    }
    fn step(&mut self, it: u64, lr: f64) -> Result<Vec<Tensor>, TrainError> {
        self.try_step(it, lr)
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        TvSession::state(self)
    }
    fn restore(&mut self, ck: &Loaded) -> Result<(), TrainError> {
        TvSession::restore(self, ck)
    }
    fn evaluate(&self) -> Result<(Vec<Detection>, GtSet), TrainError> {
        self.try_evaluate()
    }
    fn evaluate_perturbed(
        &self,
        kind: Perturbation,
    ) -> Result<(Vec<Detection>, GtSet), TrainError> {
        self.try_evaluate_perturbed(kind)
    }
    fn parameter_count(&self) -> i64 {
        TvSession::parameter_count(self)
    }
}
