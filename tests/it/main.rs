//! The one integration-test binary: libtorch is linked once for all of these.
mod browser;
mod datasets;
mod eval_coco;
mod expand_plan;
mod golden;
mod report_html;
mod resume;
mod schedule;
mod shipped;
mod slurm;
mod spec_errors;
mod sweep_e2e;
mod util;
