//! torchvision's `DefaultBoxGenerator` (`models/detection/anchor_utils.py`), SSD's anchors.
//!
//! Feature map `k` has scale `s_k` (`scales[k]`) and, per location, the width–height pairs
//! `(s_k, s_k)`, `(s'_k, s'_k)` with `s'_k = √(s_k s_{k+1})`, then `(s_k √r, s_k / √r)` and
//! `(s_k / √r, s_k √r)` for each aspect ratio `r` of the map (computed in float64, stored as
//! float32, clipped to [0, 1] as `clip=True` does). Centres are `((i + ½) / (W / step_k),
//! (j + ½) / (H / step_k))` in units of the batch's size, row-major then pair; the boxes are
//! `(centre ∓ ½ wh) · (W, H)`, the same for every image.

use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone)]
pub struct DefaultBoxGenerator {
    pub aspect_ratios: Vec<Vec<f64>>,
    /// One more than the feature maps (`s'_k` reads `s_{k+1}`).
    pub scales: Vec<f64>,
    pub steps: Vec<f64>,
    pub clip: bool,
}

impl DefaultBoxGenerator {
    /// `ssd300_vgg16`'s generator.
    pub fn ssd300() -> DefaultBoxGenerator {
        DefaultBoxGenerator {
            aspect_ratios: vec![
                vec![2.0],
                vec![2.0, 3.0],
                vec![2.0, 3.0],
                vec![2.0, 3.0],
                vec![2.0],
                vec![2.0],
            ],
            scales: vec![0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05],
            steps: vec![8.0, 16.0, 32.0, 64.0, 100.0, 300.0],
            clip: true,
        }
    }

    /// Default boxes per location of each feature map (`2 + 2 · ratios`).
    pub fn per_location(&self) -> Vec<i64> {
        self.aspect_ratios
            .iter()
            .map(|r| 2 + 2 * r.len() as i64)
            .collect()
    }

    /// `[n, 2]` width–height pairs of map `k` (torchvision's `_wh_pairs[k]`, clipped).
    fn wh_pairs(&self, k: usize) -> Tensor {
        let s = self.scales[k];
        let s_prime = (s * self.scales[k + 1]).sqrt();
        let mut pairs = vec![s, s, s_prime, s_prime];
        for &ar in &self.aspect_ratios[k] {
            let sq = ar.sqrt();
            let (w, h) = (s * sq, s / sq);
            pairs.extend([w, h, h, w]);
        }
        let t =
            Tensor::from_slice(&pairs.iter().map(|&v| v as f32).collect::<Vec<_>>()).view([-1, 2]);
        if self.clip {
            t.clamp(0.0, 1.0)
        } else {
            t
        }
    }

    /// The default boxes `[Σ H·W·n, 4]` (x1, y1, x2, y2 in pixels) of a batch of size
    /// `(height, width)` whose feature maps have the given `(H, W)`.
    pub fn boxes(&self, batch_hw: (i64, i64), grids: &[(i64, i64)], device: Device) -> Tensor {
        let (ih, iw) = batch_hw;
        let per_map: Vec<Tensor> = grids
            .iter()
            .enumerate()
            .map(|(k, &(gh, gw))| {
                let (xf, yf) = (iw as f64 / self.steps[k], ih as f64 / self.steps[k]);
                let opts = (Kind::Int64, Device::Cpu);
                let sx = (Tensor::arange(gw, opts) + 0.5) / xf;
                let sy = (Tensor::arange(gh, opts) + 0.5) / yf;
                let g = Tensor::meshgrid_indexing(&[sy, sx], "ij");
                let (y, x) = (g[0].reshape([-1]), g[1].reshape([-1]));
                let wh = self.wh_pairs(k);
                let n = wh.size()[0];
                let centres = Tensor::stack(&[x, y], 1)
                    .unsqueeze(1)
                    .expand([-1, n, 2], false)
                    .reshape([-1, 2]);
                Tensor::cat(&[centres, wh.repeat([gh * gw, 1])], 1)
            })
            .collect();
        let d = Tensor::cat(&per_map, 0);
        let size = Tensor::from_slice(&[iw, ih]);
        let (c, wh) = (d.narrow(1, 0, 2), d.narrow(1, 2, 2));
        let half = &wh * 0.5;
        Tensor::cat(&[(&c - &half) * &size, (&c + &half) * &size], 1).to_device(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssd300_has_8732_default_boxes_and_torchvisions_first_ones() {
        let g = DefaultBoxGenerator::ssd300();
        assert_eq!(g.per_location(), vec![4, 6, 6, 6, 4, 4]);
        let grids = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)];
        let b = g.boxes((300, 300), &grids, Device::Cpu);
        assert_eq!(b.size(), vec![8732, 4]);
        // First location of map 0: centre (4, 4) px, side 0.07 · 300 = 21 px.
        let v = Vec::<f32>::try_from(b.narrow(0, 0, 1).flatten(0, -1)).unwrap();
        for (a, e) in v.iter().zip([-6.5f32, -6.5, 14.5, 14.5]) {
            assert!((a - e).abs() < 1e-4, "{v:?}");
        }
        // The last box: the 1×1 map's (s/√2, s√2) pair, its height s√2 > 1 clipped to 1.
        let last = Vec::<f32>::try_from(b.get(8731)).unwrap();
        assert!((last[2] - last[0] - (0.87 / 2f32.sqrt()) * 300.0).abs() < 1e-3);
    }
}
