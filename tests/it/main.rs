//! The one integration-test binary: libtorch is linked once for all of these.
mod datasets;
mod eval_coco;
mod expand_plan;
mod golden;
mod golden_detectors;
mod resume;
mod schedule;
mod shipped;
mod slurm;
mod spec_errors;
mod sweep_e2e;
mod torchvision_spec;
mod util;
