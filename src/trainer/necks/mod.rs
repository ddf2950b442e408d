//! Necks of the paper-scale detectors (torchvision.ops.feature_pyramid_network).

pub mod fpn;

pub use fpn::{ExtraBlock, Fpn, FpnSpec};
