//! torchvision's `FeaturePyramidNetwork` with its two extra blocks, as `_resnet_fpn_extractor`
//! wires them:
//! - `LastLevelP6P7(256, 256)` for `retinanet_resnet50_fpn` and `fcos_resnet50_fpn`
//!   (`returned_layers=[2, 3, 4]`): laterals on C3–C5, P6 a 3×3 stride-2 convolution of P5 (P5
//!   because in == out channels), P7 one of `relu(P6)`;
//! - `LastLevelMaxPool` for `fasterrcnn_resnet50_fpn` (`returned_layers=[1, 2, 3, 4]`): laterals
//!   on C2–C5 and a parameter-free `pool` level, `max_pool2d(P5, kernel 1, stride 2)`.
//!
//! Names (under the caller's path, torchvision's `backbone.fpn`): `inner_blocks.{i}.0`,
//! `layer_blocks.{i}.0`, `extra_blocks.p6`, `extra_blocks.p7`, each with `weight` and `bias`.
//! Every convolution starts as `kaiming_uniform_(a=1)` with a zero bias.

use crate::trainer::layers::{Conv2d, ConvInit, ConvShape};
use tch::nn;
use tch::Tensor;

/// The levels torchvision's extra FPN block adds after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraBlock {
    /// `LastLevelP6P7`: two convolutions (RetinaNet, FCOS).
    P6P7,
    /// `LastLevelMaxPool`: one parameter-free level (Faster R-CNN's `pool`).
    MaxPool,
}

/// What the FPN is built from.
#[derive(Debug, Clone)]
pub struct FpnSpec {
    /// Channels of the backbone levels it takes (C3, C4, C5 for the one-stage detectors,
    /// C2–C5 for Faster R-CNN).
    pub in_channels: Vec<i64>,
    pub out_channels: i64,
    pub extra: Option<ExtraBlock>,
}

#[derive(Debug)]
enum Extra {
    P6P7 { p6: Conv2d, p7: Conv2d },
    MaxPool,
}

/// FPN levels of the backbone's (+ the extra block's).
#[derive(Debug)]
pub struct Fpn {
    inner: Vec<Conv2d>,
    layer: Vec<Conv2d>,
    extra: Option<Extra>,
}

impl Fpn {
    pub fn new(p: &nn::Path, spec: &FpnSpec) -> Fpn {
        let c = spec.out_channels;
        let conv = |p: nn::Path, s: ConvShape| {
            Conv2d::new(&p, s, ConvInit::KaimingUniformA1, Some(0.0), true)
        };
        let inner = spec
            .in_channels
            .iter()
            .enumerate()
            .map(|(i, &ci)| {
                conv(
                    p / "inner_blocks" / i.to_string() / "0",
                    ConvShape::same(ci, c, 1, 1),
                )
            })
            .collect();
        let layer = (0..spec.in_channels.len())
            .map(|i| {
                conv(
                    p / "layer_blocks" / i.to_string() / "0",
                    ConvShape::same(c, c, 3, 1),
                )
            })
            .collect();
        // torchvision's LastLevelP6P7(256, 256): in == out channels, so P6 reads P5.
        let extra = spec.extra.map(|e| match e {
            ExtraBlock::P6P7 => Extra::P6P7 {
                p6: conv(p / "extra_blocks" / "p6", ConvShape::same(c, c, 3, 2)),
                p7: conv(p / "extra_blocks" / "p7", ConvShape::same(c, c, 3, 2)),
            },
            ExtraBlock::MaxPool => Extra::MaxPool,
        });
        Fpn {
            inner,
            layer,
            extra,
        }
    }

    /// The pyramid of the backbone levels `feats` (C3–C5, or C2–C5), finest first, then the
    /// extra block's levels.
    pub fn forward(&self, feats: &[Tensor]) -> Vec<Tensor> {
        let n = feats.len();
        let mut last = self.inner[n - 1].forward(&feats[n - 1]);
        let mut results = vec![self.layer[n - 1].forward(&last)];
        for i in (0..n - 1).rev() {
            let lateral = self.inner[i].forward(&feats[i]);
            let (h, w) = (lateral.size()[2], lateral.size()[3]);
            last = lateral + last.upsample_nearest2d([h, w], None, None);
            results.insert(0, self.layer[i].forward(&last));
        }
        match &self.extra {
            Some(Extra::P6P7 { p6, p7 }) => {
                let p6 = p6.forward(&results[n - 1]);
                let p7 = p7.forward(&p6.relu());
                results.push(p6);
                results.push(p7);
            }
            Some(Extra::MaxPool) => {
                let pool = results[n - 1].max_pool2d([1, 1], [2, 2], [0, 0], [1, 1], false);
                results.push(pool);
            }
            None => {}
        }
        results
    }
}
