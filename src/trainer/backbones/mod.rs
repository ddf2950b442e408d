//! Backbones of the paper-scale detectors, laid out as torchvision's (`torchvision.models`).

pub mod resnet;
pub mod vgg;

pub use resnet::ResNet;
pub use vgg::SsdVgg;

use crate::trainer::necks::{Fpn, FpnSpec};
use tch::nn;

/// torchvision's `resnet_fpn_backbone` as RetinaNet and FCOS use it: the ResNet body under
/// `backbone.body`, and under `backbone.fpn` the FPN on C3–C5 with P6/P7 from P5.
pub fn resnet_fpn(
    root: &nn::Path,
    depth: u32,
    trainable_layers: u32,
    fpn_channels: i64,
) -> (ResNet, Fpn) {
    let body = ResNet::new(&(root / "backbone" / "body"), depth, trainable_layers);
    let fpn = Fpn::new(
        &(root / "backbone" / "fpn"),
        &FpnSpec {
            in_channels: body.out_channels[1..].to_vec(),
            out_channels: fpn_channels,
            p6p7: true,
        },
    );
    (body, fpn)
}
