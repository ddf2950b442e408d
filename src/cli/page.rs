//! `sweep report DIR [--out FILE]` (the HTML page), and the page `sweep run` keeps up to date.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::bad;
use super::specs::{read_sweep, reload};
use crate::journal::{SweepDir, SweepRecord};
use crate::report::{self, html};
use crate::spec::{ReferenceFile, Spec};

/// `sweep report`: tables rebuilt from the directory, then the page.
pub(super) fn command(dir: &Path, out: Option<&Path>) -> Result<u8> {
    let sweep = SweepDir::new(dir);
    let (spec, reference) = reload(&sweep)?;
    let record = read_sweep(&sweep)?;
    let tables = report::write_tables(&sweep, &record, &spec, reference.as_ref())?;
    let path = write(&sweep, &record, &spec, tables, None, out)?;
    println!("{}", path.display());
    Ok(super::code::OK)
}

/// Writes the page (atomically) to `out`, or `DIR/report.html`; returns where.
/// `running`: whether an orchestrator works on the sweep (None: ask the lock file).
pub(super) fn write(
    sweep: &SweepDir,
    record: &SweepRecord,
    spec: &Spec,
    tables: Vec<report::Table>,
    running: Option<bool>,
    out: Option<&Path>,
) -> Result<PathBuf> {
    let path = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| sweep.root.join("report.html"));
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(bad(format!(
            "{}: no such folder to write the report into",
            folder.display()
        )));
    }
    let prefix = relative(&folder, &sweep.root)
        .with_context(|| format!("finding {} from {}", sweep.root.display(), folder.display()))?;
    let page = html::render(
        &html::gather(html::Sources {
            sweep,
            spec,
            plan: &record.plan,
            views: &record.jobs,
            tables,
            running,
        }),
        &prefix.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    crate::journal::write_atomic(&path, page.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The path segments from folder `from` to folder `to` ("..", names), both made absolute.
fn relative(from: &Path, to: &Path) -> Result<Vec<String>> {
    let (from, to) = (from.canonicalize()?, to.canonicalize()?);
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: Vec<String> = vec!["..".to_string(); a.len() - common];
    out.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Ok(out)
}

/// The page during a run: rewritten after jobs finish, at most as often as keeps its cost
/// (which grows with the sweep) under a tenth of the time; the run's end writes it once more.
#[derive(Default)]
pub(super) struct Live {
    last: Option<(Instant, Duration)>,
}

impl Live {
    /// Tables (every time, as before) and, when due, the page.
    pub(super) fn refresh(
        &mut self,
        sweep: &SweepDir,
        spec: &Spec,
        reference: Option<&ReferenceFile>,
    ) {
        let written = read_sweep(sweep).and_then(|record| {
            let tables = report::write_tables(sweep, &record, spec, reference)?;
            Ok((record, tables))
        });
        let (record, tables) = match written {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "sweep: warning: could not update the tables: {}",
                    super::error_text(&e)
                );
                return;
            }
        };
        if let Some((at, cost)) = self.last {
            if at.elapsed() < (cost * 10).max(Duration::from_secs(1)) {
                return;
            }
        }
        let start = Instant::now();
        if let Err(e) = write(sweep, &record, spec, tables, Some(true), None) {
            eprintln!(
                "sweep: warning: could not update the report: {}",
                super::error_text(&e)
            );
        }
        self.last = Some((start, start.elapsed()));
    }
}

/// Notes this run in `DIR/provenance.json`; a failure only warns (results do not depend on it).
pub(super) fn record_run(sweep: &SweepDir, hardware: &str) {
    if let Err(e) = html::record_run(&sweep.root, hardware) {
        eprintln!("sweep: warning: could not record this run's provenance: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn relative_paths_between_folders() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("x/y"), d.path().join("z"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        assert_eq!(relative(&a, &b).unwrap(), ["..", "..", "z"]);
        assert_eq!(relative(&b, &b).unwrap(), Vec::<String>::new());
        assert_eq!(relative(d.path(), &a).unwrap(), ["x", "y"]);
    }
}
