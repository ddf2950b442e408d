//! The page's sections other than the tables and the jobs: state, provenance, figures.

use super::{escape, fmt, svg, Report, BUILD};

/// Done / running / failed counts, times, ETA.
pub fn state(r: &Report) -> String {
    let s = &r.state;
    let mut out = String::from("<section id=\"state\">\n<h2>State</h2>\n<p class=\"counts\">");
    let badges: Vec<String> = s
        .counts
        .iter()
        .map(|(state, n)| {
            format!(
                "<span class=\"badge {}\"><b>{n}</b> {}</span>",
                escape::ident(state),
                escape::text(state)
            )
        })
        .collect();
    out += &badges.join(" ");
    out += &format!(
        " <span class=\"of\">of {} jobs</span></p>\n<dl class=\"facts\">",
        s.total
    );
    let sweep_state = if s.running {
        "running: an orchestrator is working on it (reload the page to update)"
    } else if s
        .counts
        .iter()
        .any(|(k, _)| matches!(k.as_str(), "pending" | "interrupted" | "running"))
    {
        "stopped before the end (`sweep resume DIR` goes on)"
    } else {
        "finished"
    };
    out += &fact("sweep", &escape::text(sweep_state));
    if let Some(w) = s.wall_seconds {
        out += &fact(
            "wall time",
            &escape::text(&format!(
                "{} (first job start to {})",
                fmt::duration(w),
                if s.running { "now" } else { "last event" }
            )),
        );
    }
    out += &fact(
        "compute",
        &escape::text(&format!(
            "{} (sum of finished jobs' own times)",
            fmt::duration(s.compute_seconds)
        )),
    );
    if s.running {
        let eta = s
            .eta_seconds
            .map_or("known once a job of this run finishes".to_string(), |e| {
                format!("{} (at this run's pace so far)", fmt::duration(e))
            });
        out += &fact("ETA", &escape::text(&eta));
    }
    out += &fact("report made", &escape::text(&fmt::date(s.generated_at)));
    out + "</dl>\n</section>\n"
}

/// Binary, libtorch, hardware, scale and `--set`s of each run; devices and threads of results.
pub fn provenance(r: &Report) -> String {
    let p = &r.provenance;
    let mut out = String::from(
        "<section id=\"provenance\">\n<h2>What produced it</h2>\n<dl class=\"facts\">",
    );
    out += &fact(
        "scale",
        &escape::text(p.scale.as_deref().unwrap_or("none (the spec as written)")),
    );
    let sets = if p.overrides.is_empty() {
        "none".to_string()
    } else {
        let sets: Vec<String> = p.overrides.iter().map(|o| format!("--set {o}")).collect();
        format!("<code>{}</code>", escape::text(&sets.join(" ")))
    };
    out += &fact("--set", &sets);
    if !p.devices.is_empty() {
        let d: Vec<String> = p
            .devices
            .iter()
            .map(|(d, n)| format!("{d} ({n} jobs)"))
            .collect();
        out += &fact("device", &escape::text(&d.join(", ")));
        let t: Vec<String> = p
            .threads
            .iter()
            .map(|(t, n)| format!("{t} ({n} jobs)"))
            .collect();
        out += &fact("threads per job", &escape::text(&t.join(", ")));
    }
    out += "</dl>\n";
    if p.runs.is_empty() {
        out += "<p class=\"note\">No run of this directory is recorded (it was made before \
                runs were recorded, or the record is lost).</p>\n";
    } else {
        out += "<p class=\"sub\">Runs of this directory (<code>sweep run</code>, \
                <code>sweep resume</code>), oldest first:</p>\n<ol class=\"runs\">\n";
        for run in &p.runs {
            out += &format!("<li>{}</li>\n", run_line(run));
        }
        out += "</ol>\n";
    }
    out += &format!(
        "<p class=\"note\">This page was written by sweep {} (commit {}).</p>\n</section>\n",
        escape::text(BUILD.version),
        escape::text(BUILD.commit.unwrap_or("unknown"))
    );
    out
}

/// A heading, its legend, and which figure stems it holds.
type FigureGroup = (&'static str, &'static str, fn(&str) -> bool);

/// Training curves, loss weights, and metric-vs-hyperparameter plots, in that order.
pub fn figures(r: &Report) -> String {
    let mut out = String::from("<section id=\"figures\">\n<h2>Figures</h2>\n");
    if r.figures.is_empty() {
        return out + "<p class=\"note\">No figure yet: curves appear as jobs log them, metric plots once jobs finish.</p>\n</section>\n";
    }
    let groups: [FigureGroup; 3] = [
        (
            "Training curves",
            "Mean over seeds per row; the band spans the seeds' minimum to maximum. Drawn from at most 200 points per line.",
            |s| s.starts_with("curves_"),
        ),
        ("Loss weights", "ALWA's task weights over iterations.", |s| s.starts_with("weights")),
        (
            "Metrics against hyperparameters",
            "Mean ± sample standard deviation over seeds, one line per combination of the other swept keys.",
            |s| !s.starts_with("curves_") && !s.starts_with("weights"),
        ),
    ];
    for (title, legend, keep) in groups {
        let figs: Vec<_> = r.figures.iter().filter(|(stem, _)| keep(stem)).collect();
        if figs.is_empty() {
            continue;
        }
        out += &format!(
            "<h3>{}</h3>\n<p class=\"legend\">{}</p>\n",
            escape::text(title),
            escape::text(legend)
        );
        for (stem, fig) in figs {
            // The title is drawn in the figure; the label says it to screen readers.
            out += &format!(
                "<figure id=\"{}\" aria-label=\"{}\">{}</figure>\n",
                escape::attr(&escape::ident(&format!("fig-{stem}"))),
                escape::attr(&fig.title),
                svg::figure(fig)
            );
        }
    }
    out + "</section>\n"
}

/// "2026-12-05 15:56 UTC: sweep 0.1.0 (commit 49829fe2c5a1), libtorch 2.11.0 built for
/// CUDA 13.0, on <host>: <hardware>", then the command.
fn run_line(run: &super::RunRecord) -> String {
    let commit = match &run.commit {
        Some(c) => format!(
            " (commit <code title=\"{}\">{}</code>)",
            escape::attr(c),
            escape::text(&c.chars().take(12).collect::<String>())
        ),
        None => String::new(),
    };
    let torch = match (&run.libtorch, &run.cuda) {
        (Some(t), Some(c)) => format!(
            ", libtorch {} built for CUDA {}",
            escape::text(t),
            escape::text(c)
        ),
        (Some(t), None) => format!(", libtorch {}", escape::text(t)),
        (None, _) => String::new(),
    };
    let host = run
        .host
        .as_ref()
        .map(|h| format!(" on {}", escape::text(h)))
        .unwrap_or_default();
    format!(
        "<b>{}</b>: sweep {}{commit}{torch}{host}: {}<br><code class=\"cmd\">{}</code>",
        escape::text(&fmt::date(run.started_at)),
        escape::text(&run.version),
        escape::text(&run.hardware),
        escape::text(&run.command.join(" "))
    )
}

fn fact(term: &str, value_html: &str) -> String {
    format!("<dt>{}</dt><dd>{value_html}</dd>", escape::text(term))
}
