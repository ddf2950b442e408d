//! The sweep spec: a YAML file with a base config, named variants, grid axes and seeds.
//!
//! Loading checks the file's own shape (unknown top-level keys, empty axes, duplicate names);
//! [`Spec::resolve`] merges the layers of one job onto the base, fills every default through the
//! typed [`config::JobConfig`], checks ranges, and locates each problem at file:line:col.

pub mod config;
mod error;
mod executor;
mod fetch;
mod implied;
mod parse;
mod resolve;
mod scale;
pub mod table;
mod validate;
pub mod weights_hash;
mod yaml;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use config::JobConfig;
pub use error::{ErrorKind, Origin, SpecError, SpecErrors};
pub use executor::{is_slurm_memory, is_slurm_time, ExecutorKind, ExecutorSpec};
pub use parse::parse;
pub use resolve::{Layer, LayerAt};
pub use table::{ReferenceFile, TableSpec};
pub use yaml::{Pos, Seg, Value};

/// What the scheduler may assume about every job of the spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Expected peak GPU memory of one job (else learned from the first finished job of a shape).
    #[serde(default)]
    pub gpu_memory_mib: Option<u64>,
}

/// One named row of the ablation.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    /// Index of the variant whose jobs this one starts from.
    pub init_from: Option<usize>,
    pub set: Vec<(String, Value)>,
    /// Axes that apply to this variant only, after the spec-wide grid.
    pub grid: Vec<Axis>,
    /// The chosen scale's keys for this variant (`scales.<s>.variants.<name>`), applied after
    /// the scale's own keys.
    pub scale_set: Vec<(String, Value)>,
}

/// One cartesian axis: a dotted key and the values it takes.
#[derive(Debug, Clone)]
pub struct Axis {
    pub key: String,
    pub values: Vec<Value>,
}

/// A `--set key=value` from the command line, applied after everything in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: Value,
    pub arg: String,
}

impl Override {
    /// Parses `key=value`; the value is typed as YAML types it (`50` a number, `l2` a string).
    /// (A spec error is made once per bad argument: its size costs nothing worth a box.)
    #[allow(clippy::result_large_err)]
    pub fn parse(arg: &str) -> Result<Override, SpecError> {
        let bad = |problem: String| SpecError {
            kind: ErrorKind::CommandLine,
            origin: Origin::CommandLine { arg: arg.into() },
            key: String::new(),
            problem,
            allowed: Some("KEY=VALUE with a dotted KEY, e.g. train.iterations=50".into()),
        };
        let (key, text) = arg
            .split_once('=')
            .ok_or_else(|| bad("missing `=`".into()))?;
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(bad(format!("`{key}` is not a dotted key")));
        }
        let value = yaml::parse_scalar(text).map_err(|e| bad(format!("bad value: {e}")))?;
        Ok(Override {
            key: key.into(),
            value,
            arg: arg.into(),
        })
    }
}

/// A loaded spec.
pub struct Spec {
    pub path: PathBuf,
    pub source: String,
    pub name: String,
    pub description: Option<String>,
    pub base: Value,
    pub variants: Vec<Variant>,
    pub grid: Vec<Axis>,
    /// Which of `grid`'s axes the chosen scale set (for locating their errors).
    pub grid_from_scale: Vec<bool>,
    pub seeds: Vec<u64>,
    /// Named override sets (`quick`, `full`, ...): each scale's flat dotted keys; the chosen
    /// one applies after the grid. Its per-row keys are in `Variant::scale_set`, its axes in
    /// `grid` and its table fields in `tables` (see `scale.rs`).
    pub scales: Vec<(String, Vec<(String, Value)>)>,
    pub scale: Option<String>,
    pub overrides: Vec<Override>,
    /// The tables to render (`table:` is a list of one); each has its name filled in.
    pub tables: Vec<TableSpec>,
    /// Whether the file wrote `table:` (one) rather than `tables:`, for error positions.
    single_table: bool,
    pub resources: Resources,
    pub executor: ExecutorSpec,
    locator: yaml::Locator,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec")
            .field("path", &self.path)
            .field("name", &self.name)
            .finish()
    }
}

/// Reads and checks a spec file. `scale` picks one of its `scales:` (default: `quick` when the
/// spec defines it); `overrides` are the command line's `--set`s.
pub fn load(path: &Path, scale: Option<&str>, overrides: &[Override]) -> Result<Spec, SpecErrors> {
    let source = std::fs::read_to_string(path).map_err(|e| SpecError {
        kind: ErrorKind::Read,
        origin: Origin::File {
            path: path.into(),
            pos: None,
        },
        key: String::new(),
        problem: format!("cannot read the spec: {e}"),
        allowed: None,
    })?;
    parse(path, source, scale, overrides)
}

impl Spec {
    /// Index of the chosen scale in `scales`.
    pub fn scale_index(&self) -> Option<usize> {
        self.scales
            .iter()
            .position(|(n, _)| Some(n) == self.scale.as_ref())
    }

    /// The paper's numbers of every table that names a reference file (read relative to the
    /// spec's folder), gathered into one file keyed by table name.
    pub fn read_reference(&self) -> Result<Option<ReferenceFile>, SpecErrors> {
        let mut merged = ReferenceFile::default();
        let mut errors = Vec::new();
        for (i, t) in self.tables.iter().enumerate() {
            let Some(reference) = &t.reference else {
                continue;
            };
            match read_reference(&reference_path(&self.path, reference)) {
                Ok(file) => {
                    let name = t.name.clone().unwrap_or_default();
                    match file.table(&name) {
                        Some(r) => {
                            merged.tables.insert(name, r);
                        }
                        None => errors.push(self.table_error(
                            i,
                            "reference",
                            format!("{reference} has no numbers for table `{name}` (no `tables.{name}`, no top-level `rows`)"),
                            Some(file.tables.keys().cloned().collect::<Vec<_>>().join(", ")),
                        )),
                    }
                }
                Err(problem) => errors.push(self.table_error(i, "reference", problem, None)),
            }
        }
        if !errors.is_empty() {
            return Err(SpecErrors(errors));
        }
        Ok((!merged.tables.is_empty()).then_some(merged))
    }

    /// An error about key `key` (e.g. `baseline`, `sections[1].rows[0]`) of table `index`,
    /// located in the spec file.
    pub fn table_error(
        &self,
        index: usize,
        key: &str,
        problem: String,
        allowed: Option<String>,
    ) -> SpecError {
        let prefix = if self.single_table {
            vec![Seg::Key("table".into())]
        } else {
            vec![Seg::Key("tables".into()), Seg::Index(index)]
        };
        let p = key_path(&prefix, key);
        SpecError {
            kind: ErrorKind::Table,
            origin: Origin::File {
                path: self.path.clone(),
                pos: self
                    .locator
                    .locate(&p)
                    .or_else(|| self.locator.locate(&prefix)),
            },
            key: render(&p),
            problem,
            allowed,
        }
    }
}

/// `prefix` followed by a key written as `a.b[2].c`.
fn key_path(prefix: &[Seg], key: &str) -> Vec<Seg> {
    let mut p = prefix.to_vec();
    for part in key.split('.').filter(|s| !s.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            p.push(Seg::Key(rest[..open].into()));
            rest = &rest[open..];
            while let Some(close) = rest.find(']') {
                if let Ok(i) = rest[1..close].parse() {
                    p.push(Seg::Index(i));
                }
                rest = &rest[close + 1..];
            }
        } else {
            p.push(Seg::Key(rest.into()));
        }
    }
    p
}

/// The reference file named by a table, relative to the spec's folder.
pub fn reference_path(spec_path: &Path, reference: &str) -> PathBuf {
    spec_path.parent().unwrap_or(Path::new(".")).join(reference)
}

pub fn read_reference(path: &Path) -> Result<ReferenceFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read reference file {}: {e}", path.display()))?;
    yaml::from_str(&text).map_err(|(msg, pos)| match pos {
        Some(p) => format!("{}:{}:{}: {msg}", path.display(), p.line, p.col),
        None => format!("{}: {msg}", path.display()),
    })
}

/// A value of the spec's schema from YAML text (for tests and tools outside `spec`), with the
/// parser's message on failure.
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    yaml::from_str(text).map_err(|(msg, _)| msg)
}

/// A job config as YAML (the job dir's `config.yaml`).
pub fn config_to_yaml(cfg: &JobConfig) -> String {
    yaml::to_string(cfg)
}

/// Reads a job's `config.yaml` (or any single-config file, for `sweep train`), fills defaults
/// and checks ranges.
pub fn read_config(path: &Path) -> Result<JobConfig, SpecErrors> {
    let file_err = |kind, pos, key: String, problem: String, allowed| SpecError {
        kind,
        origin: Origin::File {
            path: path.into(),
            pos,
        },
        key,
        problem,
        allowed,
    };
    let source = std::fs::read_to_string(path).map_err(|e| {
        let problem = format!("cannot read: {e}");
        file_err(ErrorKind::Read, None, String::new(), problem, None)
    })?;
    let value = yaml::parse_value(&source)
        .map_err(|(msg, pos)| file_err(ErrorKind::Syntax, pos, String::new(), msg, None))?;
    let locator = yaml::Locator::new(&source);
    resolve::resolve_value(value, &|cfg_path: &[Seg]| {
        let origin = Origin::File {
            path: path.into(),
            pos: locator.locate(cfg_path),
        };
        (origin, render(cfg_path))
    })
}

/// Renders a document path as `variants[2].set.loss.reg`.
pub fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k)
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests;
