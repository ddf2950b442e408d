//! torchvision's `AnchorGenerator` (`models/detection/anchor_utils.py`).
//!
//! Cell anchors of a level, for sizes `s` and aspect ratios `r` (h / w): `h_ratio = √r`,
//! `w_ratio = 1 / h_ratio`, `ws = w_ratio ⊗ s`, `hs = h_ratio ⊗ s` (ratio-major, then size),
//! `round([−ws, −hs, ws, hs] / 2)` in float32. They are shifted to every location `(x·sx, y·sy)`
//! of the level (the cell's top-left corner, not its centre), where the stride is the padded
//! batch size divided (integer division) by the level's size, row-major then anchor.

use tch::{Device, Kind, Tensor};

/// RetinaNet's sizes (`_default_anchorgen`): `(x, int(x·2^(1/3)), int(x·2^(2/3)))` for
/// `x` in `bases`.
pub fn octave_sizes(bases: &[f64], scales_per_octave: u32) -> Vec<Vec<f64>> {
    bases
        .iter()
        .map(|&x| {
            (0..scales_per_octave)
                .map(|k| {
                    if k == 0 {
                        x
                    } else {
                        (x * 2f64.powf(k as f64 / scales_per_octave as f64)).trunc()
                    }
                })
                .collect()
        })
        .collect()
}

#[derive(Debug)]
pub struct AnchorGenerator {
    /// `[A, 4]` per level.
    cell_anchors: Vec<Tensor>,
}

impl AnchorGenerator {
    /// One list of sizes per level, the same aspect ratios on every level.
    pub fn new(sizes: &[Vec<f64>], aspect_ratios: &[f64]) -> AnchorGenerator {
        let ar = Tensor::from_slice(&aspect_ratios.iter().map(|&r| r as f32).collect::<Vec<_>>());
        let cell_anchors = sizes
            .iter()
            .map(|s| {
                let scales = Tensor::from_slice(&s.iter().map(|&v| v as f32).collect::<Vec<_>>());
                let h_ratios = ar.sqrt();
                let w_ratios = h_ratios.reciprocal();
                let ws = (w_ratios.unsqueeze(1) * scales.unsqueeze(0)).view([-1]);
                let hs = (h_ratios.unsqueeze(1) * scales.unsqueeze(0)).view([-1]);
                (Tensor::stack(&[-&ws, -&hs, ws, hs], 1) / 2.0).round()
            })
            .collect();
        AnchorGenerator { cell_anchors }
    }

    /// Anchors per location of each level.
    pub fn per_location(&self) -> i64 {
        self.cell_anchors[0].size()[0]
    }

    /// The anchors `[Σ H·W·A, 4]` of a padded batch of size `(height, width)` whose levels have
    /// the given `(H, W)`, one tensor per level.
    pub fn grid_anchors(
        &self,
        batch_hw: (i64, i64),
        grids: &[(i64, i64)],
        device: Device,
    ) -> Vec<Tensor> {
        grids
            .iter()
            .zip(&self.cell_anchors)
            .map(|(&(gh, gw), base)| {
                let (sy, sx) = (batch_hw.0 / gh, batch_hw.1 / gw);
                let opts = (Kind::Float, device);
                let shifts_x = Tensor::arange(gw, opts) * sx as f64;
                let shifts_y = Tensor::arange(gh, opts) * sy as f64;
                let g = Tensor::meshgrid_indexing(&[shifts_y, shifts_x], "ij");
                let (y, x) = (g[0].reshape([-1]), g[1].reshape([-1]));
                let shifts = Tensor::stack(&[&x, &y, &x, &y], 1);
                (shifts.view([-1, 1, 4]) + base.to_device(device).view([1, -1, 4])).reshape([-1, 4])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retinanet_sizes_are_torchvisions() {
        let s = octave_sizes(&[32.0, 64.0, 128.0, 256.0, 512.0], 3);
        assert_eq!(s[0], vec![32.0, 40.0, 50.0]);
        assert_eq!(s[2], vec![128.0, 161.0, 203.0]);
        assert_eq!(s[4], vec![512.0, 645.0, 812.0]);
    }

    #[test]
    fn cell_anchors_are_ratio_major_and_rounded() {
        let g = AnchorGenerator::new(&[vec![32.0, 40.0]], &[0.5, 1.0]);
        let a = Vec::<f32>::try_from(g.cell_anchors[0].flatten(0, -1)).unwrap();
        // ratio 0.5: w = 32·√2 = 45.25 → ±23 (rounded), h = 32/√2 → ±11.
        assert_eq!(&a[..4], &[-23.0, -11.0, 23.0, 11.0]);
        assert_eq!(&a[8..12], &[-16.0, -16.0, 16.0, 16.0]);
    }
}
