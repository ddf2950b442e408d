//! FCOS target assignment (Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection",
//! ICCV 2019, with the center-sampling and normalised-targets improvements of its repository).
//!
//! A location `(x, y)` of level `l` (stride `s`) is positive for a ground-truth box when
//! 1. it lies inside the box (`min(l, t, r, b) > 0`, ltrb the distances to the four sides);
//! 2. with center sampling (radius `ρ > 0`), it also lies within `ρ · s` of the box centre on both
//!    axes (the region clipped to the box, as in the FCOS repository);
//! 3. `max(l, t, r, b)` is in the level's range `(lo_l, hi_l]`. FCOS uses 0, 64, 128, 256, 512, ∞
//!    for P3–P7 on 800-px images, i.e. P3 up to ≈ 1/12 of the image; here the ranges follow the
//!    image size `S` for the three levels P3–P5: `(0, S/8]`, `(S/8, S/4]`, `(S/4, ∞)` (16 and 32
//!    px at 128 px, so 6–25 px objects go to P3, 25–50 px to P4, larger to P5).
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

use super::layout::{levels, Assignment, Level};
use super::synth::Object;

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
        let sz = size as f32;
        let m: f32 = std::env::var("DEV_RANGE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
        let ranges = vec![(0.0, m * sz / 8.0), (m * sz / 8.0, m * sz / 4.0), (m * sz / 4.0, f32::INFINITY)];
        Fcos { levels, priors, ranges, radius, centerness }
    }

    /// Appends the targets of one image (positions relative to the image) to `a`.
    pub fn assign_image(&self, objs: &[Object], a: &mut Assignment) {
        let mut best: Vec<Option<usize>> = vec![None; self.priors.len()];
        let mut got = vec![false; objs.len()];
        for (li, lv) in self.levels.iter().enumerate() {
            let (lo, hi) = self.ranges[li];
            for n in lv.start..lv.start + lv.len {
                let [px, py, s, _] = self.priors[n];
                for (g, o) in objs.iter().enumerate() {
                    let b = o.bbox;
                    let d = [px - b[0], py - b[1], b[2] - px, b[3] - py];
                    let (dmin, dmax) = (d.iter().fold(f32::MAX, |m, &v| m.min(v)), d.iter().fold(0f32, |m, &v| m.max(v)));
                    if dmin <= 0.0 || dmax <= lo || dmax > hi {
                        continue;
                    }
                    if self.radius > 0.0 {
                        let (cx, cy, r) = ((b[0] + b[2]) * 0.5, (b[1] + b[3]) * 0.5, self.radius * s);
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
