//! Reading a spec file's own shape, one function per top-level section: the grid and variants,
//! seeds, scales, tables and executor. Config values are checked later, per job, by
//! [`super::resolve`]; every problem here is located at file:line:col and all are reported at once.

use std::path::Path;

use serde::Deserialize;

use super::error::{explain_serde, ErrorKind, Origin, SpecError, SpecErrors};
use super::executor::{is_slurm_memory, is_slurm_time, ExecutorSpec};
use super::yaml::{self, Pos, Seg, Value};
use super::{
    key_path, render, resolve, Axis, JobConfig, Override, Resources, Spec, TableSpec, Variant,
};

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

/// The file being read and the problems found so far.
struct Ctx<'a> {
    path: &'a Path,
    locator: &'a yaml::Locator,
    errors: Vec<SpecError>,
}

impl Ctx<'_> {
    /// Records a problem at a document path (`variants[2].grid`), located in the file.
    fn push(&mut self, kind: ErrorKind, at: &[Seg], problem: String, allowed: Option<String>) {
        let pos = self.locator.locate(at);
        self.push_at(kind, pos, render(at), problem, allowed);
    }

    fn push_at(
        &mut self,
        kind: ErrorKind,
        pos: Option<Pos>,
        key: String,
        problem: String,
        allowed: Option<String>,
    ) {
        self.errors.push(SpecError {
            kind,
            origin: Origin::File {
                path: self.path.into(),
                pos,
            },
            key,
            problem,
            allowed,
        });
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.into())
}

/// As [`super::load`], from text already read (`path` names it in errors).
pub fn parse(
    path: &Path,
    source: String,
    scale: Option<&str>,
    overrides: &[Override],
) -> Result<Spec, SpecErrors> {
    let file: SpecFile = yaml::from_str(&source).map_err(|(msg, pos)| {
        let e = explain_serde(&msg);
        SpecError {
            kind: e.kind,
            origin: Origin::File {
                path: path.into(),
                pos,
            },
            key: String::new(),
            problem: e.problem,
            allowed: e.allowed,
        }
    })?;
    let locator = yaml::Locator::new(&source);
    let mut cx = Ctx {
        path,
        locator: &locator,
        errors: Vec::new(),
    };
    let grid = axes(&mut cx, &file.grid, vec![key("grid")]);
    let variants = variants(&mut cx, &file);
    seeds(&mut cx, &file.seeds);
    let (scales, scale_seeds) = scales(&mut cx, &file.scales);
    let scale = chosen_scale(&mut cx, scale, &scales);
    let (tables, single_table) = tables(&mut cx, &file);
    executor(&mut cx, &file.executor);

    let mut errors = cx.errors;
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

/// Grid axes (`grid:` or a variant's `grid:`): each a dotted key and a non-empty list.
fn axes(cx: &mut Ctx, map: &yaml::Mapping, prefix: Vec<Seg>) -> Vec<Axis> {
    let mut out = Vec::new();
    for (k, v) in map {
        let Some(name) = k.as_str() else {
            let problem = "axis keys must be strings".into();
            cx.push(ErrorKind::Structure, &prefix, problem, None);
            continue;
        };
        let mut p = prefix.clone();
        p.push(key(name));
        match v.as_sequence() {
            Some(values) if !values.is_empty() => out.push(Axis {
                key: name.into(),
                values: values.clone(),
            }),
            Some(_) => cx.push(
                ErrorKind::Structure,
                &p,
                "empty axis".into(),
                Some("a list of at least one value".into()),
            ),
            None => cx.push(
                ErrorKind::Structure,
                &p,
                "an axis must be a list".into(),
                Some("a list of values, e.g. [0.5, 1.0]".into()),
            ),
        }
    }
    out
}

/// The named rows, their `set` keys and own axes, and the `init_from` DAG edges (no cycles).
fn variants(cx: &mut Ctx, file: &SpecFile) -> Vec<Variant> {
    let mut variants: Vec<Variant> = Vec::new();
    for (i, v) in file.variants.iter().enumerate() {
        let p = vec![key("variants"), Seg::Index(i)];
        if variants.iter().any(|w| w.name == v.name) {
            cx.push(
                ErrorKind::Structure,
                &[p.clone(), vec![key("name")]].concat(),
                format!("duplicate variant name `{}`", v.name),
                Some("unique names".into()),
            );
        }
        let mut set = Vec::new();
        for (k, value) in &v.set {
            match k.as_str() {
                Some(dotted) if !dotted.split('.').any(str::is_empty) => {
                    set.push((dotted.to_string(), value.clone()))
                }
                _ => cx.push(
                    ErrorKind::Structure,
                    &[p.clone(), vec![key("set")]].concat(),
                    format!("bad key {k:?}"),
                    Some("dotted keys such as loss.reg.kind".into()),
                ),
            }
        }
        let grid = axes(cx, &v.grid, [p, vec![key("grid")]].concat());
        variants.push(Variant {
            name: v.name.clone(),
            init_from: None,
            set,
            grid,
        });
    }
    init_from(cx, file, &mut variants);
    if variants.is_empty() {
        variants.push(Variant {
            name: file.name.clone(),
            init_from: None,
            set: Vec::new(),
            grid: Vec::new(),
        });
    }
    variants
}

/// `init_from` names another variant; the chain must not loop back.
fn init_from(cx: &mut Ctx, file: &SpecFile, variants: &mut [Variant]) {
    let at = |i: usize| [key("variants"), Seg::Index(i), key("init_from")];
    for (i, v) in file.variants.iter().enumerate() {
        let Some(parent) = &v.init_from else { continue };
        match file.variants.iter().position(|w| &w.name == parent) {
            Some(j) if j != i => variants[i].init_from = Some(j),
            _ => {
                let names: Vec<&str> = file
                    .variants
                    .iter()
                    .filter(|w| w.name != v.name)
                    .map(|w| w.name.as_str())
                    .collect();
                cx.push(
                    ErrorKind::Structure,
                    &at(i),
                    format!("`{parent}` is not another variant"),
                    Some(names.join(", ")),
                );
            }
        }
    }
    for (i, v) in variants.iter().enumerate() {
        let mut chain = vec![v.name.clone()];
        let mut next = v.init_from;
        while let Some(j) = next {
            chain.push(variants[j].name.clone());
            if j == i {
                let problem = format!("init_from forms a cycle: {}", chain.join(" -> "));
                cx.push(ErrorKind::Structure, &at(i), problem, None);
                break;
            }
            if chain.len() > variants.len() + 1 {
                break;
            }
            next = variants[j].init_from;
        }
    }
}

fn seeds(cx: &mut Ctx, seeds: &[u64]) {
    if seeds.is_empty() {
        let pos = cx.locator.locate(&[key("seeds")]);
        cx.push_at(
            ErrorKind::Structure,
            pos,
            "seeds".into(),
            "no seeds".into(),
            Some("a list of at least one seed".into()),
        );
    }
}

type Scales = Vec<(String, Vec<(String, Value)>)>;

/// The named override sets; a scale may also set the seeds (`full: {seeds: [0, 1, 2]}`), which
/// are not a config key and come back apart.
fn scales(cx: &mut Ctx, map: &yaml::Mapping) -> (Scales, Vec<(String, Vec<u64>)>) {
    let mut scales = Vec::new();
    let mut scale_seeds = Vec::new();
    for (k, v) in map {
        let name = k.as_str().unwrap_or_default().to_string();
        let p = vec![key("scales"), key(&name)];
        let entries = match v {
            Value::Null => Vec::new(),
            Value::Mapping(m) => {
                let mut entries = Vec::new();
                for (k, v) in m {
                    let Some(k) = k.as_str() else { continue };
                    if k != "seeds" {
                        entries.push((k.to_string(), v.clone()));
                        continue;
                    }
                    let seeds: Option<Vec<u64>> = v
                        .as_sequence()
                        .and_then(|s| s.iter().map(|x| x.as_u64()).collect());
                    match seeds {
                        Some(list) if !list.is_empty() => scale_seeds.push((name.clone(), list)),
                        _ => cx.push(
                            ErrorKind::Structure,
                            &[p.clone(), vec![key("seeds")]].concat(),
                            "seeds must be a list of whole numbers".into(),
                            Some("e.g. [0, 1, 2]".into()),
                        ),
                    }
                }
                entries
            }
            _ => {
                let problem = "a scale must be a mapping of dotted keys".into();
                cx.push(ErrorKind::Structure, &p, problem, None);
                Vec::new()
            }
        };
        scales.push((name, entries));
    }
    (scales, scale_seeds)
}

/// The `--scale` asked for, or `quick` when the spec has it.
fn chosen_scale(cx: &mut Ctx, asked: Option<&str>, scales: &Scales) -> Option<String> {
    match asked {
        Some(s) if scales.iter().any(|(n, _)| n == s) => Some(s.to_string()),
        Some(s) => {
            let names: Vec<&str> = scales.iter().map(|(n, _)| n.as_str()).collect();
            cx.errors.push(SpecError {
                kind: ErrorKind::CommandLine,
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
    }
}

/// `table:` (one) or `tables:` (several, each named): their own checks and unique file names.
fn tables(cx: &mut Ctx, file: &SpecFile) -> (Vec<TableSpec>, bool) {
    let single_table = file.table.is_some() || file.tables.is_empty();
    let mut tables: Vec<TableSpec> = file.table.clone().into_iter().collect();
    tables.extend(file.tables.iter().cloned());
    if tables.is_empty() {
        tables.push(TableSpec::default());
    }
    if file.table.is_some() && !file.tables.is_empty() {
        let pos = cx.locator.locate(&[key("tables")]);
        cx.push_at(
            ErrorKind::Table,
            pos,
            "tables".into(),
            "both `table` and `tables`: write one table as `table:` or all of them under `tables:`"
                .into(),
            None,
        );
    }
    let mut names: Vec<String> = Vec::new();
    for (i, t) in tables.iter_mut().enumerate() {
        let prefix = if single_table {
            vec![key("table")]
        } else {
            vec![key("tables"), Seg::Index(i)]
        };
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
        for (k, problem, allowed) in problems {
            cx.push(ErrorKind::Table, &key_path(&prefix, &k), problem, allowed);
        }
    }
    (tables, single_table)
}

/// Slurm's own formats for `time` and `mem`, checked before anything is submitted.
fn executor(cx: &mut Ctx, exec: &ExecutorSpec) {
    for (name, value, ok, allowed) in [
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
            let found = value.as_deref().unwrap_or_default();
            cx.push(
                ErrorKind::OutOfRange,
                &[key("executor"), key(name)],
                format!("`{found}` is not a Slurm {name}"),
                Some(allowed.into()),
            );
        }
    }
}
