//! ResNet-18/34/50/101 exactly as torchvision builds them (`torchvision.models.resnet`, v1.5:
//! the stride of a bottleneck sits on its 3×3), with `FrozenBatchNorm2d` as torchvision's
//! detection builders use, and `trainable_layers` as `_resnet_fpn_extractor` applies it.
//!
//! Parameter names are torchvision's, under the caller's path: `conv1.weight`, `bn1.running_var`,
//! `layer3.4.conv2.weight`, `layer2.0.downsample.0.weight`, `layer2.0.downsample.1.bias`, ...;
//! the classifier (`fc`) is not built (the detectors' `IntermediateLayerGetter` drops it).
//!
//! `trainable_layers` `n` in 0..=5 keeps the parameters of the last `n` of
//! `[conv1, layer1, layer2, layer3, layer4]` trainable and freezes the others (torchvision's
//! `layers_to_train`; the batch norms have no trainable parameters at all).

use crate::trainer::layers::{Conv2d, ConvInit, ConvShape, FrozenBatchNorm2d};
use tch::nn;
use tch::Tensor;

/// The block kind and the blocks per stage of a depth; `None` for an unknown depth.
pub fn stages(depth: u32) -> Option<(bool, [usize; 4])> {
    match depth {
        18 => Some((false, [2, 2, 2, 2])),
        34 => Some((false, [3, 4, 6, 3])),
        50 => Some((true, [3, 4, 6, 3])),
        101 => Some((true, [3, 4, 23, 3])),
        152 => Some((true, [3, 8, 36, 3])),
        _ => None,
    }
}

/// Depths [`ResNet::new`] builds.
pub const DEPTHS: [u32; 5] = [18, 34, 50, 101, 152];

#[derive(Debug)]
struct ConvBn {
    conv: Conv2d,
    bn: FrozenBatchNorm2d,
}

impl ConvBn {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.bn.forward(&self.conv.forward(x))
    }
}

/// A BasicBlock (two 3×3) or a Bottleneck (1×1, 3×3 with the stride, 1×1 ×4).
#[derive(Debug)]
struct Block {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl Block {
    fn forward(&self, x: &Tensor) -> Tensor {
        let last = self.convs.len() - 1;
        let mut y = x.shallow_clone();
        for (i, c) in self.convs.iter().enumerate() {
            y = c.forward(&y);
            if i < last {
                y = y.relu();
            }
        }
        let identity = match &self.downsample {
            Some(d) => d.forward(x),
            None => x.shallow_clone(),
        };
        (y + identity).relu()
    }
}

/// A torchvision ResNet body without its classifier.
#[derive(Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: FrozenBatchNorm2d,
    layers: Vec<Vec<Block>>,
    /// Channels of C2..C5 (`layer1`..`layer4`).
    pub out_channels: [i64; 4],
}

fn conv_bn(p: &nn::Path, conv: &str, bn: &str, s: ConvShape, trainable: bool) -> ConvBn {
    ConvBn {
        conv: Conv2d::new(
            &(p / conv),
            s,
            ConvInit::KaimingNormalFanOut,
            None,
            trainable,
        ),
        bn: FrozenBatchNorm2d::new(&(p / bn), s.cout),
    }
}

impl ResNet {
    /// `depth` one of [`DEPTHS`]; `trainable_layers` in 0..=5 (validated by the spec).
    pub fn new(p: &nn::Path, depth: u32, trainable_layers: u32) -> ResNet {
        let (bottleneck, blocks) = stages(depth).expect("a depth the spec validated");
        let names = ["layer4", "layer3", "layer2", "layer1", "conv1"];
        let train = |name: &str| names[..(trainable_layers as usize).min(5)].contains(&name);
        let conv1 = Conv2d::new(
            &(p / "conv1"),
            ConvShape {
                cin: 3,
                cout: 64,
                k: 7,
                stride: 2,
                padding: 3,
            },
            ConvInit::KaimingNormalFanOut,
            None,
            train("conv1"),
        );
        let bn1 = FrozenBatchNorm2d::new(&(p / "bn1"), 64);
        let expansion = if bottleneck { 4 } else { 1 };
        let mut inplanes = 64;
        let mut layers = Vec::new();
        let mut out_channels = [0; 4];
        for (s, &n) in blocks.iter().enumerate() {
            let name = format!("layer{}", s + 1);
            let trainable = train(&name);
            let planes = 64 << s;
            let stride = if s == 0 { 1 } else { 2 };
            let layer = (0..n)
                .map(|b| {
                    let bp = p / name.as_str() / b.to_string();
                    let st = if b == 0 { stride } else { 1 };
                    let convs = if bottleneck {
                        vec![
                            conv_bn(
                                &bp,
                                "conv1",
                                "bn1",
                                ConvShape::same(inplanes, planes, 1, 1),
                                trainable,
                            ),
                            conv_bn(
                                &bp,
                                "conv2",
                                "bn2",
                                ConvShape::same(planes, planes, 3, st),
                                trainable,
                            ),
                            conv_bn(
                                &bp,
                                "conv3",
                                "bn3",
                                ConvShape::same(planes, planes * 4, 1, 1),
                                trainable,
                            ),
                        ]
                    } else {
                        vec![
                            conv_bn(
                                &bp,
                                "conv1",
                                "bn1",
                                ConvShape::same(inplanes, planes, 3, st),
                                trainable,
                            ),
                            conv_bn(
                                &bp,
                                "conv2",
                                "bn2",
                                ConvShape::same(planes, planes, 3, 1),
                                trainable,
                            ),
                        ]
                    };
                    let downsample =
                        (b == 0 && (st != 1 || inplanes != planes * expansion)).then(|| {
                            conv_bn(
                                &(&bp / "downsample"),
                                "0",
                                "1",
                                ConvShape::same(inplanes, planes * expansion, 1, st),
                                trainable,
                            )
                        });
                    inplanes = planes * expansion;
                    Block { convs, downsample }
                })
                .collect();
            out_channels[s] = planes * expansion;
            layers.push(layer);
        }
        ResNet {
            conv1,
            bn1,
            layers,
            out_channels,
        }
    }

    /// C2, C3, C4, C5 (strides 4, 8, 16, 32) of a normalised batch `[B, 3, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Vec<Tensor> {
        let mut x = self.bn1.forward(&self.conv1.forward(x)).relu().max_pool2d(
            [3, 3],
            [2, 2],
            [1, 1],
            [1, 1],
            false,
        );
        let mut outs = Vec::with_capacity(4);
        for layer in &self.layers {
            for blk in layer {
                x = blk.forward(&x);
            }
            outs.push(x.shallow_clone());
        }
        outs
    }
}
