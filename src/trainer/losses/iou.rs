//! IoU loss on decoded boxes `[x1, y1, x2, y2]` (pixels), and the box geometry the IoU family
//! shares ([`Geometry`]; GIoU keeps its own, older, copy in `giou.rs`).
//!
//! `IoU = I / (U + ε)`, ε = 1e-7 px² (torchvision's), `I` the intersection (clamped at 0),
//! `U = A_p + A_g − I`. Two forms (UnitBox, Yu et al. 2016; the UGS supplementary's Eq. 7):
//! `log`: `−ln max(IoU, 1e-6)` (the clamp, as mmdetection's `IoULoss`, keeps disjoint boxes at a
//! finite 13.8 with zero gradient, the known weakness GIoU/DIoU fix); `linear`: `1 − IoU`.
//! Predicted boxes are ordered by construction (FCOS: ltrb ≥ 0; RetinaNet: exp sizes).

use super::{RegLoss, Space};
use crate::spec::config::IouForm;
use tch::Tensor;

pub const EPS: f64 = 1e-7;
/// Floor of the IoU inside the logarithm.
pub const LOG_FLOOR: f64 = 1e-6;

/// Overlap and enclosure of two box sets `[P, 4]`.
#[derive(Debug)]
pub struct Geometry {
    pub iou: Tensor,
    /// Squared distance between the centres.
    pub centre_dist2: Tensor,
    /// Squared diagonal of the smallest enclosing box, + ε.
    pub diag2: Tensor,
}

fn col(t: &Tensor, i: i64) -> Tensor {
    t.select(1, i)
}

impl Geometry {
    pub fn new(p: &Tensor, g: &Tensor) -> Geometry {
        let area = |t: &Tensor| (col(t, 2) - col(t, 0)) * (col(t, 3) - col(t, 1));
        let iw = (col(p, 2).minimum(&col(g, 2)) - col(p, 0).maximum(&col(g, 0))).clamp_min(0.0);
        let ih = (col(p, 3).minimum(&col(g, 3)) - col(p, 1).maximum(&col(g, 1))).clamp_min(0.0);
        let inter = iw * ih;
        let union = area(p) + area(g) - &inter;
        let cw = col(p, 2).maximum(&col(g, 2)) - col(p, 0).minimum(&col(g, 0));
        let ch = col(p, 3).maximum(&col(g, 3)) - col(p, 1).minimum(&col(g, 1));
        let dx = (col(p, 0) + col(p, 2) - col(g, 0) - col(g, 2)) * 0.5;
        let dy = (col(p, 1) + col(p, 3) - col(g, 1) - col(g, 3)) * 0.5;
        Geometry {
            iou: inter / (union + EPS),
            centre_dist2: dx.square() + dy.square(),
            diag2: cw.square() + ch.square() + EPS,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Iou {
    pub form: IouForm,
}

impl RegLoss for Iou {
    fn name(&self) -> &'static str {
        "iou"
    }
    fn space(&self) -> Space {
        Space::Boxes
    }
    fn per_box(&self, p: &Tensor, g: &Tensor) -> Tensor {
        let iou = Geometry::new(p, g).iou;
        match self.form {
            IouForm::Log => iou.clamp_min(LOG_FLOOR).log().neg(),
            IouForm::Linear => iou.neg() + 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::trainer::synth::Rng;

    pub fn one_iou(p: &[f64], g: &[f64]) -> f64 {
        let iw = (p[2].min(g[2]) - p[0].max(g[0])).max(0.0);
        let ih = (p[3].min(g[3]) - p[1].max(g[1])).max(0.0);
        let i = iw * ih;
        let u = (p[2] - p[0]) * (p[3] - p[1]) + (g[2] - g[0]) * (g[3] - g[1]) - i;
        i / (u + EPS)
    }

    #[test]
    fn iou_forms_match_formula_and_finite_differences() {
        let mut rng = Rng::new(8);
        let boxes = |rng: &mut Rng| -> Vec<f64> {
            (0..12)
                .flat_map(|_| {
                    let v = uniform(rng, 4, 0.0, 10.0);
                    [v[0], v[1], v[0] + 4.0 + v[2], v[1] + 4.0 + v[3]]
                })
                .collect()
        };
        let (p, g) = (boxes(&mut rng), boxes(&mut rng));
        for form in [IouForm::Log, IouForm::Linear] {
            let f = |p: &[f64]| -> f64 {
                (0..12)
                    .map(|i| {
                        let iou = one_iou(&p[i * 4..i * 4 + 4], &g[i * 4..i * 4 + 4]);
                        match form {
                            IouForm::Log => -iou.max(LOG_FLOOR).ln(),
                            IouForm::Linear => 1.0 - iou,
                        }
                    })
                    .sum()
            };
            let pt = leaf(&p, &[12, 4]);
            let l = Iou { form }
                .per_box(&pt, &constant(&g, &[12, 4]))
                .sum(tch::Kind::Double);
            l.backward();
            assert_close(&[scalar(&l)], &[f(&p)], 1e-12, "iou value");
            assert_close(
                &to_vec(&pt.grad()),
                &finite_diff(f, &p, 1e-6),
                1e-6,
                "iou grad",
            );
        }
    }

    #[test]
    fn iou_is_finite_for_zero_area_and_disjoint_boxes() {
        let p = [5.0, 5.0, 5.0, 5.0, 0.0, 0.0, 2.0, 2.0];
        let g = [0.0, 0.0, 10.0, 10.0, 5.0, 5.0, 9.0, 9.0];
        for form in [IouForm::Log, IouForm::Linear] {
            let pt = leaf(&p, &[2, 4]);
            let per = Iou { form }.per_box(&pt, &constant(&g, &[2, 4]));
            per.sum(tch::Kind::Double).backward();
            let v = to_vec(&per);
            assert!(
                v.iter().chain(&to_vec(&pt.grad())).all(|x| x.is_finite()),
                "{v:?}"
            );
            let want = if form == IouForm::Log {
                -LOG_FLOOR.ln()
            } else {
                1.0
            };
            assert_close(&v, &[want, want], 1e-12, "iou at zero overlap");
        }
    }
}
