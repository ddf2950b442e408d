//! The one integration-test binary. It does not link libtorch: the trainer runs in the
//! `sweep-worker` binary that the tests start through `sweep`.
mod browser;
mod compat;
mod convergence;
mod damage;
mod datasets;
mod eval_coco;
mod expand_plan;
mod golden;
mod gpu_peak;
mod paths;
mod predict;
mod predict_job;
mod report_html;
mod resume;
mod schedule;
mod shipped;
mod slurm;
mod spec_errors;
mod storage;
mod sweep_e2e;
mod torchvision_spec;
mod until_resolved;
mod util;

#[allow(dead_code)]
#[path = "../../src/trainer/datasets/fixture.rs"]
mod fixture;
/// The trainer's dataset writers (pure Rust, no tch), compiled in to write test fixtures.
#[allow(dead_code)]
#[path = "../../src/trainer/synth.rs"]
mod synth;
/// The paths those files use inside the trainer.
mod trainer {
    pub(crate) use super::synth;
    pub mod datasets {
        pub(crate) use crate::fixture;
    }
}
use sweep::spec;
