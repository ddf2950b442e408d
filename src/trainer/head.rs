//! The one-stage head shared by all FPN levels: a classification tower and a regression tower
//! (`head_convs` × 3×3 conv, GN, ReLU each), the class logits, the box regression (or its
//! distribution, UGS) and FCOS's center-ness branch. See [`super::model`] for the choices.

use super::priors::STRIDES;
use super::tiny_layers::ConvGn;
use crate::spec::config::{DetectorSpec, ModelSpec};
use tch::nn::{self, ConvConfig};
use tch::Tensor;

/// Head outputs flattened over (level, y, x, anchor): `cls [B, N, C]` logits, `reg [B, N, 4]`
/// (FCOS: ltrb in strides, ≥ 0; RetinaNet: deltas), `ctr [B, N]` center-ness logits (FCOS),
/// `reg_logits [B, N, 4, n + 1]` with a distribution head (then `reg` is their expectation).
#[derive(Debug)]
pub struct HeadOutput {
    pub cls: Tensor,
    pub reg: Tensor,
    pub ctr: Option<Tensor>,
    pub reg_logits: Option<Tensor>,
}

/// The head shared by all levels.
#[derive(Debug)]
pub struct Head {
    cls_tower: Vec<ConvGn>,
    reg_tower: Vec<ConvGn>,
    cls_out: nn::Conv2D,
    reg_out: nn::Conv2D,
    ctr_out: Option<nn::Conv2D>,
    scales: Vec<Tensor>,
    classes: i64,
    fcos: bool,
    /// Grid points `[n + 1]` of a distribution head.
    grid: Option<Tensor>,
}

fn head_conv(vs: nn::Path, i: i64, o: i64, bias: f64) -> nn::Conv2D {
    super::model::seed_module(&vs);
    let ws_init = nn::Init::Randn {
        mean: 0.0,
        stdev: 0.01,
    };
    nn::conv2d(
        vs,
        i,
        o,
        3,
        ConvConfig {
            padding: 1,
            ws_init,
            bs_init: nn::Init::Const(bias),
            ..Default::default()
        },
    )
}

impl Head {
    pub fn new(vs: &nn::Path, spec: &ModelSpec, classes: i64, anchors: i64) -> Head {
        Head::with_grid(vs, spec, classes, anchors, None)
    }

    /// A head whose regression is a distribution over `grid`'s points (UGS) when given.
    pub fn with_grid(
        vs: &nn::Path,
        spec: &ModelSpec,
        classes: i64,
        anchors: i64,
        grid: Option<&[f64]>,
    ) -> Head {
        let c = spec.fpn_channels;
        let bins = grid.map_or(1, |g| g.len() as i64);
        let fcos = matches!(spec.detector, DetectorSpec::Fcos { .. });
        let tower = |name: &str| {
            (0..spec.head_convs)
                .map(|i| ConvGn::new(&(vs / format!("{name}{i}")), c, c, 3, 1, true))
                .collect::<Vec<_>>()
        };
        let prior = -((1.0 - 0.01) / 0.01f64).ln();
        Head {
            cls_tower: tower("cls_tower"),
            reg_tower: tower("reg_tower"),
            cls_out: head_conv(vs / "cls_out", c, anchors * classes, prior),
            reg_out: head_conv(
                vs / "reg_out",
                c,
                anchors * 4 * bins,
                if fcos && bins == 1 { 1.0 } else { 0.0 },
            ),
            ctr_out: match spec.detector {
                DetectorSpec::Fcos {
                    centerness: true, ..
                } => Some(head_conv(vs / "ctr_out", c, 1, 0.0)),
                _ => None,
            },
            scales: if fcos {
                (0..STRIDES.len())
                    .map(|l| vs.var(&format!("scale{l}"), &[1], nn::Init::Const(1.0)))
                    .collect()
            } else {
                vec![]
            },
            classes,
            fcos,
            grid: grid.map(|g| {
                Tensor::from_slice(g)
                    .to_kind(tch::Kind::Float)
                    .to_device(vs.device())
            }),
        }
    }

    /// The regression tower of level `l` on `p`: the raw regression output (scaled on FCOS)
    /// `[B, A·4·bins, H, W]` and the tower's features.
    fn reg_level(&self, l: usize, p: &Tensor) -> (Tensor, Tensor) {
        let r = self
            .reg_tower
            .iter()
            .fold(p.shallow_clone(), |x, m| x.apply(m).relu());
        let mut d = r.apply(&self.reg_out);
        if self.fcos {
            d *= &self.scales[l];
            if self.grid.is_none() {
                d = d.relu();
            }
        }
        (d, r)
    }

    fn bins(&self) -> i64 {
        self.grid.as_ref().map_or(1, |g| g.size()[0])
    }

    /// The distribution logits `[B, N, 4, n + 1]` of the regression branch alone (no
    /// classification tower): UGS's refinement step on perturbed levels.
    pub fn reg_logits(&self, levels: &[Tensor]) -> Tensor {
        let bins = self.bins();
        let outs: Vec<Tensor> = levels
            .iter()
            .enumerate()
            .map(|(l, p)| flat(self.reg_level(l, p).0, 4 * bins))
            .collect();
        let t = Tensor::cat(&outs, 1);
        let (b, n) = (t.size()[0], t.size()[1]);
        t.view([b, n, 4, bins])
    }

    pub fn forward(&self, levels: &[Tensor]) -> HeadOutput {
        let bins = self.bins();
        let (mut cls, mut reg, mut ctr) = (vec![], vec![], vec![]);
        for (l, p) in levels.iter().enumerate() {
            let c = self
                .cls_tower
                .iter()
                .fold(p.shallow_clone(), |x, m| x.apply(m).relu());
            cls.push(flat(c.apply(&self.cls_out), self.classes));
            let (d, r) = self.reg_level(l, p);
            reg.push(flat(d, 4 * bins));
            if let Some(o) = &self.ctr_out {
                ctr.push(flat(r.apply(o), 1).squeeze_dim(2));
            }
        }
        let reg = Tensor::cat(&reg, 1);
        let (reg, reg_logits) = match &self.grid {
            None => (reg, None),
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
            ctr: (!ctr.is_empty()).then(|| Tensor::cat(&ctr, 1)),
            reg_logits,
        }
    }
}

/// `[B, K·A, H, W]` → `[B, H·W·A, K]`.
fn flat(t: Tensor, k: i64) -> Tensor {
    let b = t.size()[0];
    t.permute([0, 2, 3, 1]).reshape([b, -1, k])
}
