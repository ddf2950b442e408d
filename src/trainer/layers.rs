//! The building blocks of the torchvision-layout models (torchvision.ops.misc): a convolution
//! whose parameters can be frozen, and `FrozenBatchNorm2d`.
//!
//! Parameters are registered in the VarStore under torchvision's names (`<path>.weight`,
//! `<path>.bias`, `<path>.running_mean`, ...), so a torchvision state dict maps onto them key for
//! key. A frozen parameter is a VarStore variable without `requires_grad`: it loads and saves
//! like the others, and the optimizer (which updates what requires a gradient) leaves it alone.

use tch::nn::{self, Init};
use tch::Tensor;

/// How a convolution's weight starts (its bias, when it has one, starts at `bias`).
#[derive(Debug, Clone, Copy)]
pub enum ConvInit {
    /// `kaiming_normal_(mode="fan_out", nonlinearity="relu")` (torchvision's ResNet).
    KaimingNormalFanOut,
    /// `kaiming_uniform_(a=1)` (torchvision's FPN and its P6/P7 block).
    KaimingUniformA1,
    /// `normal_(std)` (the RetinaNet and FCOS heads).
    Normal(f64),
    /// `xavier_uniform_` (SSD's extra layers and heads).
    XavierUniform,
}

/// A 2-D convolution with torchvision's parameter names.
#[derive(Debug)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    stride: i64,
    padding: i64,
    dilation: i64,
}

/// The shape and placement of a [`Conv2d`].
#[derive(Debug, Clone, Copy)]
pub struct ConvShape {
    pub cin: i64,
    pub cout: i64,
    pub k: i64,
    pub stride: i64,
    pub padding: i64,
}

impl ConvShape {
    /// A `k × k` convolution with padding `k / 2`.
    pub fn same(cin: i64, cout: i64, k: i64, stride: i64) -> ConvShape {
        ConvShape {
            cin,
            cout,
            k,
            stride,
            padding: k / 2,
        }
    }
}

/// Registers `t` at `p.name`, trainable or frozen.
pub fn param(p: &nn::Path, name: &str, t: Tensor, trainable: bool) -> Tensor {
    p.add(name, t.to_device(p.device()), trainable)
}

impl Conv2d {
    /// `bias`: `Some(initial value)` for a convolution with a bias.
    pub fn new(
        p: &nn::Path,
        s: ConvShape,
        init: ConvInit,
        bias: Option<f64>,
        trainable: bool,
    ) -> Conv2d {
        let dims = [s.cout, s.cin, s.k, s.k];
        let receptive = s.k * s.k;
        let w = match init {
            ConvInit::KaimingNormalFanOut => {
                let std = (2.0 / (s.cout * receptive) as f64).sqrt();
                nn::init::init(
                    Init::Randn {
                        mean: 0.0,
                        stdev: std,
                    },
                    &dims,
                    p.device(),
                )
            }
            ConvInit::KaimingUniformA1 => {
                let bound = (3.0 / (s.cin * receptive) as f64).sqrt();
                nn::init::init(
                    Init::Uniform {
                        lo: -bound,
                        up: bound,
                    },
                    &dims,
                    p.device(),
                )
            }
            ConvInit::XavierUniform => {
                let bound = (6.0 / ((s.cin + s.cout) * receptive) as f64).sqrt();
                nn::init::init(
                    Init::Uniform {
                        lo: -bound,
                        up: bound,
                    },
                    &dims,
                    p.device(),
                )
            }
            ConvInit::Normal(std) => nn::init::init(
                Init::Randn {
                    mean: 0.0,
                    stdev: std,
                },
                &dims,
                p.device(),
            ),
        };
        Conv2d {
            weight: param(p, "weight", w, trainable),
            bias: bias.map(|b| {
                param(
                    p,
                    "bias",
                    Tensor::full([s.cout], b, (tch::Kind::Float, p.device())),
                    trainable,
                )
            }),
            stride: s.stride,
            padding: s.padding,
            dilation: 1,
        }
    }

    /// The same convolution with its kernel dilated (SSD's atrous fc6).
    pub fn dilated(self, dilation: i64) -> Conv2d {
        Conv2d { dilation, ..self }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(
            &self.weight,
            self.bias.as_ref(),
            [self.stride, self.stride],
            [self.padding, self.padding],
            [self.dilation, self.dilation],
            1,
        )
    }
}

/// BatchNorm2d with fixed statistics and affine parameters (torchvision's `FrozenBatchNorm2d`,
/// eps 1e-5): four buffers, never trained, `x · w / √(var + eps) + (b − mean · scale)`.
#[derive(Debug)]
pub struct FrozenBatchNorm2d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
}

impl FrozenBatchNorm2d {
    pub const EPS: f64 = 1e-5;

    /// The identity statistics torchvision starts from (weight 1, bias 0, mean 0, var 1).
    pub fn new(p: &nn::Path, c: i64) -> FrozenBatchNorm2d {
        FrozenBatchNorm2d {
            weight: p.ones_no_train("weight", &[c]),
            bias: p.zeros_no_train("bias", &[c]),
            running_mean: p.zeros_no_train("running_mean", &[c]),
            running_var: p.ones_no_train("running_var", &[c]),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let r = |t: &Tensor| t.reshape([1, -1, 1, 1]);
        let scale = r(&self.weight) * (r(&self.running_var) + Self::EPS).rsqrt();
        let bias = r(&self.bias) - r(&self.running_mean) * &scale;
        x * scale + bias
    }
}
