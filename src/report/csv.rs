//! CSV: one row per table row; for each metric our mean, std, seed count and the paper's value.

use super::{Cell, Table};

pub fn render(t: &Table) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let mut header = vec![t.row_header.clone()];
    for c in &t.columns {
        header.extend([
            c.clone(),
            format!("{c}_std"),
            format!("{c}_seeds"),
            format!("{c}_paper"),
        ]);
    }
    header.push("status".into());
    w.write_record(&header)
        .expect("writing to memory cannot fail");
    for row in &t.rows {
        let mut rec = vec![row.label.clone()];
        let mut status = "ok".to_string();
        for (cell, paper) in row.cells.iter().zip(&row.paper) {
            match cell {
                Cell::Value {
                    mean,
                    std,
                    seeds,
                    of,
                } => {
                    rec.push(t.number(*mean));
                    rec.push(std.map_or(String::new(), |s| t.number(s)));
                    rec.push(format!("{seeds}/{of}"));
                    if seeds < of {
                        status = "partial".into();
                    }
                }
                Cell::Missing(why) => {
                    rec.extend([String::new(), String::new(), "0".into()]);
                    status = why.clone();
                }
            }
            rec.push(paper.map_or(String::new(), |v| t.paper_number(v)));
        }
        rec.push(status);
        w.write_record(&rec).expect("writing to memory cannot fail");
    }
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("csv of UTF-8 fields")
}
