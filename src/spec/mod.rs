//! The sweep spec: a YAML file with a base config, named variants, grid axes and seeds.
//!
//! Loading checks the file's own shape (unknown top-level keys, empty axes, duplicate names);
//! [`Spec::resolve`] merges the layers of one job onto the base, fills every default through the
//! typed [`config::JobConfig`], checks ranges, and locates each problem at file:line:col.

pub mod config;
mod error;
mod resolve;
pub mod table;
mod validate;
pub mod weights_hash;
mod yaml;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use config::JobConfig;
pub use error::{Origin, SpecError, SpecErrors};
pub use resolve::{Layer, LayerAt};
pub use table::{ReferenceFile, TableSpec};
pub use yaml::{Pos, Seg, Value};

/// The spec as written, before expansion.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    base: yaml::Mapping,
    #[serde(default)]
    variants: Vec<VariantFile>,
    #[serde(default)]
    grid: yaml::Mapping,
    #[serde(default = "default_seeds")]
    seeds: Vec<u64>,
    #[serde(default)]
    scales: yaml::Mapping,
    #[serde(default)]
    table: Option<TableSpec>,
    #[serde(default)]
    tables: Vec<TableSpec>,
    #[serde(default)]
    resources: Resources,
    #[serde(default)]
    executor: ExecutorSpec,
}

/// What the scheduler may assume about every job of the spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Expected peak GPU memory of one job (else learned from the first finished job of a shape).
    #[serde(default)]
    pub gpu_memory_mib: Option<u64>,
}

/// Where the jobs run, and what a Slurm job asks for (`executor:`). The command line's
/// `--executor`, `--partition`, ... override these; none of it is part of a job's id, so the
/// same spec finishes on a laptop what it started on a cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    /// `local` (child processes, the default) or `slurm` (one sbatch per job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ExecutorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Slurm's time limit of one job (`--time`): minutes, `H:MM:SS`, `D-HH:MM`, ...
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// GPUs of one job (`--gres=gpu:N`); 0 runs the jobs on CPUs. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_job: Option<u32>,
    /// CPUs of one job (`--cpus-per-task`, and the worker's threads). Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_job: Option<u32>,
    /// Host memory of one job (`--mem`, e.g. `16G`); default: the cluster's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub mem: Option<String>,
    /// Passed to sbatch as they are, after sweep's own options (so they win).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    Local,
    Slurm,
}

impl ExecutorSpec {
    /// These settings with every one that `over` gives replaced (its sbatch args added
    /// after these, so they win in sbatch too).
    pub fn overridden_by(&self, over: &ExecutorSpec) -> ExecutorSpec {
        ExecutorSpec {
            kind: over.kind.or(self.kind),
            partition: over.partition.clone().or_else(|| self.partition.clone()),
            account: over.account.clone().or_else(|| self.account.clone()),
            time: over.time.clone().or_else(|| self.time.clone()),
            qos: over.qos.clone().or_else(|| self.qos.clone()),
            gpus_per_job: over.gpus_per_job.or(self.gpus_per_job),
            cpus_per_job: over.cpus_per_job.or(self.cpus_per_job),
            mem: over.mem.clone().or_else(|| self.mem.clone()),
            sbatch_args: self
                .sbatch_args
                .iter()
                .chain(&over.sbatch_args)
                .cloned()
                .collect(),
        }
    }

    /// The checks `load` makes on the spec's section, for settings from elsewhere.
    pub fn check(&self) -> Result<(), String> {
        if let Some(t) = self.time.as_deref().filter(|t| !is_slurm_time(t)) {
            return Err(format!("--time {t} is not a Slurm time; allowed: minutes, MM:SS, H:MM:SS, D-H, D-H:MM, D-H:MM:SS or unlimited"));
        }
        if let Some(m) = self.mem.as_deref().filter(|m| !is_slurm_memory(m)) {
            return Err(format!("--mem {m} is not a Slurm memory size; allowed: a whole number with an optional K, M, G or T suffix, e.g. 16G"));
        }
        Ok(())
    }
}

/// `time: 90` and `time: "1:30:00"` are both Slurm times; keep either as text.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, found {other:?}"
        ))),
    }
}

/// Whether sbatch takes `text` as `--time`: minutes, minutes:seconds, hours:minutes:seconds,
/// days-hours, days-hours:minutes, days-hours:minutes:seconds, or unlimited.
pub fn is_slurm_time(text: &str) -> bool {
    let number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if text.eq_ignore_ascii_case("unlimited") || text.eq_ignore_ascii_case("infinite") {
        return true;
    }
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, text),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(number) && parts.len() <= 3 && parts.iter().all(|p| number(p))
}

/// Whether sbatch takes `text` as `--mem`: a whole number with an optional K, M, G or T.
pub fn is_slurm_memory(text: &str) -> bool {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    !digits.is_empty()
        && text.len() - digits.len() <= 1
        && digits.bytes().all(|b| b.is_ascii_digit())
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    name: String,
    /// Start every job of this variant from the final weights of the same seed's job of
    /// another variant (a DAG edge).
    #[serde(default)]
    init_from: Option<String>,
    #[serde(default)]
    set: yaml::Mapping,
    #[serde(default)]
    grid: yaml::Mapping,
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
    pub fn parse(arg: &str) -> Result<Override, SpecError> {
        let bad = |problem: String| SpecError {
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
    pub seeds: Vec<u64>,
    /// Named override sets (`quick`, `full`, ...); the chosen one applies after the grid.
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

/// As [`load`], from text already read (`path` names it in errors).
pub fn parse(
    path: &Path,
    source: String,
    scale: Option<&str>,
    overrides: &[Override],
) -> Result<Spec, SpecErrors> {
    let at = |pos: Option<Pos>, key: &str, problem: String, allowed: Option<String>| SpecError {
        origin: Origin::File {
            path: path.into(),
            pos,
        },
        key: key.into(),
        problem,
        allowed,
    };
    let file: SpecFile = yaml::from_str(&source).map_err(|(msg, pos)| {
        let (problem, allowed, _) = error::explain_serde(&msg);
        at(pos, "", problem, allowed)
    })?;
    let locator = yaml::Locator::new(&source);
    let loc = |path: &[Seg]| locator.locate(path);
    let mut errors = Vec::new();

    let axes = |map: &yaml::Mapping, prefix: Vec<Seg>, errors: &mut Vec<SpecError>| {
        let mut out = Vec::new();
        for (k, v) in map {
            let Some(key) = k.as_str() else {
                errors.push(at(
                    loc(&prefix),
                    &render(&prefix),
                    "axis keys must be strings".into(),
                    None,
                ));
                continue;
            };
            let mut p = prefix.clone();
            p.push(Seg::Key(key.into()));
            match v.as_sequence() {
                Some(values) if !values.is_empty() => out.push(Axis {
                    key: key.into(),
                    values: values.clone(),
                }),
                Some(_) => errors.push(at(
                    loc(&p),
                    &render(&p),
                    "empty axis".into(),
                    Some("a list of at least one value".into()),
                )),
                None => errors.push(at(
                    loc(&p),
                    &render(&p),
                    "an axis must be a list".into(),
                    Some("a list of values, e.g. [0.5, 1.0]".into()),
                )),
            }
        }
        out
    };
    let grid = axes(&file.grid, vec![Seg::Key("grid".into())], &mut errors);

    let mut variants = Vec::new();
    for (i, v) in file.variants.iter().enumerate() {
        let p = vec![Seg::Key("variants".into()), Seg::Index(i)];
        if variants.iter().any(|w: &Variant| w.name == v.name) {
            let mut pn = p.clone();
            pn.push(Seg::Key("name".into()));
            errors.push(at(
                loc(&pn),
                &render(&pn),
                format!("duplicate variant name `{}`", v.name),
                Some("unique names".into()),
            ));
        }
        let mut set = Vec::new();
        for (k, value) in &v.set {
            match k.as_str() {
                Some(key) if !key.split('.').any(str::is_empty) => {
                    set.push((key.to_string(), value.clone()))
                }
                _ => {
                    let mut ps = p.clone();
                    ps.push(Seg::Key("set".into()));
                    errors.push(at(
                        loc(&ps),
                        &render(&ps),
                        format!("bad key {k:?}"),
                        Some("dotted keys such as loss.reg.kind".into()),
                    ));
                }
            }
        }
        let mut pg = p.clone();
        pg.push(Seg::Key("grid".into()));
        let vgrid = axes(&v.grid, pg, &mut errors);
        variants.push(Variant {
            name: v.name.clone(),
            init_from: None,
            set,
            grid: vgrid,
        });
    }
    // init_from names another variant; the chain must not loop back.
    for (i, v) in file.variants.iter().enumerate() {
        let Some(parent) = &v.init_from else { continue };
        let p = [
            Seg::Key("variants".into()),
            Seg::Index(i),
            Seg::Key("init_from".into()),
        ];
        match file.variants.iter().position(|w| &w.name == parent) {
            Some(j) if j != i => variants[i].init_from = Some(j),
            _ => {
                let names: Vec<&str> = file
                    .variants
                    .iter()
                    .filter(|w| w.name != v.name)
                    .map(|w| w.name.as_str())
                    .collect();
                errors.push(at(
                    loc(&p),
                    &render(&p),
                    format!("`{parent}` is not another variant"),
                    Some(names.join(", ")),
                ));
            }
        }
    }
    for (i, v) in variants.iter().enumerate() {
        let mut chain = vec![v.name.clone()];
        let mut at_variant = v.init_from;
        while let Some(j) = at_variant {
            chain.push(variants[j].name.clone());
            if j == i {
                let p = [
                    Seg::Key("variants".into()),
                    Seg::Index(i),
                    Seg::Key("init_from".into()),
                ];
                errors.push(at(
                    loc(&p),
                    &render(&p),
                    format!("init_from forms a cycle: {}", chain.join(" -> ")),
                    None,
                ));
                break;
            }
            if chain.len() > variants.len() + 1 {
                break;
            }
            at_variant = variants[j].init_from;
        }
    }
    if variants.is_empty() {
        variants.push(Variant {
            name: file.name.clone(),
            init_from: None,
            set: Vec::new(),
            grid: Vec::new(),
        });
    }
    if file.seeds.is_empty() {
        let p = [Seg::Key("seeds".into())];
        errors.push(at(
            loc(&p),
            "seeds",
            "no seeds".into(),
            Some("a list of at least one seed".into()),
        ));
    }

    let mut scales = Vec::new();
    // A scale may also set the seeds (`full: {seeds: [0, 1, 2]}`): not a config key.
    let mut scale_seeds: Vec<(String, Vec<u64>)> = Vec::new();
    for (k, v) in &file.scales {
        let name = k.as_str().unwrap_or_default().to_string();
        let p = vec![Seg::Key("scales".into()), Seg::Key(name.clone())];
        let entries = match v {
            Value::Null => Vec::new(),
            Value::Mapping(m) => m
                .iter()
                .filter_map(|(k, v)| k.as_str().map(|k| (k.to_string(), v.clone())))
                .filter(|(k, v)| {
                    if k != "seeds" {
                        return true;
                    }
                    let seeds: Option<Vec<u64>> = v
                        .as_sequence()
                        .and_then(|s| s.iter().map(|x| x.as_u64()).collect());
                    match seeds {
                        Some(list) if !list.is_empty() => scale_seeds.push((name.clone(), list)),
                        _ => {
                            let mut ps = p.clone();
                            ps.push(Seg::Key("seeds".into()));
                            errors.push(at(
                                loc(&ps),
                                &render(&ps),
                                "seeds must be a list of whole numbers".into(),
                                Some("e.g. [0, 1, 2]".into()),
                            ));
                        }
                    }
                    false
                })
                .collect(),
            _ => {
                errors.push(at(
                    loc(&p),
                    &render(&p),
                    "a scale must be a mapping of dotted keys".into(),
                    None,
                ));
                Vec::new()
            }
        };
        scales.push((name, entries));
    }
    let scale = match scale {
        Some(s) if scales.iter().any(|(n, _)| n == s) => Some(s.to_string()),
        Some(s) => {
            let names: Vec<&str> = scales.iter().map(|(n, _)| n.as_str()).collect();
            errors.push(SpecError {
                origin: Origin::CommandLine {
                    arg: format!("--scale {s}"),
                },
                key: String::new(),
                problem: format!("the spec has no scale `{s}`"),
                allowed: Some(if names.is_empty() {
                    "none (the spec defines no scales:)".into()
                } else {
                    names.join(", ")
                }),
            });
            None
        }
        None => scales
            .iter()
            .any(|(n, _)| n == "quick")
            .then(|| "quick".to_string()),
    };

    let single_table = file.table.is_some() || file.tables.is_empty();
    let mut tables: Vec<TableSpec> = file.table.clone().into_iter().collect();
    tables.extend(file.tables.iter().cloned());
    if tables.is_empty() {
        tables.push(TableSpec::default());
    }
    if file.table.is_some() && !file.tables.is_empty() {
        let p = [Seg::Key("tables".into())];
        errors.push(at(
            loc(&p),
            "tables",
            "both `table` and `tables`: write one table as `table:` or all of them under `tables:`"
                .into(),
            None,
        ));
    }
    let table_prefix = |i: usize| -> Vec<Seg> {
        if single_table {
            vec![Seg::Key("table".into())]
        } else {
            vec![Seg::Key("tables".into()), Seg::Index(i)]
        }
    };
    let mut names: Vec<String> = Vec::new();
    for (i, t) in tables.iter_mut().enumerate() {
        let prefix = table_prefix(i);
        let mut problems = t.check();
        match &t.name {
            Some(n) if names.contains(n) => {
                problems.push(("name".into(), format!("duplicate table name `{n}`"), None))
            }
            Some(n) if n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.') => problems
                .push((
                    "name".into(),
                    format!("`{n}` cannot name a file"),
                    Some("letters, digits, `_`, `-`".into()),
                )),
            None if !single_table && file.tables.len() > 1 => problems.push((
                "".into(),
                "a table among several needs a `name` (its file name under tables/)".into(),
                None,
            )),
            _ => {}
        }
        let name = t.name.clone().unwrap_or_else(|| file.name.clone());
        t.name = Some(name.clone());
        names.push(name);
        for (key, problem, allowed) in problems {
            let p = key_path(&prefix, &key);
            errors.push(at(loc(&p), &render(&p), problem, allowed));
        }
    }

    let exec = &file.executor;
    for (key, value, ok, allowed) in [
        (
            "time",
            &exec.time,
            exec.time.as_deref().is_none_or(is_slurm_time),
            "minutes, MM:SS, H:MM:SS, D-H, D-H:MM, D-H:MM:SS or unlimited",
        ),
        (
            "mem",
            &exec.mem,
            exec.mem.as_deref().is_none_or(is_slurm_memory),
            "a whole number with an optional K, M, G or T suffix, e.g. 16G",
        ),
    ] {
        if !ok {
            let p = [Seg::Key("executor".into()), Seg::Key(key.into())];
            let found = value.as_deref().unwrap_or_default();
            errors.push(at(
                loc(&p),
                &render(&p),
                format!("`{found}` is not a Slurm {key}"),
                Some(allowed.into()),
            ));
        }
    }

    if !errors.is_empty() {
        errors.sort_by_key(|e| match &e.origin {
            Origin::File { pos: Some(p), .. } => (p.line, p.col),
            _ => (usize::MAX, 0),
        });
        return Err(SpecErrors(errors));
    }
    Ok(Spec {
        path: path.into(),
        source,
        name: file.name,
        description: file.description,
        // Every default written out, so `loss.cls.gamma: 1` tweaks the default focal loss.
        base: {
            let mut base = yaml::to_value(&JobConfig::default());
            resolve::merge(&mut base, Value::Mapping(file.base));
            base
        },
        variants,
        grid,
        seeds: scale
            .as_ref()
            .and_then(|s| scale_seeds.iter().find(|(n, _)| n == s))
            .map_or(file.seeds, |(_, seeds)| seeds.clone()),
        scales,
        scale,
        overrides: overrides.to_vec(),
        tables,
        single_table,
        resources: file.resources,
        executor: file.executor,
        locator,
    })
}

impl Spec {
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
    let file_err = |pos, key: String, problem: String, allowed| SpecError {
        origin: Origin::File {
            path: path.into(),
            pos,
        },
        key,
        problem,
        allowed,
    };
    let source = std::fs::read_to_string(path)
        .map_err(|e| file_err(None, String::new(), format!("cannot read: {e}"), None))?;
    let value =
        yaml::parse_value(&source).map_err(|(msg, pos)| file_err(pos, String::new(), msg, None))?;
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
