//! torchvision's `SSDHead`: per feature map, one 3×3 conv (padding 1) for the class logits and
//! one for the deltas, Xavier-uniform weights and zero biases (`_xavier_init`). Names (under
//! `head`): `classification_head.module_list.{l}.{weight,bias}` and
//! `regression_head.module_list.{l}.*`. Outputs are reshaped as torchvision's
//! `SSDScoringHead`: `[B, A·K, H, W]` → `[B, H·W·A, K]` (location-major, then default box).

use super::retinanet::LevelOutput;
use crate::trainer::layers::{Conv2d, ConvInit, ConvShape};
use tch::{nn, Tensor};

#[derive(Debug)]
pub struct SsdHead {
    cls: Vec<Conv2d>,
    reg: Vec<Conv2d>,
    /// Columns of the class logits (background included).
    classes: i64,
}

fn to_rows(o: &Tensor, k: i64) -> Tensor {
    let s = o.size();
    let (b, h, w) = (s[0], s[2], s[3]);
    o.view([b, -1, k, h, w])
        .permute([0, 3, 4, 1, 2])
        .reshape([b, -1, k])
}

impl SsdHead {
    /// `in_channels` and `anchors` (default boxes per location) per feature map; `classes`
    /// columns of logits, background (column 0) included, as torchvision's `num_classes`.
    pub fn new(p: &nn::Path, in_channels: &[i64], anchors: &[i64], classes: i64) -> SsdHead {
        let convs = |name: &str, k: i64| -> Vec<Conv2d> {
            in_channels
                .iter()
                .zip(anchors)
                .enumerate()
                .map(|(l, (&c, &a))| {
                    Conv2d::new(
                        &(p / name / "module_list" / l.to_string()),
                        ConvShape::same(c, a * k, 3, 1),
                        ConvInit::XavierUniform,
                        Some(0.0),
                        true,
                    )
                })
                .collect()
        };
        SsdHead {
            cls: convs("classification_head", classes),
            reg: convs("regression_head", 4),
            classes,
        }
    }

    /// The outputs of every feature map, in order.
    pub fn forward(&self, features: &[Tensor]) -> Vec<LevelOutput> {
        features
            .iter()
            .zip(self.cls.iter().zip(&self.reg))
            .map(|(x, (c, r))| LevelOutput {
                reg_logits: None,
                cls_logits: to_rows(&c.forward(x), self.classes),
                bbox_regression: to_rows(&r.forward(x), 4),
            })
            .collect()
    }
}
