//! Reading a spec file's own shape, one function per top-level section: the grid and variants,
//! seeds, scales, tables and executor. Config values are checked later, per job, by
//! [`super::resolve`]; every problem here is located at file:line:col and all are reported at once.

use std::path::Path;

use serde::Deserialize;

use super::error::{explain_serde, ErrorKind, Origin, SpecError, SpecErrors};
use super::executor::{is_slurm_memory, is_slurm_time, ExecutorSpec};
use super::scale::{self, Scale};
use super::yaml::{self, Pos, Seg, Value};
use super::{key_path, render, resolve, Axis, Override, Resources, Spec, TableSpec, Variant};

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
pub(super) struct Ctx<'a> {
    path: &'a Path,
    locator: &'a yaml::Locator,
    /// The whole file as a YAML value, for tables read again under a scale.
    source_value: Value,
    errors: Vec<SpecError>,
}

impl Ctx<'_> {
    /// Records a problem at a document path (`variants[2].grid`), located in the file.
    pub(super) fn push(
        &mut self,
        kind: ErrorKind,
        at: &[Seg],
        problem: String,
        allowed: Option<String>,
    ) {
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
        source_value: yaml::parse_value(&source).unwrap_or(Value::Null),
        errors: Vec::new(),
    };
    let mut grid = axes(&mut cx, &file.grid, vec![key("grid")]);
    let mut variants = variants(&mut cx, &file);
    seeds(&mut cx, &file.seeds);
    let variant_names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let single_table = file.table.is_some() || file.tables.is_empty();
    let table_names: Vec<String> = if single_table {
        vec![file
            .table
            .as_ref()
            .and_then(|t| t.name.clone())
            .unwrap_or_else(|| file.name.clone())]
    } else {
        file.tables
            .iter()
            .map(|t| t.name.clone().unwrap_or_default())
            .collect()
    };
    let all_scales = scale::read(
        &mut cx,
        &file.scales,
        &scale::Names {
            variants: &variant_names,
            tables: &table_names,
            single_table,
            grid: &grid,
        },
    );
    let scales: Scales = all_scales
        .iter()
        .map(|s| (s.name.clone(), s.set.clone()))
        .collect();
    let scale = chosen_scale(&mut cx, scale, &scales);
    let chosen: Option<&Scale> = all_scales.iter().find(|s| Some(&s.name) == scale.as_ref());
    let grid_from_scale = match chosen {
        Some(s) => {
            for (vi, set) in &s.variants {
                variants[*vi].scale_set = set.clone();
            }
            scale::apply_grid(&mut grid, s)
        }
        None => vec![false; grid.len()],
    };
    let (tables, single_table) = tables(&mut cx, &file, chosen);
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
            let mut base = super::implied::defaults_tree();
            resolve::merge(&mut base, Value::Mapping(file.base));
            base
        },
        variants,
        grid,
        grid_from_scale,
        seeds: chosen.and_then(|s| s.seeds.clone()).unwrap_or(file.seeds),
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
            scale_set: Vec::new(),
        });
    }
    init_from(cx, file, &mut variants);
    if variants.is_empty() {
        variants.push(Variant {
            name: file.name.clone(),
            init_from: None,
            set: Vec::new(),
            grid: Vec::new(),
            scale_set: Vec::new(),
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
/// The chosen scale's table fields replace the table's own (located in the scale).
fn tables(cx: &mut Ctx, file: &SpecFile, scale: Option<&Scale>) -> (Vec<TableSpec>, bool) {
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
        let fields = scale.and_then(|s| s.tables.iter().find(|(j, _)| *j == i));
        let mut scale_prefix = Vec::new();
        if let (Some((_, fields)), Some(s)) = (fields, scale) {
            scale_prefix = vec![key("scales"), key(&s.name)];
            if single_table {
                scale_prefix.push(key("table"));
            } else {
                scale_prefix.push(key("tables"));
                scale_prefix.push(key(t.name.as_deref().unwrap_or_default()));
            }
            match scaled_table(&cx.source_value, &prefix, fields) {
                Ok(scaled) => *t = scaled,
                Err(problem) => cx.push(ErrorKind::Table, &scale_prefix, problem, None),
            }
        }
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
            // A problem in a field the scale replaced is located in the scale.
            let first = k.split(['.', '[']).next().unwrap_or_default();
            let in_scale = fields.is_some_and(|(_, f)| f.contains_key(first));
            let at = if in_scale { &scale_prefix } else { &prefix };
            cx.push(ErrorKind::Table, &key_path(at, &k), problem, allowed);
        }
    }
    (tables, single_table)
}

/// A table with a scale's fields in place of its own, read again through the table schema.
fn scaled_table(doc: &Value, prefix: &[Seg], fields: &yaml::Mapping) -> Result<TableSpec, String> {
    let own = prefix
        .iter()
        .try_fold(doc, |node, seg| match seg {
            Seg::Key(k) => node.get(k.as_str()),
            Seg::Index(i) => node.get(*i),
        })
        .cloned()
        .unwrap_or(Value::Mapping(yaml::Mapping::new()));
    let mut merged = own.as_mapping().cloned().unwrap_or_default();
    for (k, v) in fields {
        merged.insert(k.clone(), v.clone());
    }
    let text = yaml::to_string(&Value::Mapping(merged));
    yaml::from_str(&text).map_err(|(msg, _)| {
        let e = explain_serde(&msg);
        match e.allowed {
            Some(a) => format!("{}; allowed: {a}", e.problem),
            None => e.problem,
        }
    })
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
