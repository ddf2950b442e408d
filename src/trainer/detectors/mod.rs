//! Paper-scale detectors built as torchvision builds them, and the parts they share:
//! anchors ([`anchors`]), the box coder ([`box_coder`]), the IoU matcher ([`matcher`]) and
//! Faster R-CNN's balanced sampler ([`sampler`]).

pub mod anchors;
pub mod box_coder;
pub mod faster_rcnn;
#[cfg(test)]
mod faster_rcnn_golden;
pub mod fcos;
#[cfg(test)]
mod fcos_golden;
pub mod fcos_model;
#[cfg(test)]
mod fcos_tests;
#[cfg(test)]
mod loss_matrix;
pub mod matcher;
pub mod retinanet;
#[cfg(test)]
mod retinanet_tests;
pub mod roi_heads;
pub mod rpn;
pub mod sampler;
