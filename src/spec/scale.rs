//! A scale (`scales.<name>`): what changes between the quick stand-in and the papers' setting.
//!
//! Besides `seeds:` and flat dotted keys (every job, after the variants), a scale may hold
//! `variants: {<variant name>: {<dotted key>: value}}` (that row's jobs, after the flat keys),
//! `grid: {<dotted key>: [values] | null}` (replace the spec-wide axis of that key, add one, or
//! remove it with null) and `table:` / `tables: {<table name>: {...}}` (fields that replace the
//! table's own). Every scale is checked whichever one is chosen, so a typo in `full` is found
//! by a quick plan too; only the chosen scale is applied.

use super::error::ErrorKind;
use super::parse::Ctx;
use super::yaml::{self, Seg, Value};
use super::Axis;

/// One scale as written, checked.
#[derive(Debug, Clone, Default)]
pub struct Scale {
    pub name: String,
    /// Flat dotted keys, applied to every job after the variants.
    pub set: Vec<(String, Value)>,
    pub seeds: Option<Vec<u64>>,
    /// Per-variant keys: (variant index, dotted keys), applied after `set`.
    pub variants: Vec<(usize, Vec<(String, Value)>)>,
    /// Spec-wide axes to replace or add (`Some`) or remove (`None`).
    pub grid: Vec<(String, Option<Vec<Value>>)>,
    /// Table fields: (table index, fields) replacing that table's own.
    pub tables: Vec<(usize, yaml::Mapping)>,
}

/// What the scale reader needs to know of the rest of the spec.
pub struct Names<'a> {
    pub variants: &'a [String],
    /// Each table's name (the file's `name:`, or the spec's name for a single table).
    pub tables: &'a [String],
    pub single_table: bool,
    pub grid: &'a [Axis],
}

fn key(k: &str) -> Seg {
    Seg::Key(k.into())
}

fn at(base: &[Seg], more: &[&str]) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.extend(more.iter().map(|k| key(k)));
    p
}

/// Reads every scale of `scales:`.
pub fn read(cx: &mut Ctx, map: &yaml::Mapping, names: &Names) -> Vec<Scale> {
    let mut out = Vec::new();
    for (k, v) in map {
        let name = k.as_str().unwrap_or_default().to_string();
        let p = vec![key("scales"), key(&name)];
        let mut scale = Scale {
            name: name.clone(),
            ..Scale::default()
        };
        match v {
            Value::Null => {}
            Value::Mapping(m) => {
                for (k, v) in m {
                    let Some(k) = k.as_str() else {
                        let problem = "scale keys must be strings".into();
                        cx.push(ErrorKind::Structure, &p, problem, None);
                        continue;
                    };
                    match k {
                        "seeds" => scale.seeds = seeds(cx, v, &at(&p, &["seeds"])),
                        "variants" => scale.variants = variants(cx, v, &p, names),
                        "grid" => scale.grid = grid(cx, v, &p, names),
                        "table" | "tables" => scale.tables = tables(cx, k, v, &p, names),
                        dotted if !dotted.split('.').any(str::is_empty) => {
                            scale.set.push((dotted.to_string(), v.clone()))
                        }
                        _ => cx.push(
                            ErrorKind::Structure,
                            &at(&p, &[k]),
                            format!("bad key {k:?}"),
                            Some("seeds, variants, grid, table, tables, or dotted keys such as train.iterations".into()),
                        ),
                    }
                }
            }
            _ => {
                let problem = "a scale must be a mapping of dotted keys".into();
                cx.push(ErrorKind::Structure, &p, problem, None);
            }
        }
        out.push(scale);
    }
    out
}

fn seeds(cx: &mut Ctx, v: &Value, p: &[Seg]) -> Option<Vec<u64>> {
    let seeds: Option<Vec<u64>> = v
        .as_sequence()
        .and_then(|s| s.iter().map(|x| x.as_u64()).collect());
    match seeds {
        Some(list) if !list.is_empty() => Some(list),
        _ => {
            cx.push(
                ErrorKind::Structure,
                p,
                "seeds must be a list of whole numbers".into(),
                Some("e.g. [0, 1, 2]".into()),
            );
            None
        }
    }
}

/// Dotted keys of one mapping (a variant's entries).
fn dotted(cx: &mut Ctx, v: &Value, p: &[Seg]) -> Vec<(String, Value)> {
    let Some(m) = v.as_mapping() else {
        let problem = "must be a mapping of dotted keys".into();
        let allowed = Some("e.g. {train.lr: 0.005}".into());
        cx.push(ErrorKind::Structure, p, problem, allowed);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in m {
        match k.as_str() {
            Some(d) if !d.split('.').any(str::is_empty) => out.push((d.to_string(), v.clone())),
            _ => cx.push(
                ErrorKind::Structure,
                p,
                format!("bad key {k:?}"),
                Some("dotted keys such as loss.reg.kind".into()),
            ),
        }
    }
    out
}

fn variants(
    cx: &mut Ctx,
    v: &Value,
    p: &[Seg],
    names: &Names,
) -> Vec<(usize, Vec<(String, Value)>)> {
    let p = at(p, &["variants"]);
    let Some(m) = v.as_mapping() else {
        let problem = "must map variant names to dotted keys".into();
        cx.push(ErrorKind::Structure, &p, problem, None);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in m {
        let name = match k {
            Value::String(s) => s.clone(),
            other => yaml::to_string(other).trim().to_string(),
        };
        let here = at(&p, &[&name]);
        match names.variants.iter().position(|n| *n == name) {
            Some(i) => out.push((i, dotted(cx, v, &here))),
            None => cx.push(
                ErrorKind::Structure,
                &here,
                format!("`{name}` is not a variant of this spec"),
                Some(names.variants.join(", ")),
            ),
        }
    }
    out
}

fn grid(cx: &mut Ctx, v: &Value, p: &[Seg], names: &Names) -> Vec<(String, Option<Vec<Value>>)> {
    let p = at(p, &["grid"]);
    let Some(m) = v.as_mapping() else {
        let problem = "must map dotted keys to lists of values (or null to remove an axis)".into();
        cx.push(ErrorKind::Structure, &p, problem, None);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in m {
        let Some(k) = k.as_str().filter(|d| !d.split('.').any(str::is_empty)) else {
            let problem = format!("bad key {k:?}");
            let allowed = Some("dotted keys such as model.backbone.depth".into());
            cx.push(ErrorKind::Structure, &p, problem, allowed);
            continue;
        };
        let here = at(&p, &[k]);
        match v {
            Value::Null if names.grid.iter().any(|a| a.key == k) => out.push((k.to_string(), None)),
            Value::Null => {
                let axes: Vec<&str> = names.grid.iter().map(|a| a.key.as_str()).collect();
                cx.push(
                    ErrorKind::Structure,
                    &here,
                    format!("no spec-wide axis `{k}` to remove"),
                    Some(if axes.is_empty() {
                        "none (the spec has no grid:)".into()
                    } else {
                        axes.join(", ")
                    }),
                );
            }
            Value::Sequence(values) if !values.is_empty() => {
                out.push((k.to_string(), Some(values.clone())))
            }
            _ => cx.push(
                ErrorKind::Structure,
                &here,
                "an axis must be a non-empty list, or null to remove it".into(),
                Some("a list of values, e.g. [50, 101], or null".into()),
            ),
        }
    }
    out
}

fn tables(
    cx: &mut Ctx,
    k: &str,
    v: &Value,
    p: &[Seg],
    names: &Names,
) -> Vec<(usize, yaml::Mapping)> {
    let here = at(p, &[k]);
    let wrong = match (k, names.single_table) {
        ("table", false) => Some("this spec has `tables:`: write `tables: {<table name>: {...}}`"),
        ("tables", true) => Some("this spec has one `table:`: write `table: {...}`"),
        _ => None,
    };
    if let Some(problem) = wrong {
        cx.push(ErrorKind::Table, &here, problem.into(), None);
        return Vec::new();
    }
    let fields = |cx: &mut Ctx, v: &Value, p: &[Seg]| -> Option<yaml::Mapping> {
        match v.as_mapping() {
            Some(m) => Some(m.clone()),
            None => {
                let problem = "must be a mapping of table fields".into();
                let allowed = Some("e.g. {caption: ..., sections: {...}}".into());
                cx.push(ErrorKind::Table, p, problem, allowed);
                None
            }
        }
    };
    if k == "table" {
        return fields(cx, v, &here)
            .map(|m| vec![(0, m)])
            .unwrap_or_default();
    }
    let Some(m) = v.as_mapping() else {
        let problem = "must map table names to fields".into();
        cx.push(ErrorKind::Table, &here, problem, None);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, v) in m {
        let name = name.as_str().unwrap_or_default();
        let p = at(&here, &[name]);
        match names.tables.iter().position(|n| n == name) {
            Some(i) => out.extend(fields(cx, v, &p).map(|m| (i, m))),
            None => cx.push(
                ErrorKind::Table,
                &p,
                format!("`{name}` is not a table of this spec"),
                Some(names.tables.join(", ")),
            ),
        }
    }
    out
}

/// The spec-wide axes under a scale: a replaced axis keeps its place (and so the job order),
/// an added one goes last, a removed one is gone. Returns which axes came from the scale.
pub fn apply_grid(grid: &mut Vec<Axis>, scale: &Scale) -> Vec<bool> {
    let mut from_scale = vec![false; grid.len()];
    for (k, values) in &scale.grid {
        let place = grid.iter().position(|a| a.key == *k);
        match (place, values) {
            (Some(i), Some(v)) => {
                grid[i].values = v.clone();
                from_scale[i] = true;
            }
            (Some(i), None) => {
                grid.remove(i);
                from_scale.remove(i);
            }
            (None, Some(v)) => {
                grid.push(Axis {
                    key: k.clone(),
                    values: v.clone(),
                });
                from_scale.push(true);
            }
            (None, None) => {}
        }
    }
    from_scale
}
