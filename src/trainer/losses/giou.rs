//! GIoU loss (Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019, Algorithm 2)
//! on decoded boxes `[x1, y1, x2, y2]` in pixels: with `I` the intersection, `U = A_p + A_g − I`
//! the union and `C` the area of the smallest enclosing box,
//! `GIoU = I / (U + ε) − (C − U) / (C + ε)` and `ℓ = 1 − GIoU ∈ [0, 2]`, ε = 1e-7 px².
//! Predicted boxes are ordered by construction (FCOS: ltrb ≥ 0; RetinaNet: exp sizes), so the
//! paper's min/max re-ordering step is not needed. ε keeps the value and the gradient finite for
//! zero-area predictions (an FCOS ReLU output of 0) and for disjoint boxes (I = 0, C > U).

use super::{RegLoss, Space};
use tch::Tensor;

pub const EPS: f64 = 1e-7;

#[derive(Debug, Clone)]
pub struct Giou;

impl RegLoss for Giou {
    fn name(&self) -> &'static str {
        "giou"
    }
    fn space(&self) -> Space {
        Space::Boxes
    }
    fn per_box(&self, p: &Tensor, g: &Tensor) -> Tensor {
        let col = |t: &Tensor, i: i64| t.select(1, i);
        let area = |t: &Tensor| (col(t, 2) - col(t, 0)) * (col(t, 3) - col(t, 1));
        let iw = (col(p, 2).minimum(&col(g, 2)) - col(p, 0).maximum(&col(g, 0))).clamp_min(0.0);
        let ih = (col(p, 3).minimum(&col(g, 3)) - col(p, 1).maximum(&col(g, 1))).clamp_min(0.0);
        let inter = iw * ih;
        let union = area(p) + area(g) - &inter;
        let cw = col(p, 2).maximum(&col(g, 2)) - col(p, 0).minimum(&col(g, 0));
        let ch = col(p, 3).maximum(&col(g, 3)) - col(p, 1).minimum(&col(g, 1));
        let enclose = cw * ch;
        let giou = &inter / (&union + EPS) - (&enclose - &union) / (&enclose + EPS);
        giou.neg() + 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{reduce, RegLoss};
    use super::*;
    use crate::trainer::synth::Rng;

    fn one(p: &[f64], g: &[f64]) -> f64 {
        let iw = (p[2].min(g[2]) - p[0].max(g[0])).max(0.0);
        let ih = (p[3].min(g[3]) - p[1].max(g[1])).max(0.0);
        let i = iw * ih;
        let u = (p[2] - p[0]) * (p[3] - p[1]) + (g[2] - g[0]) * (g[3] - g[1]) - i;
        let c = (p[2].max(g[2]) - p[0].min(g[0])) * (p[3].max(g[3]) - p[1].min(g[1]));
        1.0 - (i / (u + EPS) - (c - u) / (c + EPS))
    }

    fn reference(p: &[f64], g: &[f64], w: &[f64]) -> f64 {
        (0..w.len())
            .map(|i| w[i] * one(&p[i * 4..i * 4 + 4], &g[i * 4..i * 4 + 4]))
            .sum::<f64>()
            / w.iter().sum::<f64>()
    }

    fn boxes(rng: &mut Rng, n: usize) -> Vec<f64> {
        (0..n)
            .flat_map(|_| {
                let v = uniform(rng, 4, 0.0, 20.0);
                [v[0], v[1], v[0] + 1.0 + v[2], v[1] + 1.0 + v[3]]
            })
            .collect()
    }

    #[test]
    fn giou_matches_formula_and_finite_differences() {
        let mut rng = Rng::new(4);
        let (p, g, w) = (
            boxes(&mut rng, 16),
            boxes(&mut rng, 16),
            uniform(&mut rng, 16, 0.1, 1.0),
        );
        let pt = leaf(&p, &[16, 4]);
        let loss = reduce(
            &Giou.per_box(&pt, &constant(&g, &[16, 4])),
            &constant(&w, &[16]),
            w.iter().sum(),
        );
        loss.backward();
        assert_close(
            &[scalar(&loss)],
            &[reference(&p, &g, &w)],
            1e-12,
            "giou value",
        );
        let fd = finite_diff(|p| reference(p, &g, &w), &p, 1e-6);
        assert_close(&to_vec(&pt.grad()), &fd, 1e-6, "giou grad vs fd");
    }

    #[test]
    fn giou_is_finite_for_zero_area_and_disjoint_boxes() {
        #[rustfmt::skip]
        let p = [5.0, 5.0, 5.0, 5.0,   // a point inside the target
                 0.0, 0.0, 0.0, 4.0,   // a zero-width box
                 0.0, 0.0, 2.0, 2.0,   // disjoint from its target
                 3.0, 3.0, 3.0, 3.0]; // a point equal to a point target
        #[rustfmt::skip]
        let g = [0.0, 0.0, 10.0, 10.0,  1.0, 0.0, 3.0, 4.0,  5.0, 5.0, 9.0, 9.0,  3.0, 3.0, 3.0, 3.0];
        let pt = leaf(&p, &[4, 4]);
        let per = Giou.per_box(&pt, &constant(&g, &[4, 4]));
        per.sum(tch::Kind::Double).backward();
        let (v, grad) = (to_vec(&per), to_vec(&pt.grad()));
        assert!(
            v.iter().chain(&grad).all(|x| x.is_finite()),
            "{v:?} {grad:?}"
        );
        assert_close(
            &v[..3],
            &[1.0, 1.0 + (12.0 - 8.0) / 12.0, 1.0 + (81.0 - 20.0) / 81.0],
            1e-6,
            "giou edge values",
        );
        let disjoint_move = grad[8..12].iter().any(|&d| d != 0.0);
        assert!(disjoint_move, "disjoint boxes must still get a gradient");
    }
}
