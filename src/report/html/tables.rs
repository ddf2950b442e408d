//! A [`Table`] in HTML: the layout the Markdown, CSV and LaTeX come from (sub-tables, column
//! groups, ours beside the paper's), then its claims with their verdicts drawn, then the
//! caption. Each row with its delta rows is one `<tbody>`, so sorting keeps them together.

use super::claim::{self, ClaimView};
use super::{escape, svg};
use crate::report::{Column, Section, Table};

pub fn table(t: &Table) -> String {
    let mut out = format!(
        "<section class=\"table\" id=\"{}\">\n<h3>{}</h3>\n",
        escape::attr(&format!("table-{}", escape::ident(&t.name))),
        escape::text(&t.title)
    );
    for s in &t.sections {
        out += &section(t, s);
    }
    let claims: Vec<ClaimView> = t
        .claims
        .iter()
        .map(|c| claim::of(c, t.delta_scale, t.delta_unit))
        .collect();
    if !claims.is_empty() {
        out += "<h4>Claims</h4>\n<p class=\"legend\">Each claim is the paper's statement \
                 \u{201c}row &gt; other row\u{201d}, decided from our seeds. Drawn: our \
                 difference (dot) and its interval (bar), zero (dashed), the paper's \
                 difference (diamond).</p>\n<ul class=\"claims\">\n";
        for c in &claims {
            out += &format!(
                "<li class=\"claim {0}\"><span class=\"verdict {0}\">{0}</span> {1} <span class=\"claim-text\">{2}</span></li>\n",
                c.verdict.word(),
                svg::claim(c),
                escape::text(&c.text)
            );
        }
        out += "</ul>\n";
    }
    out += &format!(
        "<p class=\"caption\">{}</p>\n</section>\n",
        escape::text(&t.caption)
    );
    out
}

/// Number of header rows: column groups, metric labels, ours/paper.
struct Levels {
    groups: bool,
    metrics: bool,
    paper: bool,
}

fn levels(t: &Table) -> Levels {
    let groups = t.columns.iter().any(|c| c.group.is_some());
    let per_group = t
        .columns
        .iter()
        .filter(|c| c.group == t.columns.first().and_then(|f| f.group.clone()))
        .count();
    Levels {
        groups,
        metrics: !groups || per_group > 1,
        paper: t.has_reference,
    }
}

fn section(t: &Table, s: &Section) -> String {
    let lv = levels(t);
    let depth = [lv.groups, lv.metrics, lv.paper]
        .iter()
        .filter(|b| **b)
        .count()
        .max(1);
    let k = if lv.paper { 2 } else { 1 };
    let corner = s.header.as_deref().unwrap_or(&t.row_header);
    let mut out =
        String::from("<div class=\"scroll\"><table class=\"paper-table sortable\">\n<thead>\n");
    // Every header cell above the last row spans; the last row's cells carry the column index
    // (in body cells, the row header is index 0) that the sort script uses.
    let mut rows: Vec<String> = Vec::new();
    if lv.groups {
        let mut r = String::new();
        for (group, n) in runs(&t.columns) {
            r += &format!(
                "<th colspan=\"{}\" class=\"group\">{}</th>",
                n * k,
                escape::text(group.unwrap_or(""))
            );
        }
        rows.push(r);
    }
    if lv.metrics {
        let r: String = t
            .columns
            .iter()
            .map(|c| {
                let text = if lv.groups {
                    &c.metric_label
                } else {
                    &c.header
                };
                format!("<th colspan=\"{k}\">{}</th>", escape::text(text))
            })
            .collect();
        rows.push(r);
    }
    if lv.paper {
        rows.push("<th>ours</th><th class=\"paper\">paper</th>".repeat(t.columns.len()));
    }
    // Sortable cells are those of the last header row; rebuild it with indices.
    if let Some(last) = rows.last_mut() {
        *last = sortable_last_row(t, &lv);
    }
    for (i, r) in rows.iter().enumerate() {
        out += "<tr>";
        if i == 0 {
            out += &format!(
                "<th rowspan=\"{depth}\" scope=\"col\" data-col=\"0\">{}</th>",
                escape::text(corner)
            );
        }
        out += r;
        out += "</tr>\n";
    }
    if rows.is_empty() {
        out += &format!(
            "<tr><th scope=\"col\" data-col=\"0\">{}</th></tr>\n",
            escape::text(corner)
        );
    }
    out += "</thead>\n";
    let mut open = false;
    for row in &s.rows {
        if !row.is_delta {
            if open {
                out += "</tbody>\n";
            }
            out += "<tbody>\n";
            open = true;
        } else if !open {
            out += "<tbody>\n";
            open = true;
        }
        out += &format!(
            "<tr{}><th scope=\"row\">{}</th>",
            if row.is_delta { " class=\"delta\"" } else { "" },
            escape::text(&row.label)
        );
        for (cell, paper) in row.cells.iter().zip(&row.paper) {
            let text = escape::text(&cell.text);
            let text = if cell.bold {
                format!("<strong>{text}</strong>")
            } else {
                text
            };
            let mut title = String::new();
            if !cell.seeds.is_empty() {
                let rising = match (cell.still_rising, &t.still_rising_note) {
                    (Some(true), Some(note)) => format!("; {note}"),
                    _ => String::new(),
                };
                title = format!(
                    " title=\"{} seeds{}\"",
                    escape::attr(&cell.seeds),
                    escape::attr(&rising)
                );
            }
            out += &format!(
                "<td class=\"ours {}\"{title}>{text}</td>",
                status_class(&cell.status)
            );
            if lv.paper {
                out += &format!(
                    "<td class=\"paper\">{}</td>",
                    escape::text(paper.as_deref().unwrap_or("–"))
                );
            }
        }
        out += "</tr>\n";
    }
    if open {
        out += "</tbody>\n";
    }
    out + "</table></div>\n"
}

/// The bottom header row with `data-col` on each cell.
fn sortable_last_row(t: &Table, lv: &Levels) -> String {
    let k = if lv.paper { 2 } else { 1 };
    let mut r = String::new();
    for (i, c) in t.columns.iter().enumerate() {
        let col = 1 + i * k;
        if lv.paper {
            r += &format!(
                "<th data-col=\"{col}\">ours</th><th class=\"paper\" data-col=\"{}\">paper</th>",
                col + 1
            );
        } else if lv.metrics {
            let text = if lv.groups {
                &c.metric_label
            } else {
                &c.header
            };
            r += &format!("<th data-col=\"{col}\">{}</th>", escape::text(text));
        } else {
            r += &format!(
                "<th data-col=\"{col}\" class=\"group\">{}</th>",
                escape::text(c.group.as_deref().unwrap_or(""))
            );
        }
    }
    r
}

/// Consecutive columns of one group: (group, count).
fn runs(columns: &[Column]) -> Vec<(Option<&str>, usize)> {
    let mut out: Vec<(Option<&str>, usize)> = Vec::new();
    for c in columns {
        match out.last_mut() {
            Some((g, n)) if *g == c.group.as_deref() => *n += 1,
            _ => out.push((c.group.as_deref(), 1)),
        }
    }
    out
}

/// A CSS class from a cell's status: ok, partial, delta, or missing.
fn status_class(status: &str) -> &'static str {
    match status {
        "ok" => "ok",
        "delta" => "ok",
        s if s.starts_with("partial") => "partial",
        _ => "missing",
    }
}
