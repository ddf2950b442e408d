//! From layers of dotted-key settings to one typed, validated [`JobConfig`], with each
//! problem traced back to the layer (and so the line) that caused it.

use serde::Deserialize;

use super::error::{explain_serde, ErrorKind};
use super::validate::validate;
use super::yaml::{Mapping, Seg, Value};
use super::{render, JobConfig, Origin, Spec, SpecError, SpecErrors};

/// Where one layer's setting was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerAt {
    /// `variants[i].set`
    VariantSet(usize),
    /// `variants[i].grid`
    VariantGrid(usize),
    /// the spec-wide `grid`
    Grid,
    /// `scales.<name>` (index into `Spec::scales`)
    Scale(usize),
    /// `scales.<name>.grid`: an axis the scale replaced or added
    ScaleGrid(usize),
    /// `scales.<name>.variants.<variant name>` (scale index, variant index)
    ScaleVariant(usize, usize),
    /// `--set` number i
    CommandLine(usize),
}

/// One setting applied on top of the base: `key` (dotted) = `value`.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    pub key: &'a str,
    pub value: &'a Value,
    pub at: LayerAt,
}

/// Sets a dotted key, creating the mappings on the way. A whole value replaces what was there,
/// so switching `loss.reg` to another kind leaves none of the old kind's fields behind; for the
/// same reason, setting a `kind` to a different one drops its siblings.
pub fn set_path(root: &mut Value, key: &str, value: Value) {
    let mut node = root;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
        let map = node.as_mapping_mut().expect("made a mapping just above");
        let k = Value::String(part.to_string());
        if parts.peek().is_none() {
            if part == "kind" && map.get(&k).is_some_and(|old| *old != value) {
                map.clear();
            }
            map.insert(k, value);
            return;
        }
        node = map.entry(k).or_insert(Value::Null);
    }
}

/// Lays `src` over `dst`: mappings merge key by key, anything else replaces. A mapping whose
/// `kind` differs replaces the old one whole (the fields of one kind mean nothing to another).
pub fn merge(dst: &mut Value, src: Value) {
    match (dst, src) {
        (Value::Mapping(d), Value::Mapping(s)) => {
            let kind = Value::String("kind".into());
            if s.get(&kind).is_some_and(|k| Some(k) != d.get(&kind)) {
                *d = s;
                return;
            }
            for (k, v) in s {
                match d.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        d.insert(k, v);
                    }
                }
            }
        }
        (d, s) => *d = s,
    }
}

impl Spec {
    /// The typed config of one job: the base with `layers` applied in order.
    pub fn resolve(&self, layers: &[Layer]) -> Result<JobConfig, SpecErrors> {
        let mut value = self.base.clone();
        for layer in layers {
            set_path(&mut value, layer.key, layer.value.clone());
        }
        let origin = |doc: &[Seg]| Origin::File {
            path: self.path.clone(),
            pos: self.locator.locate(doc),
        };
        let attribute = |cfg_path: &[Seg]| -> (Origin, String) {
            let hit = layers.iter().rev().find(|l| {
                let key: Vec<&str> = l.key.split('.').collect();
                key.len() <= cfg_path.len()
                    && key
                        .iter()
                        .zip(cfg_path)
                        .all(|(k, s)| matches!(s, Seg::Key(x) if x == k))
            });
            let Some(layer) = hit else {
                let mut doc = vec![Seg::Key("base".into())];
                doc.extend_from_slice(cfg_path);
                return (origin(&doc), render(&doc));
            };
            let depth = layer.key.split('.').count();
            let mut doc = match layer.at {
                LayerAt::VariantSet(i) => vec![
                    Seg::Key("variants".into()),
                    Seg::Index(i),
                    Seg::Key("set".into()),
                ],
                LayerAt::VariantGrid(i) => vec![
                    Seg::Key("variants".into()),
                    Seg::Index(i),
                    Seg::Key("grid".into()),
                ],
                LayerAt::Grid => vec![Seg::Key("grid".into())],
                LayerAt::Scale(i) => vec![
                    Seg::Key("scales".into()),
                    Seg::Key(self.scales[i].0.clone()),
                ],
                LayerAt::ScaleGrid(i) => vec![
                    Seg::Key("scales".into()),
                    Seg::Key(self.scales[i].0.clone()),
                    Seg::Key("grid".into()),
                ],
                LayerAt::ScaleVariant(i, v) => vec![
                    Seg::Key("scales".into()),
                    Seg::Key(self.scales[i].0.clone()),
                    Seg::Key("variants".into()),
                    Seg::Key(self.variants[v].name.clone()),
                ],
                LayerAt::CommandLine(i) => {
                    let arg = self.overrides[i].arg.clone();
                    return (Origin::CommandLine { arg }, render(cfg_path));
                }
            };
            doc.push(Seg::Key(layer.key.into()));
            // A grid axis holds a list of values; the rest of the path is inside one of them.
            if !matches!(
                layer.at,
                LayerAt::VariantGrid(_) | LayerAt::Grid | LayerAt::ScaleGrid(_)
            ) {
                doc.extend_from_slice(&cfg_path[depth..]);
            }
            (origin(&doc), render(&doc))
        };
        resolve_value(value, &attribute)
    }
}

/// Deserializes and validates; `attribute` maps a config key path to where it was written.
pub(crate) fn resolve_value(
    mut value: Value,
    attribute: &dyn Fn(&[Seg]) -> (Origin, String),
) -> Result<JobConfig, SpecErrors> {
    let error = |kind: ErrorKind, cfg_path: &[Seg], problem: String, allowed: Option<String>| {
        let (origin, key) = attribute(cfg_path);
        SpecError {
            kind,
            origin,
            key,
            problem,
            allowed,
        }
    };
    super::implied::fill_written_defaults(&mut value);
    // The fast path reads the value by reference; only a failure pays for tracking the path.
    let mut cfg: JobConfig = match JobConfig::deserialize(&value) {
        Ok(cfg) => cfg,
        Err(_) => {
            let e = match serde_path_to_error::deserialize::<_, JobConfig>(&value) {
                Err(e) => e,
                Ok(_) => unreachable!("the same value failed to deserialize just above"),
            };
            let mut path: Vec<Seg> = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    _ => None,
                })
                .collect();
            let message = e.into_inner().to_string();
            let explained = explain_serde(&message);
            // Tagged enums are read from a buffer: the path stops at the enum, so the key
            // named in the message is appended to point at its line. A plain name (a unit
            // variant such as an `eval.perturbations` entry) is located by the path itself.
            if message.starts_with("unknown variant") {
                if !matches!(path.last(), Some(Seg::Key(k)) if k == "kind")
                    && !matches!(node_at(&value, &path), Some(Value::String(_)))
                {
                    path.push(Seg::Key("kind".into()));
                }
            } else if let Some(found) = explained.found {
                if !matches!(path.last(), Some(Seg::Key(k)) if *k == found)
                    && message.starts_with("unknown field")
                {
                    path.push(Seg::Key(found));
                }
            }
            return Err(error(explained.kind, &path, explained.problem, explained.allowed).into());
        }
    };
    super::implied::fill_dependent_defaults(&mut cfg);
    let problems = validate(&cfg);
    if problems.is_empty() {
        return Ok(cfg);
    }
    Err(SpecErrors(
        problems
            .into_iter()
            .map(|p| {
                let path: Vec<Seg> = p.key.split('.').map(|k| Seg::Key(k.into())).collect();
                let (kind, what) = if p.missing {
                    let how =
                        super::fetch::how_to_get(&p.key, std::path::Path::new(&p.found), &cfg);
                    let how = how
                        .map(|h| format!(" (to get it: {h})"))
                        .unwrap_or_default();
                    (ErrorKind::MissingPath, format!("does not exist{how}"))
                } else {
                    (ErrorKind::OutOfRange, "is out of range".to_string())
                };
                error(kind, &path, format!("{} {what}", p.found), Some(p.allowed))
            })
            .collect(),
    ))
}

/// The node at a config key path, if there is one.
fn node_at<'a>(root: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(root, |node, seg| match seg {
        Seg::Key(k) => node.get(k.as_str()),
        Seg::Index(i) => node.get(*i),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changing_a_kind_drops_the_old_kinds_fields() {
        let mut v: Value = serde_yaml::from_str("reg: {kind: smooth_l1, beta: 0.1}").unwrap();
        set_path(&mut v, "reg.kind", Value::from("l1"));
        assert_eq!(v, serde_yaml::from_str::<Value>("reg: {kind: l1}").unwrap());
        set_path(&mut v, "reg.kind", Value::from("l1"));
        let mut w: Value = serde_yaml::from_str("reg: {kind: smooth_l1, beta: 0.1}\nx: 1").unwrap();
        merge(
            &mut w,
            serde_yaml::from_str("reg: {kind: smooth_l1, beta: 0.2}\ny: 2").unwrap(),
        );
        assert_eq!(
            w,
            serde_yaml::from_str::<Value>("reg: {kind: smooth_l1, beta: 0.2}\nx: 1\ny: 2").unwrap()
        );
        merge(&mut w, serde_yaml::from_str("reg: {kind: giou}").unwrap());
        assert_eq!(
            w["reg"],
            serde_yaml::from_str::<Value>("{kind: giou}").unwrap()
        );
    }

    #[test]
    fn set_path_creates_and_replaces() {
        let mut v: Value =
            serde_yaml::from_str("loss: {reg: {kind: smooth_l1, beta: 0.1}}").unwrap();
        set_path(
            &mut v,
            "loss.reg",
            serde_yaml::from_str("{kind: l2}").unwrap(),
        );
        set_path(&mut v, "train.iterations", Value::from(5));
        let want: Value =
            serde_yaml::from_str("loss: {reg: {kind: l2}}\ntrain: {iterations: 5}").unwrap();
        assert_eq!(v, want);
    }
}
