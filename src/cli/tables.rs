//! `sweep table` and `sweep plot`: a sweep's tables and figures, rendered again from its
//! directory (while it runs, too).

use std::path::Path;

use anyhow::Result;

use super::specs::{read_sweep, reload};
use super::{bad, code, FormatArg};
use crate::journal::SweepDir;
use crate::report::{self, Format};

pub(super) fn table(dir: &Path, format: FormatArg, name: Option<&str>) -> Result<u8> {
    let sweep = SweepDir::new(dir);
    let format = match format {
        FormatArg::Md => Format::Markdown,
        FormatArg::Csv => Format::Csv,
        FormatArg::Tex => Format::Latex,
    };
    let (spec, reference) = reload(&sweep)?;
    let record = read_sweep(&sweep)?;
    let tables = report::write_tables(&sweep, &record, &spec, reference.as_ref()).map_err(bad)?;
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    if let Some(n) = name {
        if !names.contains(&n) {
            return Err(bad(format!(
                "{} has no table `{n}` (its tables: {})",
                sweep.root.display(),
                names.join(", ")
            )));
        }
    }
    let chosen = tables.iter().filter(|t| name.is_none_or(|n| t.name == n));
    for (i, t) in chosen.enumerate() {
        // CSV tables differ in columns: one blank line between them keeps them apart.
        if i > 0 {
            println!();
        }
        print!("{}", format.render(t));
    }
    Ok(code::OK)
}

pub(super) fn plot(dir: &Path) -> Result<u8> {
    let sweep = SweepDir::new(dir);
    if !sweep.plan_path().exists() {
        return Err(bad(crate::journal::JournalError::NotASweep {
            dir: dir.into(),
        }));
    }
    let written = crate::plot::write_plots(&sweep.root).map_err(bad)?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(code::OK)
}
