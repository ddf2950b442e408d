//! Drawing backend-agnostic figure descriptions with plotters, and writing
//! them atomically as SVG and PNG.
//!
//! Text in PNGs is rasterised with an embedded DejaVu Sans (via plotters'
//! `ab_glyph` feature) so rendering never depends on system fonts or
//! fontconfig. SVGs only name the generic `sans-serif` family; the viewer
//! supplies the glyphs. Log axes are drawn by transforming values to log10
//! on a linear axis (tick labels show the original values), which keeps one
//! code path for linear and log charts.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::data::fmt_num;
use super::PlotError;

/// Font family name used everywhere: registered from embedded bytes for
/// raster output, and a generic CSS family in SVG.
const FONT: &str = "sans-serif";
/// DejaVu Sans (Bitstream Vera licence, see `DejaVuSans-LICENSE.txt`).
static FONT_BYTES: &[u8] = include_bytes!("DejaVuSans.ttf");
/// Width reserved on the right for the legend, in pixels.
const LEGEND_W: u32 = 290;
/// Longest legend label before truncation, in characters.
const MAX_LABEL: usize = 40;

/// Tableau-10 colours: distinguishable and colour-blind tolerant.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour for the i-th series; cycles past ten.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One line of a panel. `band` is (x, lo, hi) shaded around the line,
/// `errors` is (x, lo, hi) drawn as capped vertical bars.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub label: String,
    pub color: usize,
    pub line: Vec<(f64, f64)>,
    pub markers: bool,
    pub band: Vec<(f64, f64, f64)>,
    pub errors: Vec<(f64, f64, f64)>,
}

/// One chart (axes + series).
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    pub series: Vec<Series>,
}

/// A figure: panels stacked vertically, one shared legend on the right.
#[derive(Debug, Clone, Default)]
pub struct Figure {
    pub title: String,
    pub panels: Vec<Panel>,
    pub size: (u32, u32),
}

/// Registers the embedded font once per process; plotters needs it even for
/// SVG, to measure text when laying out axes.
fn ensure_font() -> Result<(), PlotError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// Decide whether values deserve a log axis: all positive and spanning >= 20x.
pub fn wants_log(values: impl IntoIterator<Item = f64>) -> bool {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        if !v.is_finite() {
            continue;
        }
        if v <= 0.0 {
            return false;
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    lo.is_finite() && hi / lo >= 20.0
}

fn tf(v: f64, log: bool) -> f64 {
    if log {
        v.log10()
    } else {
        v
    }
}

/// Padded range of finite values; a degenerate range is widened so plotters
/// always gets a non-empty axis.
fn range(vals: impl Iterator<Item = f64>, pad: f64) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return None;
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        let d = (lo.abs() * 0.05).max(0.5);
        return Some((lo - d, hi + d));
    }
    Some((lo - span * pad, hi + span * pad))
}

fn truncate(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(MAX_LABEL - 1).collect();
        s.push('…');
        s
    }
}

/// Tick label on a log10-transformed axis: the original value to two
/// significant digits (ticks sit at even steps in log space, so more digits
/// would only be noise like `0.1585`).
fn fmt_log_tick(v: f64) -> String {
    let x = 10f64.powf(v);
    if !x.is_finite() || x <= 0.0 {
        return String::new();
    }
    let mag = 10f64.powf(x.log10().floor() - 1.0);
    fmt_num((x / mag).round() * mag)
}

/// Draws a whole figure onto any plotters backend.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let root = root.titled(&fig.title, (FONT, 22))?;
    let (w, _) = root.dim_in_pixel();
    let (plots, legend) = root.split_horizontally(w.saturating_sub(LEGEND_W).max(1));
    let n = fig.panels.len().max(1);
    for (area, panel) in plots.split_evenly((n, 1)).iter().zip(&fig.panels) {
        draw_panel(area, panel)?;
    }
    // Legend: each label once, in first-seen order, with its colour.
    let mut entries: Vec<(&str, usize)> = Vec::new();
    for s in fig.panels.iter().flat_map(|p| &p.series) {
        if !entries.iter().any(|(l, _)| *l == s.label) {
            entries.push((&s.label, s.color));
        }
    }
    let style = TextStyle::from((FONT, 14).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, c)) in entries.iter().enumerate() {
        let y = 50 + 24 * i as i32;
        legend.draw(&PathElement::new(
            vec![(8, y), (38, y)],
            color(*c).stroke_width(3),
        ))?;
        legend.draw(&Text::new(truncate(label), (46, y), style.clone()))?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (xl, yl) = (p.x_log, p.y_log);
    let xs = p.series.iter().flat_map(|s| {
        s.line
            .iter()
            .map(|q| q.0)
            .chain(s.band.iter().map(|q| q.0))
            .chain(s.errors.iter().map(|q| q.0))
    });
    let ys = p.series.iter().flat_map(|s| {
        s.line
            .iter()
            .map(|q| q.1)
            .chain(s.band.iter().flat_map(|q| [q.1, q.2]))
            .chain(s.errors.iter().flat_map(|q| [q.1, q.2]))
    });
    let xpad = if p.series.iter().any(|s| s.markers) {
        0.05
    } else {
        0.0
    };
    let (Some((x0, x1)), Some((y0, y1))) = (
        range(xs.map(|v| tf(v, xl)), xpad),
        range(ys.map(|v| tf(v, yl)), 0.05),
    ) else {
        // Nothing finite to show: leave an explanatory caption instead of an empty axis.
        area.draw(&Text::new(
            format!("{}: no data yet", p.title),
            (20, 20),
            (FONT, 16).into_font().color(&BLACK),
        ))?;
        return Ok(());
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FONT, 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let xfmt = |v: &f64| if xl { fmt_log_tick(*v) } else { fmt_num(*v) };
    let yfmt = |v: &f64| if yl { fmt_log_tick(*v) } else { fmt_num(*v) };
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .label_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    let cap = (x1 - x0) * 0.008;
    for s in &p.series {
        let c = color(s.color);
        let fin = |x: f64, y: f64| {
            let (x, y) = (tf(x, xl), tf(y, yl));
            (x.is_finite() && y.is_finite()).then_some((x, y))
        };
        // Min/max band: polygon along the upper edge and back along the lower one.
        let upper = s.band.iter().filter_map(|&(x, _, hi)| fin(x, hi));
        let lower = s.band.iter().rev().filter_map(|&(x, lo, _)| fin(x, lo));
        let poly: Vec<(f64, f64)> = upper.chain(lower).collect();
        if poly.len() >= 3 {
            chart.draw_series(std::iter::once(Polygon::new(poly, c.mix(0.15).filled())))?;
        }
        let line: Vec<(f64, f64)> = s.line.iter().filter_map(|&(x, y)| fin(x, y)).collect();
        chart.draw_series(LineSeries::new(line.iter().copied(), c.stroke_width(2)))?;
        if s.markers {
            chart.draw_series(line.iter().map(|&q| Circle::new(q, 4, c.filled())))?;
        }
        // Error bar as one 6-vertex path: top cap, stem, bottom cap.
        for &(x, lo, hi) in &s.errors {
            let (Some((x, lo)), Some((_, hi))) = (fin(x, lo), fin(x, hi)) else {
                continue;
            };
            chart.draw_series(std::iter::once(PathElement::new(
                vec![
                    (x - cap, hi),
                    (x + cap, hi),
                    (x, hi),
                    (x, lo),
                    (x - cap, lo),
                    (x + cap, lo),
                ],
                c.stroke_width(1),
            )))?;
        }
    }
    Ok(())
}

/// Renders `fig` to `<dir>/<stem>.svg` and `<dir>/<stem>.png`, each written
/// atomically (temp file in the same folder, fsync, rename) so a reader never
/// sees a half-written figure.
pub fn write_figure(dir: &Path, stem: &str, fig: &Figure) -> Result<Vec<PathBuf>, PlotError> {
    let render_err = |e: String| PlotError::Render {
        figure: stem.to_string(),
        message: e,
    };
    let svg = render_svg(fig).map_err(|e| match e {
        PlotError::Render { message, .. } => render_err(message),
        other => other,
    })?;
    let svg_path = dir.join(format!("{stem}.svg"));
    atomic_write(&svg_path, svg.as_bytes())?;

    // Drawn into memory and encoded with the crate's own PNG encoder.
    let (w, h) = fig.size;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, fig.size).into_drawing_area();
        draw(&root, fig).map_err(|e| render_err(e.to_string()))?;
        root.present().map_err(|e| render_err(e.to_string()))?;
    }
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &rgb,
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| render_err(e.to_string()))?;
    let png_path = dir.join(format!("{stem}.png"));
    atomic_write(&png_path, &png)?;
    Ok(vec![png_path, svg_path])
}

/// The figure as an SVG document in memory (what `write_figure` saves, and what the HTML
/// report inlines).
pub fn render_svg(fig: &Figure) -> Result<String, PlotError> {
    ensure_font()?;
    let render_err = |e: String| PlotError::Render {
        figure: fig.title.clone(),
        message: e,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, fig.size).into_drawing_area();
        draw(&root, fig).map_err(|e| render_err(e.to_string()))?;
        root.present().map_err(|e| render_err(e.to_string()))?;
    }
    Ok(svg)
}

/// Write, fsync, rename: a reader never sees a half-written figure.
fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    crate::journal::write_atomic(path, bytes).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}
