//! Paper-scale detectors built as torchvision builds them, and the parts they share:
//! anchors ([`anchors`], SSD's [`default_boxes`]), the box coder ([`box_coder`]), the IoU
//! matcher ([`matcher`]) and Faster R-CNN's balanced sampler ([`sampler`]).

pub mod anchors;
pub mod box_coder;
pub mod default_boxes;
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
pub mod ssd;
#[cfg(test)]
mod ssd_golden;
pub mod ssd_loss;

use tch::Tensor;

/// The two losses of a detector (or of one stage of a two-stage detector): what to
/// back-propagate and what to log for the classification (they differ for the ranking
/// losses), and the regression loss; unweighted.
#[derive(Debug)]
pub struct Losses {
    pub cls_backprop: Tensor,
    pub cls: Tensor,
    pub reg: Tensor,
}
