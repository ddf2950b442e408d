//! The one integration-test binary: libtorch is linked once for all of these.
mod damage;
mod datasets;
mod eval_coco;
mod expand_plan;
mod golden;
mod paths;
mod resume;
mod schedule;
mod shipped;
mod slurm;
mod spec_errors;
mod storage;
mod sweep_e2e;
mod util;
