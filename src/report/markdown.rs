//! Markdown: our value and the paper's side by side for each metric.

use super::Table;

pub fn render(t: &Table) -> String {
    let mut out = format!("### {}\n\n", t.title);
    let mut header = vec![t.row_header.clone()];
    let mut align = vec![":---".to_string()];
    for c in &t.columns {
        header.push(format!("{c} (ours)"));
        align.push("---:".into());
        if t.has_reference {
            header.push(format!("{c} (paper)"));
            align.push("---:".into());
        }
    }
    out += &format!("| {} |\n|{}|\n", header.join(" | "), align.join("|"));
    for row in &t.rows {
        let mut cells = vec![escape(&row.label)];
        for (cell, paper) in row.cells.iter().zip(&row.paper) {
            cells.push(t.cell_text(cell));
            if t.has_reference {
                cells.push(paper.map_or("–".into(), |v| t.paper_number(v)));
            }
        }
        out += &format!("| {} |\n", cells.join(" | "));
    }
    out += &format!("\n{}\n", t.caption);
    out
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}
