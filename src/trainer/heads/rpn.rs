//! torchvision's `RPNHead` (v1, `conv_depth=1`): a 3×3 convolution + ReLU shared by all levels
//! (`Conv2dNormActivation` without a norm, so with a bias), then two 1×1 convolutions: one
//! objectness logit per anchor and four deltas per anchor.
//!
//! Names (under the caller's path, torchvision's `rpn.head`): `conv.0.0.{weight,bias}`,
//! `cls_logits.*`, `bbox_pred.*`. Every weight starts N(0, 0.01), every bias 0.
//!
//! The outputs stay in torchvision's convolution layout, `[B, A, H, W]` and `[B, 4·A, H, W]`;
//! [`flatten_level`] turns them into its per-anchor order (location-major, then anchor).

use crate::trainer::layers::{Conv2d, ConvInit, ConvShape};
use tch::nn;
use tch::Tensor;

/// The raw outputs of one level.
#[derive(Debug)]
pub struct RpnLevel {
    /// `[B, A, H, W]`.
    pub objectness: Tensor,
    /// `[B, 4·A, H, W]`.
    pub deltas: Tensor,
}

/// torchvision's `RPNHead`.
#[derive(Debug)]
pub struct RpnHead {
    conv: Conv2d,
    cls_logits: Conv2d,
    bbox_pred: Conv2d,
}

impl RpnHead {
    /// `anchors`: anchors per location (3 for Faster R-CNN's three aspect ratios).
    pub fn new(p: &nn::Path, in_channels: i64, anchors: i64) -> RpnHead {
        let conv =
            |p: nn::Path, s: ConvShape| Conv2d::new(&p, s, ConvInit::Normal(0.01), Some(0.0), true);
        let c = in_channels;
        RpnHead {
            conv: conv(p / "conv" / "0" / "0", ConvShape::same(c, c, 3, 1)),
            cls_logits: conv(p / "cls_logits", ConvShape::same(c, anchors, 1, 1)),
            bbox_pred: conv(p / "bbox_pred", ConvShape::same(c, 4 * anchors, 1, 1)),
        }
    }

    /// The outputs of every level, finest first.
    pub fn forward(&self, levels: &[Tensor]) -> Vec<RpnLevel> {
        levels
            .iter()
            .map(|x| {
                let t = self.conv.forward(x).relu();
                RpnLevel {
                    objectness: self.cls_logits.forward(&t),
                    deltas: self.bbox_pred.forward(&t),
                }
            })
            .collect()
    }
}

/// torchvision's `permute_and_flatten`: `[B, A·C, H, W]` → `[B, H·W·A, C]`.
pub fn flatten_level(x: &Tensor, c: i64) -> Tensor {
    let s = x.size();
    let (b, h, w) = (s[0], s[2], s[3]);
    x.view([b, -1, c, h, w])
        .permute([0, 3, 4, 1, 2])
        .reshape([b, -1, c])
}
