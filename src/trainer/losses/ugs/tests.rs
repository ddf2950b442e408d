//! UGS unit tests: the IN map, the grid, two-hot labels, the two terms' values and gradients,
//! and the UR perturbation.

use super::*;
use crate::trainer::losses::testutil::*;
use crate::trainer::synth::Rng;

#[test]
fn in_map_keeps_the_ends_is_monotone_and_packs_points_near_zero() {
    for &(alpha, beta) in &[(8.0, 0.5), (1.0, 3.0), (2.0, 0.01)] {
        assert!((in_map(alpha, alpha, beta) - alpha).abs() < 1e-12);
        assert!((in_map(-alpha, alpha, beta) + alpha).abs() < 1e-12);
        assert_eq!(in_map(0.0, alpha, beta), 0.0);
        let u: Vec<f64> = (-100..=100).map(|k| alpha * k as f64 / 100.0).collect();
        let y: Vec<f64> = u.iter().map(|&v| in_map(v, alpha, beta)).collect();
        assert!(y.windows(2).all(|w| w[1] > w[0]), "monotone");
        assert!(
            u.iter().zip(&y).all(|(u, y)| y.abs() <= u.abs() + 1e-12),
            "pulled towards 0"
        );
    }
    // larger β: the first interval is smaller
    let first = |beta: f64| Grid::new(16, 8.0, beta, true, false).points[1];
    assert!(first(1.0) < first(0.5) && first(0.5) < first(0.1) && first(0.1) < 0.5);
}

#[test]
fn grids_span_the_half_or_the_full_range() {
    let g = Grid::new(4, 2.0, 1.0, false, false);
    assert_eq!(g.points, [0.0, 0.5, 1.0, 1.5, 2.0]);
    let g = Grid::new(4, 2.0, 1.0, false, true);
    assert_eq!(g.points, [-2.0, -1.0, 0.0, 1.0, 2.0]);
    let g = Grid::new(4, 2.0, 1.0, true, true);
    let want = [
        -2.0,
        -in_map(1.0, 2.0, 1.0),
        0.0,
        in_map(1.0, 2.0, 1.0),
        2.0,
    ];
    assert_close(&g.points, &want, 1e-15, "signed IN grid");
}

#[test]
fn two_hot_labels_sum_to_one_on_the_neighbouring_points() {
    let mut rng = Rng::new(4);
    for (in_labels, signed) in [(false, false), (true, false), (true, true)] {
        let grid = Grid::new(16, 8.0, 0.5, in_labels, signed);
        let mut t = uniform(&mut rng, 200, if signed { -9.0 } else { -0.5 }, 9.0);
        t.extend([0.0, 8.0, grid.points[3], grid.points[16]]); // on grid points and the ends
        let dense = to_vec(&grid.dense(&constant(&t, &[t.len() as i64])));
        for (i, &y) in t.iter().enumerate() {
            let row = &dense[i * 17..(i + 1) * 17];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "sums to one");
            let c = y.clamp(grid.points[0], grid.points[16]);
            let mass: Vec<usize> = (0..17).filter(|&k| row[k] > 0.0).collect();
            assert!(mass.len() <= 2, "{y}: {row:?}");
            for &k in &mass {
                // every bin with mass is one of the two points around the (clamped) target
                let lo = grid.points[k.saturating_sub(1)];
                let hi = grid.points[(k + 1).min(16)];
                assert!(
                    lo <= c && c <= hi,
                    "{y} has mass on bin {k} of {:?}",
                    grid.points
                );
            }
            let expect: f64 = row.iter().zip(&grid.points).map(|(p, y)| p * y).sum();
            assert!((expect - c).abs() < 1e-9, "expectation {expect} vs {c}");
        }
    }
}

/// Reference in f64: log-softmax, two-hot CE and entropy of one `[4, n + 1]` row set.
fn reference(logits: &[f64], targets: &[f64], grid: &Grid) -> (f64, f64) {
    let b = grid.points.len();
    let dense = to_vec(&grid.dense(&constant(targets, &[4])));
    let (mut ce, mut h) = (0.0, 0.0);
    for s in 0..4 {
        let z = &logits[s * b..(s + 1) * b];
        let m = z.iter().cloned().fold(f64::MIN, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        for k in 0..b {
            let lp = z[k] - lse;
            ce -= dense[s * b + k] * lp;
            h -= lp.exp() * lp;
        }
    }
    (ce, h)
}

#[test]
fn ce_and_entropy_match_reference_and_their_closed_form_gradients() {
    let mut rng = Rng::new(6);
    let spec = UgsSpec {
        n: 8,
        alpha: 4.0,
        in_labels: true,
        ..Default::default()
    };
    let ugs = Ugs::new(&spec, false);
    let (p, b) = (3usize, 9usize);
    let x = uniform(&mut rng, p * 4 * b, -2.0, 2.0);
    let t = uniform(&mut rng, p * 4, 0.0, 4.5);
    let xt = leaf(&x, &[p as i64, 4, b as i64]);
    let terms = ugs.terms(&xt, &constant(&t, &[p as i64, 4]));
    let (ce, um) = (to_vec(&terms.ce), to_vec(&terms.um));
    for i in 0..p {
        let (c, h) = reference(
            &x[i * 4 * b..(i + 1) * 4 * b],
            &t[i * 4..(i + 1) * 4],
            &ugs.grid,
        );
        assert_close(&[ce[i], um[i]], &[c, h], 1e-12, "ce, entropy");
    }
    // ∂L_CE/∂z = softmax − two-hot (bounded in [−1, 1]); ∂H/∂z_k = −p_k (log p_k + H)
    terms.ce.sum(Kind::Double).backward();
    let probs = to_vec(&xt.softmax(-1, Kind::Double));
    let dense = to_vec(&ugs.grid.dense(&constant(&t, &[p as i64, 4])));
    let want: Vec<f64> = probs.iter().zip(&dense).map(|(p, d)| p - d).collect();
    assert_close(&to_vec(&xt.grad()), &want, 1e-12, "CE grad");
    let xt = leaf(&x, &[p as i64, 4, b as i64]);
    ugs.terms(&xt, &constant(&t, &[p as i64, 4]))
        .um
        .sum(Kind::Double)
        .backward();
    let want: Vec<f64> = (0..x.len())
        .map(|k| {
            let side = k / b;
            let h: f64 = (0..b)
                .map(|m| -probs[side * b + m] * probs[side * b + m].ln())
                .sum();
            -probs[k] * (probs[k].ln() + h)
        })
        .collect();
    assert_close(&to_vec(&xt.grad()), &want, 1e-12, "entropy grad");
}

#[test]
fn ur_perturbation_has_norm_rho_per_level() {
    let mut rng = Rng::new(2);
    let a = leaf(&uniform(&mut rng, 2 * 3 * 4 * 4, -1.0, 1.0), &[2, 3, 4, 4]);
    let b = leaf(&uniform(&mut rng, 2 * 3 * 2 * 2, -1.0, 1.0), &[2, 3, 2, 2]);
    let unused = leaf(&[1.0, 2.0], &[1, 2, 1, 1]);
    let loss = (a.sin().sum(Kind::Double) + b.square().sum(Kind::Double) * 3.0).exp();
    for rho in [0.5, 2.0] {
        let eps = perturbation(
            &[a.shallow_clone(), b.shallow_clone(), unused.shallow_clone()],
            &loss,
            rho,
            UrScope::Level,
        );
        for e in &eps[..2] {
            assert!((scalar(&e.norm()) - rho).abs() < 1e-12, "‖ε‖ = ρ");
            assert!(!e.requires_grad());
        }
        assert_eq!(
            to_vec(&eps[2]),
            [0.0, 0.0],
            "an unused level is not perturbed"
        );
        // the direction is the gradient's: ε_a ∝ cos(a)
        let cos = to_vec(&a.cos());
        let ea = to_vec(&eps[0]);
        let k = ea[0] / cos[0];
        assert!(ea.iter().zip(&cos).all(|(e, c)| (e - k * c).abs() < 1e-12) && k > 0.0);
    }
    // the graph is kept: the loss can still be back-propagated
    loss.backward();
    assert!(a.grad().defined());
}

/// `ur_scope: image`: each image's slice of each level has norm ρ, its direction is that
/// image's gradient (a hand-written gradient, not autograd's), and an image without loss is not
/// moved.
#[test]
fn ur_perturbation_has_norm_rho_per_image_and_level() {
    let mut rng = Rng::new(3);
    let (av, bv) = (
        uniform(&mut rng, 3 * 2 * 4 * 4, -1.0, 1.0),
        uniform(&mut rng, 3 * 2 * 2 * 2, -1.0, 1.0),
    );
    let a = leaf(&av, &[3, 2, 4, 4]);
    let b = leaf(&bv, &[3, 2, 2, 2]);
    // Image 2 does not enter the loss: L = Σ_{images 0, 1} (sin a + 3 b²).
    let used = |t: &Tensor| t.narrow(0, 0, 2);
    let loss = used(&a).sin().sum(Kind::Double) + used(&b).square().sum(Kind::Double) * 3.0;
    let rho = 0.5;
    let eps = perturbation(
        &[a.shallow_clone(), b.shallow_clone()],
        &loss,
        rho,
        UrScope::Image,
    );
    let grads: [Vec<f64>; 2] = [
        av.iter().map(|x| x.cos()).collect(),
        bv.iter().map(|x| 6.0 * x).collect(),
    ];
    for (level, e) in eps.iter().enumerate() {
        let e = to_vec(e);
        let per = e.len() / 3;
        for img in 0..3 {
            let slice = &e[img * per..(img + 1) * per];
            let norm = slice.iter().map(|v| v * v).sum::<f64>().sqrt();
            if img == 2 {
                assert_eq!(norm, 0.0, "an image without loss is not moved");
                continue;
            }
            assert!(
                (norm - rho).abs() < 1e-12,
                "level {level} image {img}: ‖ε‖ = {norm}"
            );
            let g = &grads[level][img * per..(img + 1) * per];
            let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            let want: Vec<f64> = g.iter().map(|v| rho * v / gn).collect();
            assert_close(slice, &want, 1e-12, "ε = ρ g / ‖g‖ per image");
        }
    }
    // The batch-wide norm of the level scope is larger: per image it moves less.
    let level = perturbation(&[a.shallow_clone()], &loss, rho, UrScope::Level);
    let first: f64 = to_vec(&level[0])[..32]
        .iter()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt();
    assert!(first < rho, "level scope splits ρ over the batch: {first}");
}
