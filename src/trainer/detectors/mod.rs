//! Paper-scale detectors built as torchvision builds them, and the parts they share:
//! anchors ([`anchors`]), the box coder ([`box_coder`]) and the IoU matcher ([`matcher`]).

pub mod anchors;
pub mod box_coder;
pub mod fcos;
#[cfg(test)]
mod fcos_golden;
pub mod fcos_model;
#[cfg(test)]
mod fcos_tests;
pub mod matcher;
pub mod retinanet;
pub mod roi_heads;
pub mod roi_sampling;
