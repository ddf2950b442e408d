//! The document: head (CSP, inline CSS), the sections in their order, the sort script.

use super::{escape, jobs, sections, tables, Report};

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("sort.js");

/// The whole page. `link_prefix` is the path from the page's folder to the sweep directory,
/// as segments (empty when the page sits in it, as `DIR/report.html` does).
pub fn render(r: &Report, link_prefix: &[&str]) -> String {
    let title = format!("{}: sweep report", r.title);
    let mut out = String::with_capacity(256 * 1024);
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    // The browser itself refuses to fetch anything: the page is whole as written.
    out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
            style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n";
    out += &format!("<title>{}</title>\n", escape::text(&title));
    out += &format!("<style>\n{STYLE}</style>\n</head>\n<body>\n");
    out += &format!("<header>\n<h1>{}</h1>\n", escape::text(&r.title));
    if let Some(d) = &r.description {
        out += &format!("<p class=\"desc\">{}</p>\n", escape::text(d));
    }
    out += "<nav><a href=\"#state\">State</a><a href=\"#provenance\">What produced it</a>\
            <a href=\"#tables\">Tables</a><a href=\"#figures\">Figures</a><a href=\"#jobs\">Jobs</a></nav>\n</header>\n";
    out += &sections::state(r);
    out += &sections::provenance(r);
    out += "<section id=\"tables\">\n<h2>Tables</h2>\n";
    if r.tables.is_empty() {
        out += "<p class=\"note\">The spec has no table.</p>\n";
    }
    for t in &r.tables {
        out += &tables::table(t);
    }
    out += "</section>\n";
    out += &sections::figures(r);
    out += &jobs::jobs(r, link_prefix);
    let mut spec = link_prefix.to_vec();
    spec.push("spec.yaml");
    out += &format!(
        "<footer>Written by sweep {} from the sweep directory, which also holds the \
         <a href=\"{}\">spec</a>, the tables as Markdown, CSV and LaTeX, and the figures as PNG \
         and SVG.</footer>\n",
        escape::text(super::BUILD.version),
        escape::href(&spec)
    );
    out += &format!("<script>\n{SCRIPT}</script>\n</body>\n</html>\n");
    out
}
