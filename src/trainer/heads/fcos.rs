//! torchvision's `FCOSHead` (torchvision 0.26.0, `models/detection/fcos.py`), layer for layer.
//!
//! Two towers of `num_convs` × (3×3 conv with bias, GroupNorm(32), ReLU), one per branch, shared
//! by all FPN levels. The classification branch ends in `cls_logits` (3×3, `A·K` outputs, bias
//! `−log((1 − π)/π)`, π = 0.01); the regression branch in `bbox_reg` (3×3, `A·4`, then a ReLU:
//! the distances are non-negative and in anchor sizes, no per-level learnable scale) and
//! `bbox_ctrness` (3×3, `A`, a logit) on the same tower features. Every conv starts N(0, 0.01)
//! with bias 0 apart from `cls_logits`' prior. Parameter names are torchvision's state-dict
//! names under the path the head is built at (`head.classification_head.conv.0.weight`,
//! `head.classification_head.conv.1.weight` (the GroupNorm), …, `head.regression_head.bbox_reg.bias`,
//! `head.regression_head.bbox_ctrness.weight`), so torchvision's weights load unchanged.
//!
//! With a distribution grid (UGS) `bbox_reg` has `4·(n + 1)` outputs, the logits of each side
//! over the grid's points (`[0, α]` in anchor sizes), and the distances are their expectation
//! (no ReLU: the points are ≥ 0). torchvision's detector weights then do not load into it.

use crate::trainer::head::HeadOutput;
use tch::nn::{self, ConvConfig, GroupNormConfig, Module};
use tch::Tensor;

/// GroupNorm groups of torchvision's FCOS head (`partial(nn.GroupNorm, 32)`).
pub const GROUPS: i64 = 32;

/// Convolutions per tower in torchvision's FCOS head.
pub const NUM_CONVS: i64 = 4;

/// Prior probability of a positive at initialisation (the classification bias).
pub const PRIOR_PROBABILITY: f64 = 0.01;

fn conv3x3(vs: nn::Path, i: i64, o: i64, bias: f64) -> nn::Conv2D {
    let cfg = ConvConfig {
        padding: 1,
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: 0.01,
        },
        bs_init: nn::Init::Const(bias),
        ..Default::default()
    };
    nn::conv2d(vs, i, o, 3, cfg)
}

/// `conv`: an `nn.Sequential` of (Conv2d, GroupNorm, ReLU) × n, named by position (0, 1, 3, 4, …;
/// the ReLUs hold no parameters).
#[derive(Debug)]
struct Tower(Vec<(nn::Conv2D, nn::GroupNorm)>);

impl Tower {
    fn new(vs: &nn::Path, channels: i64, n: i64) -> Tower {
        Tower(
            (0..n)
                .map(|i| {
                    let conv = conv3x3(vs / (3 * i).to_string(), channels, channels, 0.0);
                    let gn = nn::group_norm(
                        vs / (3 * i + 1).to_string(),
                        GROUPS,
                        channels,
                        GroupNormConfig::default(),
                    );
                    (conv, gn)
                })
                .collect(),
        )
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.0.iter().fold(x.shallow_clone(), |x, (c, g)| {
            g.forward(&c.forward(&x)).relu()
        })
    }
}

/// torchvision's `FCOSHead` with one anchor per location.
#[derive(Debug)]
pub struct FcosHead {
    cls_conv: Tower,
    cls_logits: nn::Conv2D,
    reg_conv: Tower,
    bbox_reg: nn::Conv2D,
    bbox_ctrness: nn::Conv2D,
    classes: i64,
    /// The points `[n + 1]` of a distribution head (UGS).
    grid: Option<Tensor>,
}

impl FcosHead {
    /// The head at `vs` (torchvision: `head`) for FPN levels of `channels` channels (a multiple
    /// of 32, for the GroupNorm) and `classes` logits per location; `grid`: the points of a
    /// distribution regression (UGS).
    pub fn new(
        vs: &nn::Path,
        channels: i64,
        classes: i64,
        num_convs: i64,
        grid: Option<&[f64]>,
    ) -> FcosHead {
        let bins = grid.map_or(1, |g| g.len() as i64);
        let cls = vs / "classification_head";
        let reg = vs / "regression_head";
        let prior = -((1.0 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY).ln();
        FcosHead {
            cls_conv: Tower::new(&(&cls / "conv"), channels, num_convs),
            cls_logits: conv3x3(&cls / "cls_logits", channels, classes, prior),
            reg_conv: Tower::new(&(&reg / "conv"), channels, num_convs),
            bbox_reg: conv3x3(&reg / "bbox_reg", channels, 4 * bins, 0.0),
            bbox_ctrness: conv3x3(&reg / "bbox_ctrness", channels, 1, 0.0),
            classes,
            grid: grid.map(|g| {
                Tensor::from_slice(g)
                    .to_kind(tch::Kind::Float)
                    .to_device(vs.device())
            }),
        }
    }

    fn bins(&self) -> i64 {
        self.grid.as_ref().map_or(1, |g| g.size()[0])
    }

    /// The regression branch alone on `levels`, as distribution logits `[B, N, 4, n + 1]`:
    /// UGS's refinement step on perturbed levels.
    pub fn reg_logits(&self, levels: &[Tensor]) -> Tensor {
        let bins = self.bins();
        let outs: Vec<Tensor> = levels
            .iter()
            .map(|p| {
                let r = self.reg_conv.forward(p);
                flat(&self.bbox_reg.forward(&r), 4 * bins)
            })
            .collect();
        let t = Tensor::cat(&outs, 1);
        let (b, n) = (t.size()[0], t.size()[1]);
        t.view([b, n, 4, bins])
    }

    /// Outputs flattened over (level, y, x): `cls [B, N, K]` logits, `reg [B, N, 4]` ltrb in
    /// anchor sizes (≥ 0), `ctr [B, N]` center-ness logits.
    pub fn forward(&self, levels: &[Tensor]) -> HeadOutput {
        let bins = self.bins();
        let (mut cls, mut reg, mut ctr) = (vec![], vec![], vec![]);
        for p in levels {
            cls.push(flat(
                &self.cls_logits.forward(&self.cls_conv.forward(p)),
                self.classes,
            ));
            let r = self.reg_conv.forward(p);
            reg.push(flat(&self.bbox_reg.forward(&r), 4 * bins));
            ctr.push(flat(&self.bbox_ctrness.forward(&r), 1).squeeze_dim(2));
        }
        let reg = Tensor::cat(&reg, 1);
        let (reg, reg_logits) = match &self.grid {
            None => (reg.relu(), None),
            Some(grid) => {
                let (b, n) = (reg.size()[0], reg.size()[1]);
                let logits = reg.view([b, n, 4, bins]);
                let probs = logits.softmax(-1, logits.kind());
                (probs.matmul(&grid.to_kind(logits.kind())), Some(logits))
            }
        };
        HeadOutput {
            cls: Tensor::cat(&cls, 1),
            reg,
            ctr: Some(Tensor::cat(&ctr, 1)),
            reg_logits,
        }
    }
}

/// `[B, K, H, W]` → `[B, H·W, K]` (one anchor per location).
fn flat(t: &Tensor, k: i64) -> Tensor {
    let b = t.size()[0];
    t.permute([0, 2, 3, 1]).reshape([b, -1, k])
}
