//! Finding and loading specs: a path on disk, else one of the sweeps shipped inside the binary
//! (`sweep run ablation_ugs` from any directory, and after `cargo install`); `sweep list`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use include_dir::{include_dir, Dir};

use super::{bad, code, SpecArgs};
use crate::journal::{write_atomic, Read, SweepDir, SweepRecord};
use crate::plan::{Plan, PlanFile};
use crate::spec::{self, Override, Spec};

/// The repository's `sweeps/` folder, compiled in: specs, their reference numbers, examples.
static SHIPPED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/sweeps");

/// A spec path as given; else a bare name (with or without `.yaml`) in `./sweeps/`; else a
/// shipped sweep. A file on disk always wins over the shipped copy.
pub(super) fn find_spec(given: &Path) -> Result<PathBuf> {
    if given.is_file() {
        return Ok(given.to_path_buf());
    }
    if given.components().count() == 1 {
        let name = given.to_string_lossy();
        let file = if name.ends_with(".yaml") {
            name.to_string()
        } else {
            format!("{name}.yaml")
        };
        let local = Path::new("sweeps").join(&file);
        if local.is_file() {
            return Ok(local);
        }
        if SHIPPED.get_file(&file).is_some() {
            return Ok(unpack_shipped()?.join(&file));
        }
    }
    Err(bad(format!(
        "{}: no such spec file (also looked in sweeps/ and the shipped sweeps: {})",
        given.display(),
        shipped_names().join(", ")
    )))
}

/// Writes the shipped sweeps once into the user's cache, in a folder named by their content
/// hash, so a spec's reference file is found beside it like any spec on disk.
fn unpack_shipped() -> Result<PathBuf> {
    use sha2::{Digest, Sha256};
    let mut files: Vec<&include_dir::File> = Vec::new();
    collect(&SHIPPED, &mut files);
    let mut hash = Sha256::new();
    for f in &files {
        hash.update(f.path().to_string_lossy().as_bytes());
        hash.update(f.contents());
    }
    let digest = format!("{:x}", hash.finalize());
    let root = cache_dir().join(format!("shipped-{}", &digest[..12]));
    for f in &files {
        let path = root.join(f.path());
        if path.is_file() {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        write_atomic(&path, f.contents()).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(root)
}

fn collect<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a include_dir::File<'a>>) {
    out.extend(dir.files());
    for d in dir.dirs() {
        collect(d, out);
    }
}

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("sweep")
}

/// The shipped sweeps' names (specs, not their `.paper.yaml` reference files).
fn shipped_names() -> Vec<String> {
    let mut names: Vec<String> = SHIPPED
        .files()
        .filter_map(|f| f.path().to_str())
        .filter(|p| p.ends_with(".yaml") && !p.ends_with(".paper.yaml"))
        .map(|p| p.trim_end_matches(".yaml").to_string())
        .collect();
    names.sort();
    names
}

pub(super) fn load_spec(path: &Path, args: &SpecArgs) -> Result<Spec> {
    let overrides = parse_overrides(&args.set)?;
    spec::load(path, args.scale.as_deref(), &overrides).map_err(bad)
}

fn parse_overrides(args: &[String]) -> Result<Vec<Override>> {
    args.iter()
        .map(String::as_str)
        .map(Override::parse)
        .collect::<Result<_, _>>()
        .map_err(bad)
}

/// The spec, overrides and scale a sweep directory was run with, and its reference numbers.
pub(super) fn reload(sweep: &SweepDir) -> Result<(Spec, Option<spec::ReferenceFile>)> {
    let settings = sweep.run_settings().map_err(bad)?;
    if settings.rebuilt_from_missing {
        eprintln!(
            "sweep: {} is missing; rebuilding it from the job directories",
            sweep.plan_path().display()
        );
    }
    let overrides = parse_overrides(&settings.overrides)?;
    let spec =
        spec::load(&sweep.spec_path(), settings.scale.as_deref(), &overrides).map_err(bad)?;
    // The sweep's copy of the paper's numbers; `run` writes it again from the spec's.
    let ref_path = sweep.root.join("reference.yaml");
    let reference = match ref_path.exists().then(|| spec::read_reference(&ref_path)) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            eprintln!("sweep: warning: {e}; the tables leave out the paper's numbers");
            None
        }
        None => None,
    };
    Ok((spec, reference))
}

/// The sweep directory as read, its plan rebuilt from the spec and the job directories when
/// `plan.json` is missing or damaged (said once; `run` and `resume` write it again).
pub(super) fn read_sweep(sweep: &SweepDir) -> Result<SweepRecord> {
    match sweep.read_plan_file() {
        Read::Ok(plan) => return Ok(sweep.read_with(plan)),
        Read::Missing => {}
        Read::Damaged(why) => eprintln!(
            "sweep: {} is damaged ({why}); rebuilt from the spec and the job directories",
            sweep.plan_path().display()
        ),
    }
    let (spec, _) = reload(sweep)?;
    let plan = super::until_resolved::plan_on_disk(sweep, &spec)?;
    let file = PlanFile::new(&plan, &spec, &std::collections::HashMap::new());
    Ok(sweep.read_with(file))
}

/// `sweep list`: each shipped sweep with its tables, distinct jobs at the quick scale, and the
/// quick-scale wall time its header states.
pub(super) fn list() -> Result<u8> {
    let root = unpack_shipped()?;
    println!("Shipped sweeps (run any with `sweep run NAME`; `sweep plan NAME` shows its jobs):");
    for name in shipped_names() {
        let path = root.join(format!("{name}.yaml"));
        let spec = load_spec(&path, &SpecArgs::default())?;
        let jobs = crate::expand::expand(&spec).map_err(bad)?;
        let plan = Plan::new(jobs).map_err(bad)?;
        let titles: Vec<String> = spec
            .tables
            .iter()
            .map(|t| {
                t.title
                    .clone()
                    .or_else(|| t.name.clone())
                    .unwrap_or_default()
            })
            .collect();
        let time = quick_time(&spec.source).unwrap_or_else(|| "not stated".into());
        println!(
            "\n  {name}  ({} jobs; quick scale: {time})",
            plan.distinct_jobs()
        );
        for t in titles {
            println!("    {t}");
        }
    }
    Ok(code::OK)
}

/// The header's "… quick wall time …: X" line, as written (measured or estimated).
fn quick_time(source: &str) -> Option<String> {
    source
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .find_map(|l| {
            let lower = l.to_lowercase();
            let at = lower.find("quick wall time")?;
            let (_, value) = l[at..].split_once(':')?;
            let kind = if lower[..at].contains("estimated") {
                "estimated"
            } else {
                "measured"
            };
            Some(format!("{kind} {}", value.trim().trim_end_matches('.')))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_spec_is_listed_and_reference_files_are_not() {
        let names = shipped_names();
        assert!(names.contains(&"ablation_ugs".to_string()), "{names:?}");
        assert!(names.iter().all(|n| !n.ends_with(".paper")), "{names:?}");
    }

    #[test]
    fn quick_time_reads_the_header_line() {
        let src = "# UGS\n# Estimated quick wall time on 2 cores (2 jobs): ≈ 11.5 min.\nname: x\n";
        assert_eq!(quick_time(src).as_deref(), Some("estimated ≈ 11.5 min"));
        let src = "# Measured quick wall time on 2 cores: 12 min 02 s.\nname: x\n";
        assert_eq!(quick_time(src).as_deref(), Some("measured 12 min 02 s"));
        assert_eq!(quick_time("name: x\n# quick wall time: 3 min\n"), None);
    }
}
