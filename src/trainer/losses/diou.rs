//! DIoU and CIoU losses (Zheng et al., "Distance-IoU Loss", AAAI 2020; the ALWA paper's
//! Eq. 4–7) on decoded boxes `[x1, y1, x2, y2]`, written as torchvision's
//! `distance_box_iou_loss` / `complete_box_iou_loss` (ε = 1e-7), which the golden tests compare
//! against:
//! `DIoU = 1 − IoU + ρ²(b, b_gt) / (c² + ε)`, ρ the distance of the centres, c the diagonal of
//! the smallest enclosing box; `CIoU = DIoU + α·v`,
//! `v = 4/π² · (atan(w_gt/h_gt) − atan(w/h))²`, `α = v / (1 − IoU + v + ε)` taken as a constant
//! (no gradient; torchvision and mmdetection do the same, following the paper's treatment).
//! One change for zero-height boxes (an FCOS prediction of 0): the ratios are `w/(h + ε)`, so a
//! point box gives `atan(0) = 0` and a finite gradient where torchvision divides by zero.

use super::iou::{Geometry, EPS};
use super::{RegLoss, Space};
use std::f64::consts::PI;
use tch::Tensor;

#[derive(Debug, Clone)]
pub struct Diou;

#[derive(Debug, Clone)]
pub struct Ciou;

fn diou(p: &Tensor, g: &Tensor) -> (Tensor, Tensor) {
    let geo = Geometry::new(p, g);
    let loss = geo.iou.neg() + 1.0 + geo.centre_dist2 / geo.diag2;
    (loss, geo.iou)
}

impl RegLoss for Diou {
    fn name(&self) -> &'static str {
        "diou"
    }
    fn space(&self) -> Space {
        Space::Boxes
    }
    fn per_box(&self, p: &Tensor, g: &Tensor) -> Tensor {
        diou(p, g).0
    }
}

impl RegLoss for Ciou {
    fn name(&self) -> &'static str {
        "ciou"
    }
    fn space(&self) -> Space {
        Space::Boxes
    }
    fn per_box(&self, p: &Tensor, g: &Tensor) -> Tensor {
        let (d, iou) = diou(p, g);
        let aspect = |t: &Tensor| {
            let w = t.select(1, 2) - t.select(1, 0);
            let h = t.select(1, 3) - t.select(1, 1);
            (w / (h + EPS)).atan()
        };
        let v = (aspect(g) - aspect(p)).square() * (4.0 / (PI * PI));
        let alpha = tch::no_grad(|| &v / (iou.neg() + 1.0 + &v + EPS));
        d + alpha * v
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn diou_and_ciou_are_finite_for_zero_area_and_disjoint_boxes() {
        #[rustfmt::skip]
        let p = [5.0, 5.0, 5.0, 5.0,   0.0, 0.0, 0.0, 4.0,   0.0, 0.0, 2.0, 2.0];
        #[rustfmt::skip]
        let g = [0.0, 0.0, 10.0, 10.0, 1.0, 0.0, 3.0, 4.0,   5.0, 5.0, 9.0, 9.0];
        for loss in [&Diou as &dyn RegLoss, &Ciou] {
            let pt = leaf(&p, &[3, 4]);
            let per = loss.per_box(&pt, &constant(&g, &[3, 4]));
            per.sum(tch::Kind::Double).backward();
            let (v, grad) = (to_vec(&per), to_vec(&pt.grad()));
            assert!(
                v.iter().chain(&grad).all(|x| x.is_finite()),
                "{v:?} {grad:?}"
            );
            assert!(
                grad[8..12].iter().any(|&d| d != 0.0),
                "disjoint boxes get a gradient"
            );
        }
        // DIoU of the disjoint pair by hand: centres (1, 1) and (7, 7), enclosure 9 × 9.
        let per = Diou.per_box(&constant(&p, &[3, 4]), &constant(&g, &[3, 4]));
        assert_close(
            &[to_vec(&per)[2]],
            &[1.0 + 72.0 / (162.0 + EPS)],
            1e-12,
            "diou",
        );
    }
}
