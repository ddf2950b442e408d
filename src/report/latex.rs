//! LaTeX with booktabs, ready to paste: column groups as \multicolumn with \cmidrule, ours and
//! the paper's value per column, a header row per sub-table, claims under the tabular.

use super::{Section, Table};

pub fn render(t: &Table) -> String {
    let per = if t.has_reference { 2 } else { 1 };
    let mut out = String::from("\\begin{table}[t]\n\\centering\n");
    out += &format!(
        "\\begin{{tabular}}{{l{}}}\n\\toprule\n",
        "c".repeat(t.columns.len() * per)
    );
    for (i, section) in t.sections.iter().enumerate() {
        if i > 0 {
            out += "\\midrule\n";
        }
        out += &header(t, section, per);
        out += "\\midrule\n";
        for row in &section.rows {
            let mut cells = vec![escape(&row.label)];
            for (cell, paper) in row.cells.iter().zip(&row.paper) {
                let text = escape(&cell.text);
                cells.push(if cell.bold {
                    format!("\\textbf{{{text}}}")
                } else {
                    text
                });
                if t.has_reference {
                    cells.push(paper.as_deref().map_or("--".into(), escape));
                }
            }
            out += &format!("{} \\\\\n", cells.join(" & "));
        }
    }
    out += "\\bottomrule\n\\end{tabular}\n";
    if let Some(note) = &t.still_rising_note {
        out += &format!("\\par\\smallskip\n{{\\footnotesize {}.}}\n", escape(note));
    }
    if !t.claims.is_empty() || !t.text_claims.is_empty() {
        out += "\\par\\smallskip\n{\\footnotesize\n";
        for claim in &t.claims {
            out += &format!("Claim: {}\\\\\n", escape(&claim.text));
        }
        for c in &t.text_claims {
            out += &format!("{}\\\\\n", escape(&c.text));
        }
        out += "}\n";
    }
    out += &format!(
        "\\caption{{{}: {}}}\n\\end{{table}}\n",
        escape(&t.title),
        escape(&t.caption)
    );
    out
}

/// The header rows of a sub-table: column groups (when a group holds several metrics), the
/// column names, then ours/paper.
fn header(t: &Table, section: &Section, per: usize) -> String {
    let mut out = String::new();
    let first = escape(section.header.as_deref().unwrap_or(&t.row_header));
    let multi_metric = t.columns.iter().any(|c| c.group.is_some())
        && t.columns
            .iter()
            .filter(|c| c.group == t.columns[0].group)
            .count()
            > 1;
    let mut names: Vec<String> = t.columns.iter().map(|c| escape(&c.header)).collect();
    if multi_metric {
        let mut spans: Vec<(String, usize)> = Vec::new();
        for c in &t.columns {
            let g = c.group.clone().unwrap_or_default();
            match spans.last_mut() {
                Some((last, n)) if *last == g => *n += 1,
                _ => spans.push((g, 1)),
            }
        }
        let mut cells = vec![first.clone()];
        let mut rules = Vec::new();
        let mut col = 2;
        for (g, n) in &spans {
            cells.push(format!(
                "\\multicolumn{{{}}}{{c}}{{{}}}",
                n * per,
                escape(g)
            ));
            rules.push(format!("\\cmidrule(lr){{{}-{}}}", col, col + n * per - 1));
            col += n * per;
        }
        out += &format!("{} \\\\\n{}\n", cells.join(" & "), rules.join(" "));
        names = t.columns.iter().map(|c| escape(&c.metric_label)).collect();
    }
    let mut cells = vec![if multi_metric { String::new() } else { first }];
    for n in names {
        cells.push(if per == 2 {
            format!("\\multicolumn{{2}}{{c}}{{{n}}}")
        } else {
            n
        });
    }
    out += &format!("{} \\\\\n", cells.join(" & "));
    if t.has_reference {
        let sub: Vec<&str> = t.columns.iter().flat_map(|_| ["ours", "paper"]).collect();
        out += &format!(" & {} \\\\\n", sub.join(" & "));
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut code = false;
    for ch in s.chars() {
        match ch {
            // `quick` in a caption is code: \texttt{quick}.
            '`' => {
                out += if code { "}" } else { "\\texttt{" };
                code = !code;
            }
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch)
            }
            '<' => out += "\\textless{}",
            '>' => out += "\\textgreater{}",
            '"' => out += "''",
            '–' => out += "--",
            '—' => out += "---",
            c if math(c).is_some() => out += &format!("${}$", math(c).unwrap_or_default()),
            '~' => out += "\\textasciitilde{}",
            '^' => out += "\\textasciicircum{}",
            '\\' => out += "\\textbackslash{}",
            _ => out.push(ch),
        }
    }
    if code {
        out.push('}');
    }
    out
}

/// Characters pdflatex's default encoding lacks, as math: the papers' Greek letters and signs.
fn math(c: char) -> Option<&'static str> {
    Some(match c {
        'α' => "\\alpha",
        'β' => "\\beta",
        'γ' => "\\gamma",
        'δ' => "\\delta",
        'ε' => "\\epsilon",
        'λ' => "\\lambda",
        'μ' => "\\mu",
        'ρ' => "\\rho",
        'σ' => "\\sigma",
        'Δ' => "\\Delta",
        '±' => "\\pm",
        '×' => "\\times",
        '≥' => "\\geq",
        '≤' => "\\leq",
        '→' => "\\to",
        // The still-rising mark, as a superscript.
        '†' => "^\\dagger",
        _ => return None,
    })
}
