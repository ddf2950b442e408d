//! One table row per job: where it sits, how it ended, and (collapsed) its stderr tail, its
//! config's difference from the base, and links to its files.

use super::{escape, fmt, JobEntry, Report};

pub fn jobs(r: &Report, link_prefix: &[&str]) -> String {
    let mut out = String::from(
        "<section id=\"jobs\">\n<h2>Jobs</h2>\n<p class=\"legend\">One line per distinct job \
         (a job two rows share is listed once). Wall time and iterations are the job's own; \
         peak memory is the GPU memory its worker reported, when it reports one.</p>\n\
         <div class=\"scroll\"><table class=\"jobs sortable\">\n<thead><tr>",
    );
    let mut headers: Vec<String> = [
        "row",
        "seed",
        "id",
        "state",
        "iterations",
        "wall time",
        "peak memory",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    headers.extend(r.metrics.iter().cloned());
    headers.push("details".into());
    for (i, h) in headers.iter().enumerate() {
        if i + 1 == headers.len() {
            out += &format!("<th>{}</th>", escape::text(h));
        } else {
            out += &format!("<th data-col=\"{i}\">{}</th>", escape::text(h));
        }
    }
    out += "</tr></thead>\n<tbody>\n";
    for j in &r.jobs {
        out += &row(j, &r.metrics, link_prefix);
    }
    out + "</tbody></table></div>\n</section>\n"
}

fn row(j: &JobEntry, metrics: &[String], prefix: &[&str]) -> String {
    let id = escape::ident(&format!("job-{}", j.id));
    let mut out = format!(
        "<tr id=\"{}\" class=\"state-{}\"><td>{}</td><td>{}</td><td><code>{}</code></td>",
        escape::attr(&id),
        escape::ident(&j.state),
        j.rows
            .iter()
            .map(|r| escape::text(r))
            .collect::<Vec<_>>()
            .join("<br>"),
        j.seed,
        escape::text(&j.id)
    );
    out += &format!(
        "<td class=\"state {}\">{}</td>",
        escape::ident(&j.state),
        escape::text(&j.state)
    );
    let iterations = match (j.iteration, j.iterations) {
        (Some(i), Some(n)) if i < n => format!("{i}/{n}"),
        (Some(i), _) => i.to_string(),
        (None, _) => "–".into(),
    };
    out += &format!(
        "<td data-v=\"{}\">{}</td>",
        j.iteration.unwrap_or(0),
        escape::text(&iterations)
    );
    out += &format!(
        "<td data-v=\"{}\">{}</td>",
        j.seconds.unwrap_or(-1.0),
        j.seconds.map_or("–".into(), fmt::duration)
    );
    out += &format!(
        "<td data-v=\"{}\">{}</td>",
        j.peak_mib.map_or(-1, |m| m as i64),
        j.peak_mib.map_or("–".into(), |m| format!("{m} MiB"))
    );
    for m in metrics {
        out += &format!(
            "<td>{}</td>",
            j.metrics.get(m).map_or("–".into(), |v| fmt::metric(*v))
        );
    }
    out += &format!("<td>{}</td></tr>\n", details(j, prefix));
    out
}

/// The collapsed part: why it failed (open when it did), stderr, config difference, files.
fn details(j: &JobEntry, prefix: &[&str]) -> String {
    let failed = matches!(j.state.as_str(), "failed" | "diverged" | "not run");
    let mut out = format!(
        "<details{}><summary>{}</summary>",
        if failed { " open" } else { "" },
        if failed { "why" } else { "more" }
    );
    if let Some(cause) = &j.cause {
        out += &format!("<p class=\"cause\">{}</p>", escape::text(cause));
    }
    if !j.stderr_tail.is_empty() {
        out += &format!(
            "<p class=\"sub\">last lines of stderr.log</p><pre>{}</pre>",
            escape::text(&j.stderr_tail.join("\n"))
        );
    }
    if j.diff.is_empty() {
        out += "<p class=\"sub\">config: the base config</p>";
    } else {
        out += "<p class=\"sub\">config, where it differs from the base</p><table class=\"diff\">";
        for c in &j.diff {
            out += &format!(
                "<tr><td><code>{}</code></td><td class=\"was\">{}</td><td>→</td><td class=\"now\">{}</td></tr>",
                escape::text(&c.key),
                escape::text(c.base.as_deref().unwrap_or("(absent)")),
                escape::text(c.value.as_deref().unwrap_or("(absent)"))
            );
        }
        out += "</table>";
    }
    if !j.files.is_empty() {
        out += "<p class=\"sub\">files</p><p class=\"files\">";
        let links: Vec<String> = j
            .files
            .iter()
            .map(|f| {
                let name = f.trim_end_matches('/');
                let mut segs: Vec<&str> = prefix.to_vec();
                segs.extend(["jobs", j.id.as_str(), name]);
                let mut href = escape::href(&segs);
                if f.ends_with('/') {
                    href.push('/');
                }
                format!("<a href=\"{href}\">{}</a>", escape::text(f))
            })
            .collect();
        out += &links.join(" ");
        out += "</p>";
    }
    out + "</details>"
}
