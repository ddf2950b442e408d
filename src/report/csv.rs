//! CSV: one line per table row (delta rows included), per column our mean, std, seed count
//! and the paper's value, in the table's units; a `section` column when there are sub-tables.

use super::Table;

pub fn render(t: &Table) -> String {
    let sections = t.sections.iter().any(|s| s.header.is_some());
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let mut header = Vec::new();
    if sections {
        header.push("section".to_string());
    }
    header.push(t.row_header.clone());
    for c in &t.columns {
        let h = &c.key;
        header.extend([
            h.clone(),
            format!("{h}_std"),
            format!("{h}_seeds"),
            format!("{h}_paper"),
        ]);
    }
    header.push("status".into());
    w.write_record(&header)
        .expect("writing to memory cannot fail");
    for section in &t.sections {
        for row in &section.rows {
            let mut rec = Vec::new();
            if sections {
                rec.push(section.header.clone().unwrap_or_default());
            }
            rec.push(row.label.clone());
            let mut status = "ok";
            for (cell, paper) in row.cells.iter().zip(&row.paper) {
                rec.extend([cell.mean.clone(), cell.std.clone(), cell.seeds.clone()]);
                rec.push(paper.clone().unwrap_or_default());
                if status == "ok" && cell.status != "ok" {
                    status = &cell.status;
                }
            }
            rec.push(status.to_string());
            w.write_record(&rec).expect("writing to memory cannot fail");
        }
    }
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("csv of UTF-8 fields")
}
