//! Heads of the paper-scale detectors, laid out as torchvision's detection heads.

pub mod box_head;
pub mod fcos;
pub mod retinanet;
pub mod rpn;
