//! Convolution building blocks of the tiny network, shared by its backbone and FPN
//! ([`super::model`]) and its head ([`super::head`]).

use super::model::seed_module;
use tch::nn::{self, ConvConfig, GroupNormConfig, Module};
use tch::Tensor;

pub(super) fn groups(c: i64) -> i64 {
    (1..=8)
        .rev()
        .find(|g| c % g == 0)
        .expect("1 divides everything")
}

pub(super) fn conv(vs: nn::Path, i: i64, o: i64, k: i64, stride: i64, bias: bool) -> nn::Conv2D {
    seed_module(&vs);
    let cfg = ConvConfig {
        stride,
        padding: k / 2,
        bias,
        ..Default::default()
    };
    nn::conv2d(vs, i, o, k, cfg)
}

/// Conv (no bias) + GroupNorm.
#[derive(Debug)]
pub struct ConvGn {
    conv: nn::Conv2D,
    gn: nn::GroupNorm,
}

impl ConvGn {
    /// `head_init`: weights N(0, 0.01) (FCOS, RetinaNet heads) instead of Kaiming uniform.
    pub fn new(vs: &nn::Path, i: i64, o: i64, k: i64, stride: i64, head_init: bool) -> ConvGn {
        let mut cfg = ConvConfig {
            stride,
            padding: k / 2,
            bias: false,
            ..Default::default()
        };
        if head_init {
            cfg.ws_init = nn::Init::Randn {
                mean: 0.0,
                stdev: 0.01,
            };
        }
        let path = vs / "conv";
        seed_module(&path);
        let conv = nn::conv2d(path, i, o, k, cfg);
        ConvGn {
            conv,
            gn: nn::group_norm(vs / "gn", groups(o), o, GroupNormConfig::default()),
        }
    }
}

impl Module for ConvGn {
    fn forward(&self, xs: &Tensor) -> Tensor {
        xs.apply(&self.conv).apply(&self.gn)
    }
}
