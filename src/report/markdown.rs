//! Markdown: one table per sub-table, our value and the paper's side by side per column, then
//! the claim lines and the caption.

use super::Table;

pub fn render(t: &Table) -> String {
    let mut out = format!("### {}\n\n", t.title);
    for section in &t.sections {
        let mut header = vec![escape(section.header.as_deref().unwrap_or(&t.row_header))];
        let mut align = vec![":---".to_string()];
        for c in &t.columns {
            if t.has_reference {
                header.push(format!("{} (ours)", escape(&c.header)));
                header.push(format!("{} (paper)", escape(&c.header)));
                align.extend(["---:".into(), "---:".into()]);
            } else {
                header.push(escape(&c.header));
                align.push("---:".into());
            }
        }
        out += &format!("| {} |\n|{}|\n", header.join(" | "), align.join("|"));
        for row in &section.rows {
            let mut cells = vec![escape(&row.label)];
            for (cell, paper) in row.cells.iter().zip(&row.paper) {
                let text = escape(&cell.text);
                cells.push(if cell.bold {
                    format!("**{text}**")
                } else {
                    text
                });
                if t.has_reference {
                    cells.push(paper.as_deref().map_or("–".into(), escape));
                }
            }
            out += &format!("| {} |\n", cells.join(" | "));
        }
        out += "\n";
    }
    for claim in &t.claims {
        out += &format!("- Claim: {}\n", claim.text);
    }
    for c in &t.text_claims {
        out += &format!("- {}\n", c.text);
    }
    if !t.claims.is_empty() || !t.text_claims.is_empty() {
        out += "\n";
    }
    out += &format!("{}\n", t.caption);
    out
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}
