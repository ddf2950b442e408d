//! Backbones of the paper-scale detectors, laid out as torchvision's (`torchvision.models`).

pub mod resnet;
pub mod vgg;

pub use resnet::ResNet;
pub use vgg::SsdVgg;

use crate::trainer::necks::{ExtraBlock, Fpn, FpnSpec};
use tch::nn;

/// torchvision's `resnet_fpn_backbone` as RetinaNet and FCOS use it: the ResNet body under
/// `backbone.body`, and under `backbone.fpn` the FPN on C3–C5 with P6/P7 from P5.
/// Its forward: `fpn.forward(&body.forward(x)[1..])`.
pub fn resnet_fpn(
    root: &nn::Path,
    depth: u32,
    trainable_layers: u32,
    fpn_channels: i64,
) -> (ResNet, Fpn) {
    resnet_fpn_with(
        root,
        depth,
        trainable_layers,
        fpn_channels,
        ExtraBlock::P6P7,
    )
}

/// `_resnet_fpn_extractor` as `fasterrcnn_resnet50_fpn` calls it (`returned_layers=[1, 2, 3, 4]`,
/// `LastLevelMaxPool`): the FPN on C2–C5 and a max-pooled P6 (torchvision's `pool` level), five
/// levels of strides 4 … 64. Its forward: `fpn.forward(&body.forward(x))`.
pub fn resnet_fpn_maxpool(
    root: &nn::Path,
    depth: u32,
    trainable_layers: u32,
    fpn_channels: i64,
) -> (ResNet, Fpn) {
    resnet_fpn_with(
        root,
        depth,
        trainable_layers,
        fpn_channels,
        ExtraBlock::MaxPool,
    )
}

fn resnet_fpn_with(
    root: &nn::Path,
    depth: u32,
    trainable_layers: u32,
    fpn_channels: i64,
    extra: ExtraBlock,
) -> (ResNet, Fpn) {
    let body = ResNet::new(&(root / "backbone" / "body"), depth, trainable_layers);
    // The P6/P7 detectors start the pyramid at C3, the max-pool one at C2.
    let first = match extra {
        ExtraBlock::P6P7 => 1,
        ExtraBlock::MaxPool => 0,
    };
    let fpn = Fpn::new(
        &(root / "backbone" / "fpn"),
        &FpnSpec {
            in_channels: body.out_channels[first..].to_vec(),
            out_channels: fpn_channels,
            extra: Some(extra),
        },
    );
    (body, fpn)
}
