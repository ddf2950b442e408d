//! Paper-scale detectors built as torchvision builds them, and the parts they share:
//! anchors ([`anchors`], SSD's [`default_boxes`]), the box coder ([`box_coder`]) and the IoU
//! matcher ([`matcher`]).

pub mod anchors;
pub mod box_coder;
pub mod default_boxes;
pub mod fcos;
#[cfg(test)]
mod fcos_golden;
pub mod fcos_model;
#[cfg(test)]
mod fcos_tests;
pub mod matcher;
pub mod retinanet;
pub mod ssd;
#[cfg(test)]
mod ssd_golden;
pub mod ssd_loss;
