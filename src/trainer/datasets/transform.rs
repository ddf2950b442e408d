//! From an image file to the network's square input: decode, resize keeping the aspect ratio,
//! flip, pad; and the box transform that goes with it, both ways.
//!
//! Coordinates are continuous pixels (pixel `i` covers `[i, i + 1)`), in the original image and
//! in the input alike. An original `W × H` image becomes `w × h` pixels, `w = round(W · s)`,
//! `h = round(H · s)` with `s = side / max(W, H)`, placed at the top-left of the
//! `size × size` input; the rest is padding of value [`PAD`]. Boxes are scaled by the exact
//! per-axis factors `w / W` and `h / H` (not by `s`, which rounding made slightly different), so
//! a box lands where its pixels went. A flip mirrors the resized content inside its own width:
//! `x → w − x`. Evaluation maps the other way and clips to the original image.

use super::DatasetError;
use image::RgbImage;
use std::path::Path;

/// Padding value of every channel: mid-grey, about the normalisation mean (0 after it, within
/// 1/64).
pub const PAD: u8 = 128;

/// Decodes a JPEG or PNG file into 8-bit RGB (grey and alpha dropped or expanded).
pub fn decode(path: &Path, record: &str) -> Result<RgbImage, DatasetError> {
    let decode_err = |detail: String| DatasetError::Decode {
        path: path.to_path_buf(),
        record: record.to_string(),
        detail,
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| DatasetError::io(path, "open", e))?
        .with_guessed_format()
        .map_err(|e| DatasetError::io(path, "read", e))?;
    let img = reader.decode().map_err(|e| decode_err(e.to_string()))?;
    Ok(img.into_rgb8())
}

/// Width and height from the file's header only (no decoding).
pub fn dimensions(path: &Path, record: &str) -> Result<(u32, u32), DatasetError> {
    image::ImageReader::open(path)
        .map_err(|e| DatasetError::io(path, "open", e))?
        .with_guessed_format()
        .map_err(|e| DatasetError::io(path, "read", e))?
        .into_dimensions()
        .map_err(|e| DatasetError::Decode {
            path: path.to_path_buf(),
            record: record.to_string(),
            detail: e.to_string(),
        })
}

/// Where an original image sits in the network input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// The original image.
    pub width: u32,
    pub height: u32,
    /// The resized content at the top-left of the input.
    pub new_width: u32,
    pub new_height: u32,
    /// Mirrored left–right.
    pub flip: bool,
}

impl Placement {
    /// The placement of a `width × height` image whose longer side becomes `side` pixels.
    pub fn new(width: u32, height: u32, side: f64, flip: bool) -> Placement {
        let s = side / width.max(height).max(1) as f64;
        let fit = |v: u32| ((v as f64 * s).round() as u32).clamp(1, side.ceil().max(1.0) as u32);
        Placement {
            width,
            height,
            new_width: fit(width),
            new_height: fit(height),
            flip,
        }
    }

    fn scale(&self) -> (f32, f32) {
        (
            self.new_width as f32 / self.width.max(1) as f32,
            self.new_height as f32 / self.height.max(1) as f32,
        )
    }

    /// An original `[x1, y1, x2, y2]` box in input coordinates.
    pub fn forward(&self, b: [f32; 4]) -> [f32; 4] {
        let (sx, sy) = self.scale();
        let (x1, x2) = (b[0] * sx, b[2] * sx);
        let (y1, y2) = (b[1] * sy, b[3] * sy);
        if self.flip {
            let w = self.new_width as f32;
            [w - x2, y1, w - x1, y2]
        } else {
            [x1, y1, x2, y2]
        }
    }

    /// An input `[x1, y1, x2, y2]` box in original coordinates, clipped to the original image.
    pub fn backward(&self, b: [f32; 4]) -> [f32; 4] {
        let (sx, sy) = self.scale();
        let (mut x1, mut x2) = (b[0], b[2]);
        if self.flip {
            let w = self.new_width as f32;
            (x1, x2) = (w - x2, w - x1);
        }
        let (w, h) = (self.width as f32, self.height as f32);
        [
            (x1 / sx).clamp(0.0, w),
            (b[1] / sy).clamp(0.0, h),
            (x2 / sx).clamp(0.0, w),
            (b[3] / sy).clamp(0.0, h),
        ]
    }

    /// The `size × size` RGB input (row-major, interleaved) of `img`, which must be
    /// `width × height`.
    pub fn render(&self, img: &RgbImage, size: usize) -> Vec<u8> {
        debug_assert_eq!(img.dimensions(), (self.width, self.height));
        let (nw, nh) = (self.new_width as usize, self.new_height as usize);
        let resized;
        let src: &[u8] = if (self.new_width, self.new_height) == img.dimensions() {
            img.as_raw()
        } else {
            let (w, h) = (img.width() as usize, img.height() as usize);
            resized = resize_rgb(img.as_raw(), (w, h), (nw, nh));
            &resized
        };
        let mut out = vec![PAD; size * size * 3];
        let (w, h) = (nw.min(size), nh.min(size));
        for y in 0..h {
            let row = &src[y * nw * 3..][..w * 3];
            let dst = &mut out[y * size * 3..][..w * 3];
            if self.flip {
                for (d, s) in dst.chunks_exact_mut(3).zip(row.chunks_exact(3).rev()) {
                    d.copy_from_slice(s);
                }
            } else {
                dst.copy_from_slice(row);
            }
        }
        out
    }
}

/// One output position's source range and normalised weights.
struct Taps {
    first: usize,
    weights: Vec<f32>,
}

/// Triangle (tent) filter taps from `n` source to `m` output samples: bilinear when enlarging;
/// when shrinking the tent widens by the factor, an area-weighted average, so thin objects do
/// not alias away (the kernel of the `image` crate's `FilterType::Triangle`).
fn taps(n: usize, m: usize) -> Vec<Taps> {
    let ratio = n as f32 / m as f32;
    let scale = ratio.max(1.0);
    (0..m)
        .map(|i| {
            let center = (i as f32 + 0.5) * ratio;
            let lo = ((center - scale).floor().max(0.0)) as usize;
            let hi = ((center + scale).ceil() as usize).min(n);
            let mut weights: Vec<f32> = (lo..hi)
                .map(|j| (1.0 - ((j as f32 + 0.5 - center) / scale).abs()).max(0.0))
                .collect();
            let sum: f32 = weights.iter().sum();
            if sum > 0.0 {
                weights.iter_mut().for_each(|w| *w /= sum);
            } else {
                // Cannot happen for n, m >= 1, but keep the nearest pixel rather than black.
                weights = vec![1.0];
            }
            Taps { first: lo, weights }
        })
        .collect()
}

/// Resizes interleaved 8-bit RGB `src` of `(w, h)` to `(nw, nh)`: a horizontal then a
/// vertical pass of [`taps`], in f32, rounded once at the end. About four times the speed of
/// `image::imageops::resize`, whose generic pixel path converts every sample twice.
pub fn resize_rgb(src: &[u8], (w, h): (usize, usize), (nw, nh): (usize, usize)) -> Vec<u8> {
    let (tx, ty) = (taps(w, nw), taps(h, nh));
    let mut mid = vec![0f32; h * nw * 3];
    for (y, row) in mid.chunks_exact_mut(nw * 3).enumerate() {
        let line = &src[y * w * 3..][..w * 3];
        for (o, t) in row.chunks_exact_mut(3).zip(&tx) {
            let (mut r, mut g, mut b) = (0f32, 0f32, 0f32);
            for (k, &wt) in t.weights.iter().enumerate() {
                let p = &line[(t.first + k) * 3..][..3];
                r += wt * p[0] as f32;
                g += wt * p[1] as f32;
                b += wt * p[2] as f32;
            }
            o.copy_from_slice(&[r, g, b]);
        }
    }
    let mut out = vec![0u8; nh * nw * 3];
    let mut acc = vec![0f32; nw * 3];
    for (orow, t) in out.chunks_exact_mut(nw * 3).zip(&ty) {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for (k, &wt) in t.weights.iter().enumerate() {
            let m = &mid[(t.first + k) * nw * 3..][..nw * 3];
            for (a, &v) in acc.iter_mut().zip(m) {
                *a += wt * v;
            }
        }
        for (o, &a) in orow.iter_mut().zip(&acc) {
            *o = a.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::{self, FilterType};
    use image::Rgb;

    /// A noisy background with one solid rectangle of a colour nothing else has.
    fn picture(w: u32, h: u32, rect: [u32; 4]) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            if x >= rect[0] && x < rect[2] && y >= rect[1] && y < rect[3] {
                Rgb([250, 10, 10])
            } else {
                let v = ((x * 7 + y * 13) % 50 + 60) as u8;
                Rgb([v, v + 40, v])
            }
        })
    }

    fn red(px: &[u8]) -> bool {
        px[0] > 200 && px[1] < 60 && px[2] < 60
    }

    /// Every input pixel well inside the moved box is the rectangle's; every pixel well outside
    /// is not (a pixel of margin for the resampling filter's blur).
    fn assert_box_covers_the_pixels(out: &[u8], size: usize, b: [f32; 4], margin: f32) {
        for y in 0..size {
            for x in 0..size {
                let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
                let px = &out[(y * size + x) * 3..][..3];
                let inside = cx > b[0] + margin
                    && cx < b[2] - margin
                    && cy > b[1] + margin
                    && cy < b[3] - margin;
                let outside = cx < b[0] - margin
                    || cx > b[2] + margin
                    || cy < b[1] - margin
                    || cy > b[3] + margin;
                if inside {
                    assert!(red(px), "({x}, {y}) inside {b:?} is {px:?}");
                }
                if outside {
                    assert!(!red(px), "({x}, {y}) outside {b:?} is {px:?}");
                }
            }
        }
    }

    #[test]
    fn resize_pad_and_flip_move_boxes_where_the_pixels_went() {
        let rect = [20u32, 10, 50, 40];
        let img = picture(120, 80, rect);
        let b = rect.map(|v| v as f32);
        for (side, flip) in [(64.0, false), (64.0, true), (48.0, true), (160.0, false)] {
            let size = 64.max(side as usize);
            let p = Placement::new(120, 80, side, flip);
            assert_eq!(p.new_width as f64, side);
            let out = p.render(&img, size);
            let moved = p.forward(b);
            assert_box_covers_the_pixels(&out, size, moved, 1.5);
            // The padding is below and to the right of the content, and only there.
            let (w, h) = (p.new_width as usize, p.new_height as usize);
            for y in 0..size {
                for x in 0..size {
                    let pad = out[(y * size + x) * 3..][..3] == [PAD; 3];
                    assert_eq!(pad, x >= w || y >= h, "({x}, {y}) {side} {flip}");
                }
            }
            let back = p.backward(moved);
            assert!(
                back.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3),
                "{back:?}"
            );
        }
    }

    #[test]
    fn resize_matches_the_image_crates_triangle_filter() {
        let img = RgbImage::from_fn(97, 61, |x, y| {
            Rgb([
                (x * 5 + y * 3) as u8,
                ((x * y) % 251) as u8,
                if (x / 7 + y / 5) % 2 == 0 { 20 } else { 230 },
            ])
        });
        for (nw, nh) in [(64, 40), (31, 20), (150, 95), (97, 30)] {
            let ours = resize_rgb(img.as_raw(), (97, 61), (nw, nh));
            let theirs = imageops::resize(&img, nw as u32, nh as u32, FilterType::Triangle);
            let worst = ours
                .iter()
                .zip(theirs.as_raw())
                .map(|(&a, &b)| (a as i32 - b as i32).abs())
                .max()
                .unwrap();
            assert!(worst <= 2, "{nw}x{nh}: differs by up to {worst}");
        }
    }

    #[test]
    fn backward_clips_to_the_original_image() {
        let p = Placement::new(100, 50, 64.0, false);
        let b = p.backward([-5.0, 10.0, 70.0, 40.0]);
        assert_eq!(b[0], 0.0);
        assert_eq!(b[2], 100.0);
        assert_eq!(b[3], 50.0);
        assert!((b[1] - 10.0 * 50.0 / 32.0).abs() < 1e-4);
    }
}
