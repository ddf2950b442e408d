//! FCOS target assignment (Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection",
//! ICCV 2019, with the center-sampling and normalised-targets improvements of its repository).
//!
//! A location `(x, y)` of level `l` (stride `s`) is positive for a ground-truth box when
//! 1. it lies inside the box (`min(l, t, r, b) > 0`, ltrb the distances to the four sides);
//! 2. with center sampling (radius `ρ > 0`), it also lies within `ρ · s` of the box centre on both
//!    axes (the region clipped to the box, as in the FCOS repository);
//! 3. `max(l, t, r, b)` is in the level's range `(lo_l, hi_l]`: FCOS's own bounds, 8 strides,
//!    i.e. `(0, 64]`, `(64, 128]`, `(128, ∞)` px for P3, P4, P5 (FCOS: 0, 64, 128, 256, 512, ∞
//!    for P3–P7). They are kept in pixels, not scaled with the image, because the object sizes
//!    of the synthetic set are given in pixels too. Measured at the defaults (128 px, 6–78 px
//!    objects, 800 iterations, focal + GIoU, seed 0): bounds scaled to the image, `(0, S/8]`,
//!    `(S/8, S/4]`, gave AP 0.120; `(0, S/4]`, `(S/4, S/2]` 0.178; 3S/8, 3S/4 0.221; 8 strides
//!    0.229; 12 strides 0.221. Most objects thus sit on P3 (the finest level): more positives
//!    per object and finer features beat spreading them over coarse levels.
//!
//! A location claimed by several boxes takes the smallest (ties: the earlier box). A box that
//! gets no location at all (narrower than a stride, falling between the P3 points) takes its
//! nearest P3 location if that one is still background: without this ~5 % of the objects (the
//! 6–8 px ones) would never be trained. Its encoded target is ltrb clamped at 0 (the point may
//! lie up to a pixel outside the box; GIoU uses the true box) and its center-ness target is 1
//! (it is the most central location the box has).
//!
//! Targets: ltrb / stride (the head's output unit), center-ness
//! `sqrt(min(l, r)/max(l, r) · min(t, b)/max(t, b))`; the regression weight of a positive is its
//! center-ness target when the branch is on (as in the FCOS repository), else 1.

use super::priors::{levels, Assignment, Level};
use super::synth::Object;

/// Upper bound of a level's `max(l, t, r, b)` range in strides (FCOS: 64 px on stride-8 P3).
pub const RANGE_PER_STRIDE: f32 = 8.0;

#[derive(Debug)]
pub struct Fcos {
    pub levels: Vec<Level>,
    pub priors: Vec<[f32; 4]>,
    /// `(lo, hi]` of `max(l, t, r, b)` per level.
    pub ranges: Vec<(f32, f32)>,
    pub radius: f32,
    pub centerness: bool,
}

impl Fcos {
    pub fn new(size: usize, radius: f32, centerness: bool) -> Fcos {
        let levels = levels(size, 1);
        let mut priors = Vec::new();
        for l in &levels {
            for y in 0..l.side {
                for x in 0..l.side {
                    let s = l.stride;
                    priors.push([s * (x as f32 + 0.5), s * (y as f32 + 0.5), s, s]);
                }
            }
        }
        let n = levels.len();
        let ranges = (0..n)
            .map(|i| {
                let lo = if i == 0 {
                    0.0
                } else {
                    RANGE_PER_STRIDE * levels[i - 1].stride
                };
                (
                    lo,
                    if i + 1 == n {
                        f32::INFINITY
                    } else {
                        RANGE_PER_STRIDE * levels[i].stride
                    },
                )
            })
            .collect();
        Fcos {
            levels,
            priors,
            ranges,
            radius,
            centerness,
        }
    }

    /// Appends the targets of one image (positions relative to the image) to `a`.
    pub fn assign_image(&self, objs: &[Object], a: &mut Assignment) {
        let mut best: Vec<Option<usize>> = vec![None; self.priors.len()];
        let mut got = vec![false; objs.len()];
        for (li, lv) in self.levels.iter().enumerate() {
            let (lo, hi) = self.ranges[li];
            for (n, &[px, py, s, _]) in self.priors.iter().enumerate().skip(lv.start).take(lv.len) {
                for (g, o) in objs.iter().enumerate() {
                    let b = o.bbox;
                    let d = [px - b[0], py - b[1], b[2] - px, b[3] - py];
                    let (dmin, dmax) = (
                        d.iter().fold(f32::MAX, |m, &v| m.min(v)),
                        d.iter().fold(0f32, |m, &v| m.max(v)),
                    );
                    if dmin <= 0.0 || dmax <= lo || dmax > hi {
                        continue;
                    }
                    if self.radius > 0.0 {
                        let (cx, cy, r) =
                            ((b[0] + b[2]) * 0.5, (b[1] + b[3]) * 0.5, self.radius * s);
                        if (px - cx).abs() >= r || (py - cy).abs() >= r {
                            continue;
                        }
                    }
                    let area = (b[2] - b[0]) * (b[3] - b[1]);
                    if best[n].is_none_or(|h| area < area_of(&objs[h])) {
                        best[n] = Some(g);
                    }
                }
                if let Some(g) = best[n] {
                    got[g] = true;
                }
            }
        }
        let mut fallback = vec![false; self.priors.len()];
        let p3 = &self.levels[0];
        for (g, o) in objs.iter().enumerate() {
            if got[g] {
                continue;
            }
            let b = o.bbox;
            let cell = |c: f32| ((c / p3.stride).floor().max(0.0) as usize).min(p3.side - 1);
            let n = p3.start + cell((b[1] + b[3]) * 0.5) * p3.side + cell((b[0] + b[2]) * 0.5);
            if best[n].is_none() {
                best[n] = Some(g);
                fallback[n] = true;
            }
        }
        for (n, m) in best.iter().enumerate() {
            a.labels.push(m.map_or(0, |g| objs[g].class as i64 + 1));
            let Some(g) = *m else { continue };
            let [px, py, s, _] = self.priors[n];
            let b = objs[g].bbox;
            let d = [px - b[0], py - b[1], b[2] - px, b[3] - py];
            let ctr = if fallback[n] {
                1.0
            } else {
                ((d[0].min(d[2]) / d[0].max(d[2])) * (d[1].min(d[3]) / d[1].max(d[3]))).sqrt()
            };
            a.pos.push(n as i64);
            a.prior.push(n as i64);
            a.boxes.extend_from_slice(&b);
            a.encoded.extend(d.iter().map(|v| v.max(0.0) / s));
            a.weight.push(if self.centerness { ctr } else { 1.0 });
            if self.centerness {
                a.centerness.push(ctr);
            }
        }
    }
}

fn area_of(o: &Object) -> f32 {
    (o.bbox[2] - o.bbox[0]) * (o.bbox[3] - o.bbox[1])
}
