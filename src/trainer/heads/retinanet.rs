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
//!
//! With a distribution grid (UGS) `bbox_reg` has `A·4·(n + 1)` outputs: per anchor, per side,
//! the logits over the grid's points; the deltas are their expectation. Its shape then differs
//! from torchvision's, so a torchvision detector's weights do not load into it (the ImageNet
//! backbone's do).

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

/// The outputs of one level: class logits `[B, H·W·A, K]` and deltas `[B, H·W·A, 4]` (with a
/// distribution grid: their logits `[B, H·W·A, 4, n + 1]` too).
#[derive(Debug)]
pub struct LevelOutput {
    pub cls_logits: Tensor,
    pub bbox_regression: Tensor,
    pub reg_logits: Option<Tensor>,
}

/// torchvision's `RetinaNetHead`.
#[derive(Debug)]
pub struct RetinaNetHead {
    classification: Subnet,
    regression: Subnet,
    /// The points `[n + 1]` of a distribution head (UGS).
    grid: Option<Tensor>,
}

impl RetinaNetHead {
    /// `grid`: the points of a distribution regression (UGS), else plain deltas.
    pub fn new(
        p: &nn::Path,
        in_channels: i64,
        anchors: i64,
        classes: i64,
        grid: Option<&[f64]>,
    ) -> RetinaNetHead {
        let prior = -((1.0 - 0.01) / 0.01f64).ln();
        let bins = grid.map_or(1, |g| g.len() as i64);
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
                4 * bins,
                anchors,
                0.0,
            ),
            grid: grid.map(|g| {
                Tensor::from_slice(g)
                    .to_kind(tch::Kind::Float)
                    .to_device(p.device())
            }),
        }
    }

    /// The outputs of every level, finest first.
    pub fn forward(&self, levels: &[Tensor]) -> Vec<LevelOutput> {
        levels
            .iter()
            .map(|x| {
                let r = self.regression.forward(x);
                let (bbox_regression, reg_logits) = match &self.grid {
                    None => (r, None),
                    Some(grid) => {
                        let logits = self.as_distribution(r);
                        let probs = logits.softmax(-1, logits.kind());
                        (probs.matmul(&grid.to_kind(logits.kind())), Some(logits))
                    }
                };
                LevelOutput {
                    cls_logits: self.classification.forward(x),
                    bbox_regression,
                    reg_logits,
                }
            })
            .collect()
    }

    /// The regression subnet alone on `levels`, as distribution logits `[B, N, 4, n + 1]` over
    /// all levels: UGS's refinement step on perturbed levels.
    pub fn reg_logits(&self, levels: &[Tensor]) -> Tensor {
        let outs: Vec<Tensor> = levels
            .iter()
            .map(|x| self.as_distribution(self.regression.forward(x)))
            .collect();
        Tensor::cat(&outs, 1)
    }

    /// `[B, N, 4·(n + 1)]` → `[B, N, 4, n + 1]`.
    fn as_distribution(&self, r: Tensor) -> Tensor {
        let s = r.size();
        r.view([s[0], s[1], 4, -1])
    }
}
