//! `torchvision.ops.MultiScaleRoIAlign`: each box pooled from the FPN level its size selects.
//!
//! As in torchvision, the levels' scales are inferred on the first call from the feature heights
//! and the largest image height of that batch (`2 ** round(log2(feature / image))`), and kept for
//! the module's life; a box of side `sqrt(area)` goes to level
//! `floor(canonical_level + log2(sqrt(area) / canonical_scale) + 1e-6)`, clamped to the levels
//! there are (FPN paper, eq. 1). A box with negative area (one inverted side) maps to NaN, which
//! matches no level, and its output stays zero, as in torchvision. With one level, every box is
//! pooled from it without any mapping.

use super::align::roi_align;
use crate::trainer::box_ops::box_area;
use std::sync::OnceLock;
use tch::{Kind, Tensor};

/// torchvision's `LevelMapper`: box size to pyramid level, relative to the first level given.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelMapper {
    /// `-log2` of the first level's scale (e.g. 2 for stride 4).
    pub k_min: i64,
    /// `-log2` of the last level's scale.
    pub k_max: i64,
    pub canonical_scale: f64,
    pub canonical_level: i64,
    pub eps: f64,
}

impl LevelMapper {
    /// `[K]` int64 level index (0 = the first level) of the boxes of all images, in order, in
    /// torchvision's tensor ops and in the boxes' kind (so that boxes whose `sqrt(area)` sits on
    /// a power of two times the canonical scale land where torchvision puts them).
    pub fn map(&self, boxes: &[Tensor]) -> Tensor {
        let areas: Vec<Tensor> = boxes.iter().map(box_area).collect();
        let s = Tensor::cat(&areas, 0).sqrt();
        let level = ((s / self.canonical_scale).log2() + self.canonical_level as f64 + self.eps)
            .floor()
            .clamp(self.k_min as f64, self.k_max as f64);
        level.to_kind(Kind::Int64) - self.k_min
    }
}

/// What the first call infers: one scale per level and the level mapper.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub scales: Vec<f64>,
    pub mapper: LevelMapper,
}

/// Multi-scale RoIAlign with torchvision's defaults (`canonical_scale` 224, `canonical_level`
/// 4, `aligned = False`); Faster R-CNN uses output size 7 and sampling ratio 2 on FPN levels
/// '0'..'3' (strides 4 to 32).
#[derive(Debug)]
pub struct MultiScaleRoIAlign {
    pub output_size: (i64, i64),
    pub sampling_ratio: i64,
    pub canonical_scale: f64,
    pub canonical_level: i64,
    setup: OnceLock<Setup>,
}

impl MultiScaleRoIAlign {
    /// A square `output_size × output_size` pooler (torchvision's `MultiScaleRoIAlign(names,
    /// output_size, sampling_ratio)`).
    pub fn new(output_size: i64, sampling_ratio: i64) -> MultiScaleRoIAlign {
        MultiScaleRoIAlign {
            output_size: (output_size, output_size),
            sampling_ratio,
            canonical_scale: 224.0,
            canonical_level: 4,
            setup: OnceLock::new(),
        }
    }

    /// The scales and mapper, inferred from `levels` and `image_sizes` on the first call
    /// (torchvision's `_setup_scales`) and reused afterwards.
    pub fn setup(&self, levels: &[Tensor], image_sizes: &[(i64, i64)]) -> &Setup {
        self.setup.get_or_init(|| {
            assert!(
                !image_sizes.is_empty() && !levels.is_empty(),
                "MultiScaleRoIAlign: no images or no feature levels"
            );
            let max_h = image_sizes.iter().map(|s| s.0).max().unwrap_or(0);
            let scales: Vec<f64> = levels.iter().map(|f| infer_scale(f, max_h)).collect();
            // -log2 of a power of two, through float32 and truncated as torchvision does.
            let level = |s: f64| -(s as f32).log2() as i64;
            let mapper = LevelMapper {
                k_min: level(scales[0]),
                k_max: level(scales[scales.len() - 1]),
                canonical_scale: self.canonical_scale,
                canonical_level: self.canonical_level,
                eps: 1e-6,
            };
            Setup { scales, mapper }
        })
    }

    /// Pools `boxes` (one `[Ki, 4]` tensor per image, `(x1, y1, x2, y2)` in image coordinates)
    /// from `levels` (`[N, C, Hl, Wl]` each, finest first) of a batch whose images are
    /// `image_sizes` (height, width) before padding. Returns `[ΣKi, C, oh, ow]` in the boxes'
    /// order.
    pub fn forward(
        &self,
        levels: &[Tensor],
        boxes: &[Tensor],
        image_sizes: &[(i64, i64)],
    ) -> Tensor {
        let setup = self.setup(levels, image_sizes);
        let rois = convert_to_roi_format(boxes);
        let align = |feature: &Tensor, rois: &Tensor, scale: f64| {
            roi_align(
                feature,
                rois,
                self.output_size,
                scale,
                self.sampling_ratio,
                false,
            )
        };
        if levels.len() == 1 {
            return align(&levels[0], &rois, setup.scales[0]);
        }
        let level_of = setup.mapper.map(boxes);
        let (oh, ow) = self.output_size;
        let first = &levels[0];
        let k = rois.size()[0];
        let c = first.size()[1];
        let mut result = Tensor::zeros([k, c, oh, ow], (first.kind(), first.device()));
        for (l, (feature, &scale)) in levels.iter().zip(&setup.scales).enumerate() {
            let idx = level_of.eq(l as i64).nonzero().squeeze_dim(1);
            if idx.size()[0] == 0 {
                continue;
            }
            let pooled = align(feature, &rois.index_select(0, &idx), scale);
            let idx = idx.to_device(result.device());
            let _ = result.index_put_(&[Some(idx)], &pooled.to_kind(result.kind()), false);
        }
        result
    }
}

/// torchvision's `_infer_scale`: the power of two nearest (in log2, through float32, ties to
/// even) to the feature's height over the largest image height.
fn infer_scale(feature: &Tensor, image_height: i64) -> f64 {
    let height = feature.size()[feature.dim() - 2];
    let approx = (height as f64 / image_height as f64) as f32;
    2f64.powf(approx.log2().round_ties_even() as f64)
}

/// torchvision's `_convert_to_roi_format`: `[ΣKi, 5]` rows `(image index, x1, y1, x2, y2)`.
pub fn convert_to_roi_format(boxes: &[Tensor]) -> Tensor {
    let rows: Vec<Tensor> = boxes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let id = b.narrow(1, 0, 1).full_like(i as i64);
            Tensor::cat(&[id, b.shallow_clone()], 1)
        })
        .collect();
    Tensor::cat(&rows, 0)
}
