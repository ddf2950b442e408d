//! LaTeX with booktabs, ready to paste: ours and the paper's value per metric.

use super::Table;

pub fn render(t: &Table) -> String {
    let per = if t.has_reference { 2 } else { 1 };
    let mut out = String::from("\\begin{table}[t]\n\\centering\n");
    out += &format!(
        "\\begin{{tabular}}{{l{}}}\n\\toprule\n",
        "c".repeat(t.columns.len() * per)
    );
    let mut head = vec![escape(&t.row_header)];
    for c in &t.columns {
        if t.has_reference {
            head.push(format!("\\multicolumn{{2}}{{c}}{{{}}}", escape(c)));
        } else {
            head.push(escape(c));
        }
    }
    out += &format!("{} \\\\\n", head.join(" & "));
    if t.has_reference {
        let sub: Vec<&str> = t.columns.iter().flat_map(|_| ["ours", "paper"]).collect();
        out += &format!(" & {} \\\\\n", sub.join(" & "));
    }
    out += "\\midrule\n";
    for row in &t.rows {
        let mut cells = vec![escape(&row.label)];
        for (cell, paper) in row.cells.iter().zip(&row.paper) {
            cells.push(escape(&t.cell_text(cell)).replace('±', "$\\pm$"));
            if t.has_reference {
                cells.push(paper.map_or("--".into(), |v| t.paper_number(v)));
            }
        }
        out += &format!("{} \\\\\n", cells.join(" & "));
    }
    out += "\\bottomrule\n\\end{tabular}\n";
    out += &format!(
        "\\caption{{{}: {}}}\n\\end{{table}}\n",
        escape(&t.title),
        escape(&t.caption)
    );
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch)
            }
            '~' => out += "\\textasciitilde{}",
            '^' => out += "\\textasciicircum{}",
            '\\' => out += "\\textbackslash{}",
            _ => out.push(ch),
        }
    }
    out
}
