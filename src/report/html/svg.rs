//! Figures as inline SVG: plotters draws them (the same figures as `sweep plot`), thinned
//! first so that a long run's curves stay small in the page; and the small interval drawing
//! of each claim.

use super::claim::{ClaimView, Verdict};
use super::escape;
use crate::plot::{Figure, Series};

/// Points kept per series for drawing: 2 per bucket (its lowest and highest), so spikes stay.
const BUCKETS: usize = 100;
/// Pixel size figures are drawn at in the page (scaled to the page width by CSS).
const PAGE_SIZE: (u32, u32) = (900, 480);

/// The figure with each line and band thinned to at most `2 × BUCKETS` points. Only the
/// drawing is thinned: tables and claims never read these numbers.
pub fn thin(mut fig: Figure) -> Figure {
    if fig.size.1 > fig.size.0 {
        // Two stacked panels (loss weights): keep their aspect.
        fig.size = (PAGE_SIZE.0, PAGE_SIZE.0 * fig.size.1 / fig.size.0);
    } else {
        fig.size = PAGE_SIZE;
    }
    for panel in &mut fig.panels {
        for s in &mut panel.series {
            thin_series(s);
        }
    }
    fig
}

fn thin_series(s: &mut Series) {
    s.line = thin_line(&s.line);
    if s.band.len() > 2 * BUCKETS {
        let step = s.band.len().div_ceil(BUCKETS);
        s.band = s
            .band
            .chunks(step)
            .map(|c| {
                let lo = c.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
                let hi = c.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max);
                (c[0].0, lo, hi)
            })
            .collect();
    }
}

/// Per bucket of consecutive points, its lowest and highest point in x order.
fn thin_line(line: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if line.len() <= 2 * BUCKETS {
        return line.to_vec();
    }
    let step = line.len().div_ceil(BUCKETS);
    let mut out = Vec::with_capacity(2 * BUCKETS + 1);
    for chunk in line.chunks(step) {
        let lo = chunk
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let hi = chunk
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let (a, b) = (lo.min(hi), lo.max(hi));
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    // The run's last point is where a reader looks first.
    if out.last() != line.last() {
        out.push(*line.last().expect("longer than 2 × BUCKETS"));
    }
    out
}

/// The figure as an `<svg>` element for the page, or a note saying why it could not be drawn.
pub fn figure(fig: &Figure) -> String {
    match crate::plot::render_svg(fig) {
        Ok(svg) => {
            escape::inline_svg(&svg).replacen("<svg ", "<svg class=\"fig\" role=\"img\" ", 1)
        }
        Err(e) => format!(
            "<p class=\"note\">{}</p>",
            escape::text(&format!("this figure could not be drawn: {e}"))
        ),
    }
}

/// Width and height of a claim's drawing.
const CLAIM_W: f64 = 240.0;
const CLAIM_H: f64 = 26.0;

/// Our difference with its interval, zero, and the paper's difference on one small axis.
/// Empty when the claim has no number to draw.
pub fn claim(c: &ClaimView) -> String {
    let Some(est) = c.estimate else {
        return String::new();
    };
    let (lo, hi) = c.interval.unwrap_or((est, est));
    let mut xs = vec![lo, hi, est, 0.0];
    xs.extend(c.paper);
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((max - min) * 0.08).max(1e-9);
    let (min, max) = (min - pad, max + pad);
    let x = |v: f64| 6.0 + (v - min) / (max - min) * (CLAIM_W - 12.0);
    let y = CLAIM_H / 2.0;
    let colour = match c.verdict {
        Verdict::Reproduced => "#1a7f37",
        Verdict::Contradicted => "#c62828",
        Verdict::Unresolved => "#8a6d00",
    };
    let u = c.unit;
    let mut title = format!("ours: {est:+}{u}");
    if let Some((l, h)) = c.interval {
        title += &format!(", {}: [{l:+.3}{u}, {h:+.3}{u}]", c.interval_kind);
    }
    if let Some(p) = c.paper {
        title += &format!("; paper: {p:+}{u}");
    }
    let mut s = format!(
        "<svg class=\"interval\" width=\"{CLAIM_W}\" height=\"{CLAIM_H}\" viewBox=\"0 0 {CLAIM_W} {CLAIM_H}\" role=\"img\"><title>{}</title>",
        escape::text(&title)
    );
    s += &format!(
        "<line x1=\"6\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#bbb\"/>",
        CLAIM_W - 6.0
    );
    s += &format!(
        "<line class=\"zero\" x1=\"{0:.1}\" y1=\"3\" x2=\"{0:.1}\" y2=\"{1}\" stroke=\"#555\" stroke-dasharray=\"2 2\"/>",
        x(0.0),
        CLAIM_H - 3.0
    );
    if c.interval.is_some() {
        s += &format!(
            "<line class=\"ci\" x1=\"{:.1}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"4\" stroke-linecap=\"round\"/>",
            x(lo),
            x(hi)
        );
    }
    s += &format!(
        "<circle class=\"ours\" cx=\"{:.1}\" cy=\"{y}\" r=\"4.5\" fill=\"{colour}\" stroke=\"#fff\"/>",
        x(est)
    );
    if let Some(p) = c.paper {
        let px = x(p);
        s += &format!(
            "<path class=\"paper\" d=\"M{:.1} {:.1} l5 6 l-5 6 l-5 -6 z\" fill=\"#fff\" stroke=\"#222\" stroke-width=\"1.5\"/>",
            px,
            y - 6.0
        );
    }
    s + "</svg>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_extremes_and_the_last_point() {
        let line: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, if i == 4321 { 100.0 } else { (i % 7) as f64 }))
            .collect();
        let t = thin_line(&line);
        assert!(t.len() <= 2 * BUCKETS + 1, "{}", t.len());
        assert!(t.contains(&(4321.0, 100.0)), "the spike survives");
        assert_eq!(t.last(), line.last());
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "x stays in order");
        let short = vec![(0.0, 1.0), (1.0, 2.0)];
        assert_eq!(thin_line(&short), short);
    }

    #[test]
    fn claim_drawing_places_interval_zero_and_paper() {
        use super::super::claim::{ClaimView, Verdict};
        let c = ClaimView {
            text: "A > B on AP: reproduced".into(),
            verdict: Verdict::Reproduced,
            estimate: Some(4.0),
            interval: Some((2.4, 5.6)),
            interval_kind: "95% confidence interval of the difference",
            paper: Some(2.2),
            unit: "",
        };
        let s = claim(&c);
        assert!(
            s.contains("class=\"ci\"") && s.contains("class=\"paper\""),
            "{s}"
        );
        assert!(s.contains("<title>ours: +4, "), "{s}");
        let none = ClaimView {
            verdict: Verdict::Unresolved,
            estimate: None,
            interval: None,
            paper: None,
            ..c
        };
        assert_eq!(claim(&none), "");
    }
}
