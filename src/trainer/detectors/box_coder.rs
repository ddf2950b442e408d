//! torchvision's `BoxCoder` (`models/detection/_utils.py`): anchor-relative deltas
//! `(wx·dx, wy·dy, ww·dw, wh·dh)` with centres at `x1 + ½w`, and `dw`, `dh` clamped at
//! `ln(1000 / 16)` before `exp` when decoding.

use tch::Tensor;

#[derive(Debug, Clone, Copy)]
pub struct BoxCoder {
    pub weights: [f64; 4],
    pub clip: f64,
}

impl BoxCoder {
    /// RetinaNet's coder: weights (1, 1, 1, 1).
    pub fn retinanet() -> BoxCoder {
        BoxCoder {
            weights: [1.0; 4],
            clip: (1000.0f64 / 16.0).ln(),
        }
    }

    /// SSD's coder: weights (10, 10, 5, 5).
    pub fn ssd() -> BoxCoder {
        BoxCoder {
            weights: [10.0, 10.0, 5.0, 5.0],
            ..BoxCoder::retinanet()
        }
    }

    /// Deltas `[P, 4]` that move `anchors [P, 4]` onto `gt [P, 4]` (`encode_single`).
    pub fn encode(&self, gt: &Tensor, anchors: &Tensor) -> Tensor {
        let c = |t: &Tensor, i: i64| t.select(1, i).unsqueeze(1);
        let [wx, wy, ww, wh] = self.weights;
        let (ew, eh) = (c(anchors, 2) - c(anchors, 0), c(anchors, 3) - c(anchors, 1));
        let (ex, ey) = (c(anchors, 0) + &ew * 0.5, c(anchors, 1) + &eh * 0.5);
        let (gw, gh) = (c(gt, 2) - c(gt, 0), c(gt, 3) - c(gt, 1));
        let (gx, gy) = (c(gt, 0) + &gw * 0.5, c(gt, 1) + &gh * 0.5);
        let dx = (gx - ex) * wx / &ew;
        let dy = (gy - ey) * wy / &eh;
        let dw = (gw / ew).log() * ww;
        let dh = (gh / eh).log() * wh;
        Tensor::cat(&[dx, dy, dw, dh], 1)
    }

    /// Boxes `[P, 4]` of `deltas [P, 4]` applied to `anchors [P, 4]` (`decode_single`).
    pub fn decode(&self, deltas: &Tensor, anchors: &Tensor) -> Tensor {
        let anchors = anchors.to_kind(deltas.kind());
        let a = |i: i64| anchors.select(1, i);
        let (w, h) = (a(2) - a(0), a(3) - a(1));
        let (cx, cy) = (a(0) + &w * 0.5, a(1) + &h * 0.5);
        let [wx, wy, ww, wh] = self.weights;
        let d = |i: i64| deltas.select(1, i);
        let dx = d(0) / wx;
        let dy = d(1) / wy;
        let dw = (d(2) / ww).clamp_max(self.clip);
        let dh = (d(3) / wh).clamp_max(self.clip);
        let px = dx * &w + cx;
        let py = dy * &h + cy;
        let pw = dw.exp() * w;
        let ph = dh.exp() * h;
        let (hw, hh) = (pw * 0.5, ph * 0.5);
        Tensor::stack(&[&px - &hw, &py - &hh, px + hw, py + hh], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_inverts_encode() {
        let coder = BoxCoder::retinanet();
        let anchors = Tensor::from_slice(&[0f32, 0., 32., 32., 10., 20., 50., 40.]).view([2, 4]);
        let gt = Tensor::from_slice(&[4f32, 2., 30., 40., 12., 18., 60., 44.]).view([2, 4]);
        let back = coder.decode(&coder.encode(&gt, &anchors), &anchors);
        assert!(back.allclose(&gt, 1e-5, 1e-4, false));
    }
}
