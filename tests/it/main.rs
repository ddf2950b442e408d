//! The one integration-test binary: libtorch is linked once for all of these.
mod datasets;
mod eval_coco;
mod golden;
mod expand_plan;
mod resume;
mod schedule;
mod slurm;
mod spec_errors;
mod shipped;
mod sweep_e2e;
mod util;
