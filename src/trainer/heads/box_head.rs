//! Faster R-CNN's box head as torchvision builds it for `fasterrcnn_resnet50_fpn` (v1):
//! `TwoMLPHead` (flatten, `fc6`, ReLU, `fc7`, ReLU) and `FastRCNNPredictor` (`cls_score` over the
//! classes and background, `bbox_pred` with four deltas per class, background included).
//!
//! Names (under `roi_heads`): `box_head.fc6.{weight,bias}`, `box_head.fc7.*`,
//! `box_predictor.cls_score.*`, `box_predictor.bbox_pred.*`, so torchvision's state dict loads.
//! Initialisation as `nn.Linear`'s default: weight and bias `U(−1/√in, 1/√in)`.

use tch::nn::{self, Init, LinearConfig, Module};
use tch::Tensor;

/// torchvision's representation size for the FPN models.
pub const REPRESENTATION: i64 = 1024;

/// `nn.Linear(in, out)` with torch's default initialisation.
fn linear(p: &nn::Path, cin: i64, cout: i64) -> nn::Linear {
    let bound = 1.0 / (cin as f64).sqrt();
    let init = Init::Uniform {
        lo: -bound,
        up: bound,
    };
    nn::linear(
        p,
        cin,
        cout,
        LinearConfig {
            ws_init: init,
            bs_init: Some(init),
            bias: true,
        },
    )
}

/// torchvision's `TwoMLPHead`.
#[derive(Debug)]
pub struct TwoMlpHead {
    fc6: nn::Linear,
    fc7: nn::Linear,
}

impl TwoMlpHead {
    /// `in_features` = pooled channels × resolution².
    pub fn new(p: &nn::Path, in_features: i64, representation: i64) -> TwoMlpHead {
        TwoMlpHead {
            fc6: linear(&(p / "fc6"), in_features, representation),
            fc7: linear(&(p / "fc7"), representation, representation),
        }
    }

    /// `[R, C, S, S]` pooled features → `[R, representation]`.
    pub fn forward(&self, pooled: &Tensor) -> Tensor {
        let x = pooled.flatten(1, -1);
        self.fc7.forward(&self.fc6.forward(&x).relu()).relu()
    }
}

/// torchvision's `FastRCNNPredictor`.
#[derive(Debug)]
pub struct FastRcnnPredictor {
    cls_score: nn::Linear,
    bbox_pred: nn::Linear,
}

impl FastRcnnPredictor {
    /// `num_classes` counts the background (column 0).
    pub fn new(p: &nn::Path, representation: i64, num_classes: i64) -> FastRcnnPredictor {
        FastRcnnPredictor {
            cls_score: linear(&(p / "cls_score"), representation, num_classes),
            bbox_pred: linear(&(p / "bbox_pred"), representation, num_classes * 4),
        }
    }

    /// Class logits `[R, K + 1]` and deltas `[R, (K + 1)·4]` (class-major).
    pub fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let x = x.flatten(1, -1);
        (self.cls_score.forward(&x), self.bbox_pred.forward(&x))
    }
}

/// The head and the predictor, as `roi_heads.box_head` and `roi_heads.box_predictor`.
#[derive(Debug)]
pub struct BoxHead {
    pub box_head: TwoMlpHead,
    pub box_predictor: FastRcnnPredictor,
}

impl BoxHead {
    /// Registers under `p` (the `roi_heads` path).
    pub fn new(
        p: &nn::Path,
        pooled_channels: i64,
        resolution: i64,
        representation: i64,
        num_classes: i64,
    ) -> BoxHead {
        BoxHead {
            box_head: TwoMlpHead::new(
                &(p / "box_head"),
                pooled_channels * resolution * resolution,
                representation,
            ),
            box_predictor: FastRcnnPredictor::new(
                &(p / "box_predictor"),
                representation,
                num_classes,
            ),
        }
    }

    /// Class logits `[R, K + 1]` and deltas `[R, (K + 1)·4]` of pooled features `[R, C, S, S]`.
    pub fn forward(&self, pooled: &Tensor) -> (Tensor, Tensor) {
        self.box_predictor.forward(&self.box_head.forward(pooled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn names_shapes_and_default_init_bounds() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let head = BoxHead::new(&(vs.root() / "roi_heads"), 16, 7, 32, 6);
        let vars = vs.variables();
        let shape = |k: &str| vars[&format!("roi_heads.{k}")].size();
        assert_eq!(shape("box_head.fc6.weight"), vec![32, 16 * 49]);
        assert_eq!(shape("box_head.fc7.bias"), vec![32]);
        assert_eq!(shape("box_predictor.cls_score.weight"), vec![6, 32]);
        assert_eq!(shape("box_predictor.bbox_pred.weight"), vec![24, 32]);
        assert_eq!(vars.len(), 8);
        let fc6 = &vars["roi_heads.box_head.fc6.weight"];
        let bound = 1.0 / (16.0f64 * 49.0).sqrt();
        assert!(fc6.abs().max().double_value(&[]) <= bound);
        // U(−b, b) has standard deviation b/√3.
        let sd = fc6.std(true).double_value(&[]);
        assert!((sd / (bound / 3f64.sqrt()) - 1.0).abs() < 0.05, "{sd}");
        let (cls, reg) = head.forward(&Tensor::randn([5, 16, 7, 7], (Kind::Float, Device::Cpu)));
        assert_eq!((cls.size(), reg.size()), (vec![5, 6], vec![5, 24]));
    }
}
