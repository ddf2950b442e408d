//! torchvision's `RetinaNetHead` (v1: no normalisation in the towers): a classification and a
//! regression subnet shared by all levels, each four 3×3 conv + ReLU then a 3×3 output conv.
//!
//! Names (under `head`): `classification_head.conv.{0..3}.0.{weight,bias}`,
//! `classification_head.cls_logits.*`, `regression_head.conv.{0..3}.0.*`,
//! `regression_head.bbox_reg.*`. Every weight starts N(0, 0.01); biases 0 except the class
//! logits' `−log((1 − π) / π)`, π = 0.01.
//!
//! Per level the outputs are reshaped as torchvision does: `[B, A·K, H, W]` →
//! `[B, H·W·A, K]` (location-major, then anchor), and `[B, A·4, H, W]` → `[B, H·W·A, 4]`.

use crate::trainer::layers::{Conv2d, ConvInit, ConvShape};
use tch::nn;
use tch::Tensor;

/// Convolutions of each tower (torchvision's RetinaNet: 4).
pub const TOWER_CONVS: usize = 4;

#[derive(Debug)]
struct Subnet {
    conv: Vec<Conv2d>,
    out: Conv2d,
    /// Values per anchor of the output (classes or 4).
    k: i64,
}

impl Subnet {
    fn new(p: &nn::Path, c: i64, out_name: &str, k: i64, anchors: i64, bias: f64) -> Subnet {
        let init = ConvInit::Normal(0.01);
        Subnet {
            conv: (0..TOWER_CONVS)
                .map(|i| {
                    Conv2d::new(
                        &(p / "conv" / i.to_string() / "0"),
                        ConvShape::same(c, c, 3, 1),
                        init,
                        Some(0.0),
                        true,
                    )
                })
                .collect(),
            out: Conv2d::new(
                &(p / out_name),
                ConvShape::same(c, anchors * k, 3, 1),
                init,
                Some(bias),
                true,
            ),
            k,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let t = self
            .conv
            .iter()
            .fold(x.shallow_clone(), |x, c| c.forward(&x).relu());
        let o = self.out.forward(&t);
        let s = o.size();
        let (b, h, w) = (s[0], s[2], s[3]);
        o.view([b, -1, self.k, h, w])
            .permute([0, 3, 4, 1, 2])
            .reshape([b, -1, self.k])
    }
}

/// The outputs of one level: class logits `[B, H·W·A, K]` and deltas `[B, H·W·A, 4]`.
#[derive(Debug)]
pub struct LevelOutput {
    pub cls_logits: Tensor,
    pub bbox_regression: Tensor,
}

/// torchvision's `RetinaNetHead`.
#[derive(Debug)]
pub struct RetinaNetHead {
    classification: Subnet,
    regression: Subnet,
}

impl RetinaNetHead {
    pub fn new(p: &nn::Path, in_channels: i64, anchors: i64, classes: i64) -> RetinaNetHead {
        let prior = -((1.0 - 0.01) / 0.01f64).ln();
        RetinaNetHead {
            classification: Subnet::new(
                &(p / "classification_head"),
                in_channels,
                "cls_logits",
                classes,
                anchors,
                prior,
            ),
            regression: Subnet::new(
                &(p / "regression_head"),
                in_channels,
                "bbox_reg",
                4,
                anchors,
                0.0,
            ),
        }
    }

    /// The outputs of every level, finest first.
    pub fn forward(&self, levels: &[Tensor]) -> Vec<LevelOutput> {
        levels
            .iter()
            .map(|x| LevelOutput {
                cls_logits: self.classification.forward(x),
                bbox_regression: self.regression.forward(x),
            })
            .collect()
    }
}
