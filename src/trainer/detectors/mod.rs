//! Paper-scale detectors built as torchvision builds them, and the parts they share:
//! anchors ([`anchors`]), the box coder ([`box_coder`]) and the IoU matcher ([`matcher`]).

pub mod anchors;
pub mod box_coder;
pub mod matcher;
pub mod retinanet;
