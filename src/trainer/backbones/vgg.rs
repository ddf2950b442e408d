//! VGG16 as SSD300 uses it: torchvision's `vgg16` feature layers (configuration "D", no batch
//! norm, every conv 3×3 with padding 1 and a ReLU) rearranged by `SSDFeatureExtractorVGG`
//! (`models/detection/ssd.py`, `highres=False`):
//!
//! - `features`: VGG's layers 0–22 (conv1_1 … conv4_3 and its ReLU), the third max-pool (16)
//!   with `ceil_mode`; its output, L2-normalised over the channels and scaled by the learnable
//!   `scale_weight` (512 values, 20 at the start), is the first feature map (38×38 at 300 px).
//! - `extra.0`: VGG's layers 23–29 (pool4, conv5_1 … conv5_3) under `extra.0.{0..6}`, then the
//!   fc block `extra.0.7`: a 3×3 stride-1 max-pool, fc6 as a 3×3 conv of dilation 6 (1024
//!   channels, `extra.0.7.1`), fc7 as a 1×1 conv (`extra.0.7.3`), each with a ReLU (19×19).
//! - `extra.1` … `extra.4`: a 1×1 conv (`.0`) and a 3×3 conv (`.2`), each with a ReLU; the
//!   3×3 has stride 2 and padding 1 in the first two (10×10, 5×5), neither in the last two
//!   (3×3, 1×1).
//!
//! VGG's own layers start as torchvision's `VGG` initialises them (Kaiming normal, fan-out,
//! biases 0); fc6, fc7 and the extras with Xavier uniform (biases 0). `trainable_layers` `t`
//! (torchvision's `trainable_backbone_layers`, 0–5) freezes VGG's layers before the start of
//! stage `5 − t` (stages start at layers 0, 4, 9, 16, 23; `t = 0` freezes all of VGG, conv5
//! included); fc6, fc7, the extras and `scale_weight` always train.

use crate::trainer::layers::{param, Conv2d, ConvInit, ConvShape};
use tch::{nn, Tensor};

/// VGG16's configuration "D": channels of each conv, `0` a 2×2 max-pool.
const VGG16: [i64; 18] = [
    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
];

/// Index of the max-pool after conv4_3 (where `features` ends and `extra.0` starts).
const POOL4: usize = 23;
/// Index of the max-pool that torchvision switches to `ceil_mode`.
const POOL3: usize = 16;
/// First layer of each of VGG's five stages (torchvision's `stage_indices`).
const STAGES: [usize; 5] = [0, 4, 9, 16, 23];
/// Layers in VGG16's `features` (the last, pool5, is not used by SSD).
const VGG_LAYERS: usize = 31;

/// Channels of the six feature maps.
pub const SSD_OUT_CHANNELS: [i64; 6] = [512, 1024, 512, 256, 256, 256];

#[derive(Debug)]
enum Layer {
    /// A conv followed by a ReLU.
    Conv(Conv2d),
    /// Max-pool, kernel 2, stride 2.
    Pool { ceil: bool },
}

impl Layer {
    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Layer::Conv(c) => c.forward(x).relu(),
            Layer::Pool { ceil } => x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], *ceil),
        }
    }
}

/// One of `extra.1` … `extra.4`: 1×1 conv, ReLU, 3×3 conv, ReLU.
#[derive(Debug)]
struct Extra {
    reduce: Conv2d,
    conv: Conv2d,
}

/// `SSDFeatureExtractorVGG` of SSD300.
#[derive(Debug)]
pub struct SsdVgg {
    features: Vec<Layer>,
    pub scale_weight: Tensor,
    /// pool4 and conv5_1 … conv5_3 (`extra.0.0` … `extra.0.6`).
    conv5: Vec<Layer>,
    fc6: Conv2d,
    fc7: Conv2d,
    extras: Vec<Extra>,
}

fn xavier(p: &nn::Path, s: ConvShape) -> Conv2d {
    Conv2d::new(p, s, ConvInit::XavierUniform, Some(0.0), true)
}

impl SsdVgg {
    /// Registers the parameters under `p` (`backbone` in the detector) with torchvision's names.
    pub fn new(p: &nn::Path, trainable_layers: u32) -> SsdVgg {
        let t = trainable_layers.min(5) as usize;
        let freeze_before = if t == 0 { VGG_LAYERS } else { STAGES[5 - t] };
        let (mut features, mut conv5) = (Vec::new(), Vec::new());
        let (mut idx, mut cin, mut pools) = (0usize, 3i64, 0);
        for &v in &VGG16 {
            let (path, list) = if idx < POOL4 {
                (p / "features" / idx.to_string(), &mut features)
            } else {
                (p / "extra" / "0" / (idx - POOL4).to_string(), &mut conv5)
            };
            if v == 0 {
                pools += 1;
                // pool5 (the fifth) is dropped: fc6's 3×3 stride-1 pool replaces it.
                if pools < 5 {
                    list.push(Layer::Pool { ceil: idx == POOL3 });
                }
                idx += 1;
            } else {
                list.push(Layer::Conv(Conv2d::new(
                    &path,
                    ConvShape::same(cin, v, 3, 1),
                    ConvInit::KaimingNormalFanOut,
                    Some(0.0),
                    idx >= freeze_before,
                )));
                cin = v;
                idx += 2;
            }
        }
        let fc = p / "extra" / "0" / "7";
        let fc6 = xavier(
            &(&fc / "1"),
            ConvShape {
                cin: 512,
                cout: 1024,
                k: 3,
                stride: 1,
                padding: 6,
            },
        )
        .dilated(6);
        let fc7 = xavier(&(&fc / "3"), ConvShape::same(1024, 1024, 1, 1));
        // (in, mid, out, stride and padding of the 3×3)
        let spec = [
            (1024, 256, 512, 2, 1),
            (512, 128, 256, 2, 1),
            (256, 128, 256, 1, 0),
            (256, 128, 256, 1, 0),
        ];
        let extras = spec
            .iter()
            .enumerate()
            .map(|(i, &(cin, mid, cout, stride, padding))| {
                let e = p / "extra" / (i + 1).to_string();
                Extra {
                    reduce: xavier(&(&e / "0"), ConvShape::same(cin, mid, 1, 1)),
                    conv: xavier(
                        &(&e / "2"),
                        ConvShape {
                            cin: mid,
                            cout,
                            k: 3,
                            stride,
                            padding,
                        },
                    ),
                }
            })
            .collect();
        let scale_weight = param(
            p,
            "scale_weight",
            Tensor::full([512], 20.0, (tch::Kind::Float, p.device())),
            true,
        );
        SsdVgg {
            features,
            scale_weight,
            conv5,
            fc6,
            fc7,
            extras,
        }
    }

    /// The six feature maps of a normalised batch `[B, 3, 300, 300]`.
    pub fn forward(&self, x: &Tensor) -> Vec<Tensor> {
        let x = self
            .features
            .iter()
            .fold(x.shallow_clone(), |x, l| l.forward(&x));
        // F.normalize(x, dim=1): x / max(‖x‖₂, 1e-12) over the channels.
        let norm = x.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
        let mut out = vec![self.scale_weight.view([1, -1, 1, 1]) * (&x / norm)];
        let x = self.conv5.iter().fold(x, |x, l| l.forward(&x));
        let x = x.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false);
        let mut x = self.fc7.forward(&self.fc6.forward(&x).relu()).relu();
        out.push(x.shallow_clone());
        for e in &self.extras {
            x = e.conv.forward(&e.reduce.forward(&x).relu()).relu();
            out.push(x.shallow_clone());
        }
        out
    }
}
