//! The network: TinyResnet backbone, FPN (P3–P5) and a shared one-stage head.
//!
//! One struct per part, built by `new(vs: &nn::Path)`; parameter names come from the paths
//! (`backbone.stem.conv.weight`, `fpn.lateral0.bias`, `head.cls_tower0.gn.weight`, ...) and are
//! the checkpoint keys, so renaming a field breaks resume.
//!
//! Choices (measured on 2 CPU threads at 128 px, batch 8):
//! * GroupNorm everywhere (8 groups, or fewer when the width is not a multiple of 8): it has no
//!   running statistics, no train/eval difference, is deterministic and batch-size independent,
//!   and was faster than BatchNorm here (49 vs 61 ms per PyTorch step).
//! * Stem: 3×3 conv stride 2 + GN + ReLU + 3×3 max-pool stride 2, then four stages of basic blocks
//!   (strides 4, 8, 16, 32; widths w, 2w, 4w, 8w).
//! * FPN on C3–C5 only (strides 8, 16, 32). A P2 level would help objects below 8 px but doubles
//!   the step time (the head on a 32×32 map costs more than the whole backbone); the FCOS
//!   assignment instead gives every object narrower than a stride its nearest P3 location.
//! * Head: `head_convs` × (3×3 conv, GN, ReLU) per tower, weights N(0, 0.01) as in FCOS and
//!   RetinaNet; classification bias −log((1−π)/π), π = 0.01. FCOS regresses ltrb in strides as
//!   `relu(s_l · x)` with a learnable scale `s_l` per level (FCOS's "norm_reg_targets" form), its
//!   bias initialised to 1 (one stride, the typical target) so no location starts in the dead
//!   zone of the ReLU; the center-ness logit is a branch of the regression tower. RetinaNet
//!   regresses raw (dx, dy, dw, dh).
//! * Distribution head (UGS, GFL-style): with a grid of `n + 1` points the regression output has
//!   `4 (n + 1)` logits per prior (times the learnable scale on FCOS, as GFL scales its
//!   distribution logits; no ReLU, bias 0: a uniform start), returned as `reg_logits`, and `reg`
//!   is the expectation `Σ_k softmax(logits)_k · y_k` per side, so decoding is unchanged.
//! * Initialisation: each module's parameters are drawn right after torch's generator is seeded
//!   from (`train.seed`, the module's path), so a parameter's initial values depend on the seed
//!   and its name alone: two models that share a part (same name, same shape) start it from the
//!   same weights whatever else differs (loss, head size, extra branches). This is what makes
//!   a paired comparison of two rows over the same seeds paired.
//! * The FPN levels are reachable ([`Detector::features`]) and the regression branch runs on
//!   its own ([`Head::reg_logits`]): UGS's refinement step re-runs it on perturbed levels.

pub use super::head::{Head, HeadOutput};
use super::tiny_layers::{conv, ConvGn};
use crate::spec::config::{BackboneSpec, ModelSpec};
use tch::nn::{self, Module};
use tch::Tensor;

thread_local! {
    /// The seed models built on this thread draw their parameters from ([`build_seeded`]).
    static INIT_SEED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Builds a model whose parameters are drawn from `seed` and their names; torch's global
/// generator is left seeded with `seed`, as if nothing had been drawn.
pub fn build_seeded<T>(seed: u64, build: impl FnOnce() -> T) -> T {
    let old = INIT_SEED.with(|s| s.replace(seed));
    let out = build();
    INIT_SEED.with(|s| s.set(old));
    tch::manual_seed(seed as i64);
    out
}

/// The generator seed of the parameters under `name` (FNV-1a over the seed and the name).
pub fn param_seed(seed: u64, name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(name.as_bytes()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h >> 1) as i64
}

/// Seeds torch's generator for the module at `vs`, just before its parameters are drawn.
pub(crate) fn seed_module(vs: &nn::Path) {
    let name = vs.components().collect::<Vec<_>>().join(".");
    tch::manual_seed(param_seed(INIT_SEED.with(|s| s.get()), &name));
}

/// A ResNet basic block: two 3×3 conv-GN, identity or 1×1 conv-GN shortcut.
#[derive(Debug)]
pub struct BasicBlock {
    a: ConvGn,
    b: ConvGn,
    down: Option<ConvGn>,
}

impl BasicBlock {
    pub fn new(vs: &nn::Path, i: i64, o: i64, stride: i64) -> BasicBlock {
        BasicBlock {
            a: ConvGn::new(&(vs / "a"), i, o, 3, stride, false),
            b: ConvGn::new(&(vs / "b"), o, o, 3, 1, false),
            down: (i != o || stride != 1)
                .then(|| ConvGn::new(&(vs / "down"), i, o, 1, stride, false)),
        }
    }
}

impl Module for BasicBlock {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let ys = xs.apply(&self.a).relu().apply(&self.b);
        let short = self
            .down
            .as_ref()
            .map_or_else(|| xs.shallow_clone(), |d| xs.apply(d));
        (ys + short).relu()
    }
}

/// TinyResnet: returns C3, C4, C5 (strides 8, 16, 32; channels 2w, 4w, 8w).
#[derive(Debug)]
pub struct Backbone {
    stem: ConvGn,
    stages: Vec<Vec<BasicBlock>>,
    pub out_channels: Vec<i64>,
}

impl Backbone {
    pub fn new(vs: &nn::Path, spec: &BackboneSpec) -> Backbone {
        let BackboneSpec::TinyResnet { width, blocks } = spec else {
            panic!("the tiny detectors run on tiny_resnet (the spec validates it)")
        };
        let stem = ConvGn::new(&(vs / "stem"), 3, *width, 3, 2, false);
        let mut stages = Vec::new();
        let mut c_in = *width;
        for (s, &n) in blocks.iter().enumerate() {
            let c_out = width << s;
            let stage = (0..n.max(1))
                .map(|b| {
                    let stride = if b == 0 && s > 0 { 2 } else { 1 };
                    let blk = BasicBlock::new(
                        &(vs / format!("stage{s}") / format!("block{b}")),
                        c_in,
                        c_out,
                        stride,
                    );
                    c_in = c_out;
                    blk
                })
                .collect();
            stages.push(stage);
        }
        Backbone {
            stem,
            stages,
            out_channels: vec![width * 2, width * 4, width * 8],
        }
    }

    pub fn forward(&self, xs: &Tensor) -> Vec<Tensor> {
        let mut x = xs
            .apply(&self.stem)
            .relu()
            .max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        let mut outs = Vec::new();
        for (s, stage) in self.stages.iter().enumerate() {
            for blk in stage {
                x = x.apply(blk);
            }
            if s >= 1 {
                outs.push(x.shallow_clone());
            }
        }
        outs
    }
}

/// FPN: 1×1 laterals, nearest top-down ×2, 3×3 output convs (no normalisation), P3–P5.
#[derive(Debug)]
pub struct Fpn {
    lateral: Vec<nn::Conv2D>,
    output: Vec<nn::Conv2D>,
}

impl Fpn {
    pub fn new(vs: &nn::Path, in_channels: &[i64], c: i64) -> Fpn {
        Fpn {
            lateral: in_channels
                .iter()
                .enumerate()
                .map(|(i, &ci)| conv(vs / format!("lateral{i}"), ci, c, 1, 1, true))
                .collect(),
            output: (0..in_channels.len())
                .map(|i| conv(vs / format!("output{i}"), c, c, 3, 1, true))
                .collect(),
        }
    }

    pub fn forward(&self, feats: &[Tensor]) -> Vec<Tensor> {
        let mut lat: Vec<Tensor> = feats
            .iter()
            .zip(&self.lateral)
            .map(|(f, l)| f.apply(l))
            .collect();
        for i in (0..lat.len() - 1).rev() {
            let (h, w) = (lat[i].size()[2], lat[i].size()[3]);
            lat[i] = &lat[i] + lat[i + 1].upsample_nearest2d([h, w], None, None);
        }
        lat.iter()
            .zip(&self.output)
            .map(|(x, o)| x.apply(o))
            .collect()
    }
}

/// Backbone + FPN + head.
#[derive(Debug)]
pub struct Detector {
    pub backbone: Backbone,
    pub fpn: Fpn,
    pub head: Head,
}

impl Detector {
    /// `anchors` per location: 1 for FCOS, scales × ratios for RetinaNet.
    pub fn new(vs: &nn::Path, spec: &ModelSpec, classes: i64, anchors: i64) -> Detector {
        Detector::with_grid(vs, spec, classes, anchors, None)
    }

    /// A detector whose regression is a distribution over `grid` (UGS) when given.
    pub fn with_grid(
        vs: &nn::Path,
        spec: &ModelSpec,
        classes: i64,
        anchors: i64,
        grid: Option<&[f64]>,
    ) -> Detector {
        let backbone = Backbone::new(&(vs / "backbone"), &spec.backbone);
        let fpn = Fpn::new(&(vs / "fpn"), &backbone.out_channels, spec.fpn_channels);
        let head = Head::with_grid(&(vs / "head"), spec, classes, anchors, grid);
        Detector {
            backbone,
            fpn,
            head,
        }
    }

    /// The FPN levels P3–P5 of a batch.
    pub fn features(&self, images: &Tensor) -> Vec<Tensor> {
        self.fpn.forward(&self.backbone.forward(images))
    }

    pub fn forward(&self, images: &Tensor) -> HeadOutput {
        self.head.forward(&self.features(images))
    }
}
