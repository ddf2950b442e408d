//! Heads of the paper-scale detectors, laid out as torchvision's detection heads.

pub mod fcos;
pub mod retinanet;
pub mod ssd;
