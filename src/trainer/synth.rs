//! Rendering of one synthetic scene: pure Rust, no tch, a pure function of its random stream.
//!
//! A scene is a cluttered background (a two-colour gradient, soft blotches, lines, elongated
//! ellipses and specks, none of which is an object) with 1..=8 textured shapes on top. The four
//! shape classes are 0 filled square, 1 disc, 2 triangle (apex up or down), 3 cross; each touches
//! all four sides of its box, so the box `[x1, y1, x2, y2]` (continuous pixel coordinates, pixel
//! `i` covers `[i, i+1)`) is tight around the drawn shape. Shapes are anti-aliased with 2×2
//! super-sampling, so even 6-px objects keep their outline. Sides are log-uniform in
//! `[min_object_size, max_object_size]` with a ±15 % aspect jitter (area = side²), so most
//! objects are COCO-small. A new box may overlap earlier ones by at most 35 % of the smaller box,
//! so every object stays mostly visible. Object colours are drawn until they contrast with the
//! background under the box (the task must be learnable); sensor noise is added last.

use crate::spec::config::SyntheticSpec;

/// A small, fast, seedable generator (SplitMix64); streams are keyed by [`key`].
#[derive(Debug, Clone)]
pub struct Rng(u64);

/// SplitMix64's finaliser: a bijective 64-bit mix.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stream key from several parts (seed, split, index, ...), order-sensitive.
pub fn key(parts: &[u64]) -> u64 {
    parts.iter().fold(0x9e37_79b9_7f4a_7c15, |h, &p| {
        mix(h ^ mix(p.wrapping_add(0x632b_e59b_d9b4_e019)))
    })
}

impl Rng {
    pub fn new(key: u64) -> Rng {
        Rng(key)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform integer in [lo, hi] (inclusive).
    pub fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below((hi - lo + 1) as u64) as u32
    }
}

/// One ground-truth object: class in `0..num_classes`, box `[x1, y1, x2, y2]` in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Object {
    pub class: usize,
    pub bbox: [f32; 4],
}

/// A rendered scene, or an image read from disk and placed in the input: `size × size` RGB
/// pixels (row-major, interleaved), its objects and its ignore regions (`[x1, y1, x2, y2]`
/// areas where no prior takes a loss; none in a rendered scene).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub size: usize,
    pub pixels: Vec<u8>,
    pub objects: Vec<Object>,
    pub ignore: Vec<[f32; 4]>,
}

type Rgb = [f32; 3];
const SUB: [(f32, f32); 4] = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)];

/// Renders the scene of one random stream.
pub fn render(spec: &SyntheticSpec, rng: &mut Rng) -> Image {
    let s = spec.image_size as usize;
    let mut buf = vec![0f32; s * s * 3];
    background(&mut buf, s, rng);
    clutter(&mut buf, s, rng);
    let mut objects = Vec::new();
    let n = rng.between(spec.min_objects, spec.max_objects.max(spec.min_objects));
    for _ in 0..n {
        if let Some(bbox) = place(spec, &objects, rng) {
            let class = rng.below(spec.num_classes.max(1) as u64) as usize;
            draw_object(&mut buf, s, class, bbox, rng);
            objects.push(Object { class, bbox });
        }
    }
    let sigma = rng.range(2.0, 9.0);
    let pixels = buf
        .iter()
        .map(|&v| {
            (v + sigma * (rng.unit() + rng.unit() - 1.0) * 1.7)
                .round()
                .clamp(0.0, 255.0) as u8
        })
        .collect();
    Image {
        size: s,
        pixels,
        objects,
        ignore: Vec::new(),
    }
}

fn muted(rng: &mut Rng) -> Rgb {
    let g = rng.range(30.0, 200.0);
    [
        g + rng.range(-25.0, 25.0),
        g + rng.range(-25.0, 25.0),
        g + rng.range(-25.0, 25.0),
    ]
}

fn vivid(rng: &mut Rng) -> Rgb {
    let (h, sat, val) = (
        rng.range(0.0, 6.0),
        rng.range(0.45, 1.0),
        rng.range(0.5, 1.0) * 255.0,
    );
    let f = h.fract();
    let (p, q, t) = (
        val * (1.0 - sat),
        val * (1.0 - sat * f),
        val * (1.0 - sat * (1.0 - f)),
    );
    match h as u32 {
        0 => [val, t, p],
        1 => [q, val, p],
        2 => [p, val, t],
        3 => [p, q, val],
        4 => [t, p, val],
        _ => [val, p, q],
    }
}

fn background(buf: &mut [f32], s: usize, rng: &mut Rng) {
    let (c0, c1) = (muted(rng), muted(rng));
    let th = rng.range(0.0, std::f32::consts::TAU);
    let (dx, dy) = (th.cos() / s as f32, th.sin() / s as f32);
    let blots: Vec<(f32, f32, f32, Rgb)> = (0..rng.between(2, 4))
        .map(|_| {
            let (x, y) = (rng.range(0.0, s as f32), rng.range(0.0, s as f32));
            let r = rng.range(0.12, 0.4) * s as f32;
            (
                x,
                y,
                1.0 / (2.0 * r * r),
                [
                    rng.range(-40.0, 40.0),
                    rng.range(-40.0, 40.0),
                    rng.range(-40.0, 40.0),
                ],
            )
        })
        .collect();
    for y in 0..s {
        for x in 0..s {
            let (fx, fy) = (
                x as f32 + 0.5 - s as f32 / 2.0,
                y as f32 + 0.5 - s as f32 / 2.0,
            );
            let t = (fx * dx + fy * dy + 0.5).clamp(0.0, 1.0);
            let mut c = [0.0; 3];
            for k in 0..3 {
                c[k] = c0[k] + (c1[k] - c0[k]) * t;
            }
            for &(bx, by, inv, d) in &blots {
                let (ex, ey) = (x as f32 + 0.5 - bx, y as f32 + 0.5 - by);
                let w = (-(ex * ex + ey * ey) * inv).exp();
                for k in 0..3 {
                    c[k] += d[k] * w;
                }
            }
            buf[(y * s + x) * 3..][..3].copy_from_slice(&c);
        }
    }
}

fn blend(buf: &mut [f32], s: usize, x: usize, y: usize, c: Rgb, a: f32) {
    let p = &mut buf[(y * s + x) * 3..][..3];
    for k in 0..3 {
        p[k] += (c[k] - p[k]) * a;
    }
}

/// Pixel range `[lo, hi)` covering the continuous interval `[a, b]`, clipped to the image.
fn span(a: f32, b: f32, s: usize) -> (usize, usize) {
    (
        a.floor().max(0.0) as usize,
        (b.ceil().max(0.0) as usize).min(s),
    )
}

/// Distractors: lines, thin rotated ellipses and specks; none of them is a class shape.
fn clutter(buf: &mut [f32], s: usize, rng: &mut Rng) {
    let sf = s as f32;
    for _ in 0..rng.between(2, 6) {
        let (ax, ay, bx, by) = (
            rng.range(0.0, sf),
            rng.range(0.0, sf),
            rng.range(0.0, sf),
            rng.range(0.0, sf),
        );
        let (half, c) = (
            rng.range(0.4, 1.3),
            if rng.unit() < 0.5 {
                muted(rng)
            } else {
                vivid(rng)
            },
        );
        let (vx, vy) = (bx - ax, by - ay);
        let len2 = (vx * vx + vy * vy).max(1e-6);
        let (x0, x1) = span(ax.min(bx) - half - 1.0, ax.max(bx) + half + 1.0, s);
        let (y0, y1) = span(ay.min(by) - half - 1.0, ay.max(by) + half + 1.0, s);
        for y in y0..y1 {
            for x in x0..x1 {
                let (px, py) = (x as f32 + 0.5 - ax, y as f32 + 0.5 - ay);
                let t = ((px * vx + py * vy) / len2).clamp(0.0, 1.0);
                let d = ((px - t * vx).powi(2) + (py - t * vy).powi(2)).sqrt();
                let a = (half + 0.5 - d).clamp(0.0, 1.0);
                if a > 0.0 {
                    blend(buf, s, x, y, c, a * 0.8);
                }
            }
        }
    }
    let n_ell = rng.between(1, 4);
    let n_specks = rng.between(0, 6);
    for i in 0..n_ell + n_specks {
        let (cx, cy) = (rng.range(0.0, sf), rng.range(0.0, sf));
        let (ra, rb) = if i < n_ell {
            let ra = rng.range(4.0, 20.0);
            (ra, ra / rng.range(3.0, 6.0))
        } else {
            let r = rng.range(0.7, 1.6);
            (r, r)
        };
        let th = rng.range(0.0, std::f32::consts::PI);
        let (co, si) = (th.cos(), th.sin());
        let c = if rng.unit() < 0.5 {
            muted(rng)
        } else {
            vivid(rng)
        };
        let (x0, x1) = span(cx - ra - 1.0, cx + ra + 1.0, s);
        let (y0, y1) = span(cy - ra - 1.0, cy + ra + 1.0, s);
        for y in y0..y1 {
            for x in x0..x1 {
                let cover = SUB
                    .iter()
                    .filter(|(ox, oy)| {
                        let (px, py) = (x as f32 + ox - cx, y as f32 + oy - cy);
                        let (u, v) = ((px * co + py * si) / ra, (-px * si + py * co) / rb);
                        u * u + v * v <= 1.0
                    })
                    .count();
                if cover > 0 {
                    blend(buf, s, x, y, c, cover as f32 / 4.0);
                }
            }
        }
    }
}

/// A box for a new object, or `None` when 30 draws all overlap earlier objects too much.
fn place(spec: &SyntheticSpec, placed: &[Object], rng: &mut Rng) -> Option<[f32; 4]> {
    let s = spec.image_size as f32;
    let (lo, hi) = (
        spec.min_object_size as f32,
        (spec.max_object_size as f32).max(spec.min_object_size as f32),
    );
    for _ in 0..30 {
        let side = (rng.range(lo.ln(), hi.ln() + 1e-6)).exp();
        let aspect = rng.range(-0.15, 0.15).exp();
        let (w, h) = ((side * aspect).min(s - 1.0), (side / aspect).min(s - 1.0));
        let (x, y) = (rng.range(0.0, s - w), rng.range(0.0, s - h));
        let b = [x, y, x + w, y + h];
        let ok = placed.iter().all(|o| {
            let iw = (b[2].min(o.bbox[2]) - b[0].max(o.bbox[0])).max(0.0);
            let ih = (b[3].min(o.bbox[3]) - b[1].max(o.bbox[1])).max(0.0);
            let small = (w * h).min((o.bbox[2] - o.bbox[0]) * (o.bbox[3] - o.bbox[1]));
            iw * ih <= 0.35 * small
        });
        if ok {
            return Some(b);
        }
    }
    None
}

fn mean_under(buf: &[f32], s: usize, b: [f32; 4]) -> Rgb {
    let ((x0, x1), (y0, y1)) = (span(b[0], b[2], s), span(b[1], b[3], s));
    let mut m = [0.0f32; 3];
    let mut n = 0.0f32;
    for y in y0..y1 {
        for x in x0..x1 {
            for k in 0..3 {
                m[k] += buf[(y * s + x) * 3 + k];
            }
            n += 1.0;
        }
    }
    m.map(|v| v / n.max(1.0))
}

/// Whether unit-box point (u, v) lies inside the shape of `class` (flipped: triangle apex down).
pub fn inside(class: usize, u: f32, v: f32, flipped: bool) -> bool {
    let (du, dv) = (2.0 * u - 1.0, 2.0 * v - 1.0);
    match class {
        0 => true,
        1 => du * du + dv * dv <= 1.0,
        2 => du.abs() <= if flipped { 1.0 - v } else { v },
        _ => du.abs() <= 1.0 / 3.0 || dv.abs() <= 1.0 / 3.0,
    }
}

fn draw_object(buf: &mut [f32], s: usize, class: usize, b: [f32; 4], rng: &mut Rng) {
    let under = mean_under(buf, s, b);
    let (mut c1, mut best) = ([0.0; 3], -1.0f32);
    for _ in 0..8 {
        let c = vivid(rng);
        let d: f32 = (0..3).map(|k| (c[k] - under[k]).abs()).sum();
        if d > best {
            (c1, best) = (c, d);
        }
        if d >= 150.0 {
            break;
        }
    }
    let dark = rng.range(0.45, 0.75);
    let c2 = c1.map(|v| v * dark);
    let texture = rng.below(3);
    let (period, th) = (rng.range(2.5, 7.0), rng.range(0.0, std::f32::consts::PI));
    let (co, si) = (th.cos(), th.sin());
    let flipped = rng.unit() < 0.5;
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let ((x0, x1), (y0, y1)) = (span(b[0], b[2], s), span(b[1], b[3], s));
    for y in y0..y1 {
        for x in x0..x1 {
            let cover = SUB
                .iter()
                .filter(|(ox, oy)| {
                    let (u, v) = ((x as f32 + ox - b[0]) / w, (y as f32 + oy - b[1]) / h);
                    (0.0..=1.0).contains(&u)
                        && (0.0..=1.0).contains(&v)
                        && inside(class, u, v, flipped)
                })
                .count();
            let grain = rng.unit();
            if cover == 0 {
                continue;
            }
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let c = match texture {
                0 => c1,
                1 if ((px * co + py * si) / period).rem_euclid(1.0) < 0.5 => c1,
                1 => c2,
                _ => c1.map(|v| v * (0.7 + 0.3 * grain)),
            };
            blend(buf, s, x, y, c, cover as f32 / 4.0);
        }
    }
}
