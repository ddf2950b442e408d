//! base + variants + grid + seeds → jobs, each identified by the hash of its resolved config.
//!
//! Expansion reads nothing but the weights files a config names (their SHA-256 becomes part of
//! the config, see `spec::weights_hash`): the same spec always gives the same jobs in the same order
//! (variants in file order, then grid points with the last axis fastest, then seeds).

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::spec::{
    config::TRAINER_SCHEMA_VERSION, JobConfig, Layer, LayerAt, Spec, SpecErrors, Value,
};

/// Short hex hash of a canonical resolved config: the job's id and directory name.
pub type JobId = String;

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: JobId,
    /// The row this job belongs to: the variant name, plus the grid point when there is one.
    pub row: String,
    pub variant: String,
    /// Grid values of this job, as `(dotted key, value)`.
    pub point: Vec<(String, Value)>,
    pub seed: u64,
    pub config: JobConfig,
}

/// What a job directory says about itself (`job.json`), so that a lost `plan.json` can be
/// rebuilt from the job directories.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct JobMeta {
    pub id: JobId,
    pub row: String,
    pub variant: String,
    pub seed: u64,
    /// The sweep's scale and `--set`s, so the sweep can be re-expanded without `plan.json`.
    #[serde(default)]
    pub scale: Option<String>,
    #[serde(default)]
    pub overrides: Vec<String>,
}

impl Job {
    pub fn meta(&self, spec: &Spec) -> JobMeta {
        JobMeta {
            id: self.id.clone(),
            row: self.row.clone(),
            variant: self.variant.clone(),
            seed: self.seed,
            scale: spec.scale.clone(),
            overrides: spec.overrides.iter().map(|o| o.arg.clone()).collect(),
        }
    }
}

/// The canonical text of a config, prefixed by the trainer schema version, so equal configs
/// hash equally whatever the YAML looked like. A config is a tree of typed structs and enums
/// (no free-form maps), so serde's field order, fixed by the schema, is a canonical key order;
/// numbers are typed (`1` and `1.0` are the same f64) and printed shortest-round-trip.
pub fn canonical(cfg: &JobConfig) -> String {
    let json = serde_json::to_string(cfg).expect("configs serialize to JSON");
    // -0.0 and 0.0 are the same setting.
    let json = json.replace(":-0.0,", ":0.0,").replace(":-0.0}", ":0.0}");
    format!("{{\"schema\":{TRAINER_SCHEMA_VERSION},\"config\":{json}}}")
}

pub fn job_id(cfg: &JobConfig) -> JobId {
    let digest = Sha256::digest(canonical(cfg).as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// All index tuples of a cartesian product, last axis fastest.
fn points(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for &n in sizes {
        out = out
            .into_iter()
            .flat_map(|p| {
                (0..n).map(move |i| {
                    let mut q = p.clone();
                    q.push(i);
                    q
                })
            })
            .collect();
    }
    out
}

fn short_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        // A whole section (`model.backbone: {kind: resnet, depth: 50, weights: w/r50.st}`):
        // its scalar values, a path by its file stem ("resnet 50 r50").
        Value::Mapping(m) if m.values().all(|v| !v.is_mapping() && !v.is_sequence()) => m
            .values()
            .map(|v| match v {
                Value::String(s) if s.contains('/') => std::path::Path::new(s)
                    .file_stem()
                    .map_or(s.clone(), |f| f.to_string_lossy().into_owned()),
                other => short_value(other),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Expands a loaded spec. Problems from every job are gathered and reported once each.
pub fn expand(spec: &Spec) -> Result<Vec<Job>, SpecErrors> {
    expand_seeds(spec, &spec.seeds)
}

/// Expands a loaded spec as if its seeds were `seeds` (the seeds a sweep adds to settle a
/// claim are jobs of the same rows, ids from the same hash).
pub fn expand_seeds(spec: &Spec, seeds: &[u64]) -> Result<Vec<Job>, SpecErrors> {
    let seed_values: Vec<Value> = seeds.iter().map(|s| Value::from(*s)).collect();
    let scale_layers: Vec<Layer> = spec
        .scales
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| Some(name) == spec.scale.as_ref())
        .flat_map(|(i, (_, entries))| {
            entries.iter().map(move |(k, v)| Layer {
                key: k,
                value: v,
                at: LayerAt::Scale(i),
            })
        })
        .collect();

    let mut work = Vec::new();
    for (vi, variant) in spec.variants.iter().enumerate() {
        let axes: Vec<(&crate::spec::Axis, LayerAt)> = spec
            .grid
            .iter()
            .enumerate()
            .map(
                |(j, a)| match (spec.grid_from_scale.get(j), spec.scale_index()) {
                    (Some(true), Some(si)) => (a, LayerAt::ScaleGrid(si)),
                    _ => (a, LayerAt::Grid),
                },
            )
            .chain(variant.grid.iter().map(|a| (a, LayerAt::VariantGrid(vi))))
            .collect();
        let sizes: Vec<usize> = axes.iter().map(|(a, _)| a.values.len()).collect();
        for point in points(&sizes) {
            for (si, _) in seeds.iter().enumerate() {
                work.push((vi, axes.clone(), point.clone(), si));
            }
        }
    }

    let results: Vec<Result<Job, SpecErrors>> = work
        .par_iter()
        .map(|(vi, axes, point, si)| {
            let variant = &spec.variants[*vi];
            let mut layers: Vec<Layer> = variant
                .set
                .iter()
                .map(|(k, v)| Layer {
                    key: k,
                    value: v,
                    at: LayerAt::VariantSet(*vi),
                })
                .collect();
            for ((axis, at), &i) in axes.iter().zip(point) {
                layers.push(Layer {
                    key: &axis.key,
                    value: &axis.values[i],
                    at: *at,
                });
            }
            layers.extend(scale_layers.iter().copied());
            if let Some(si) = spec.scale_index() {
                layers.extend(variant.scale_set.iter().map(|(k, v)| Layer {
                    key: k,
                    value: v,
                    at: LayerAt::ScaleVariant(si, *vi),
                }));
            }
            layers.push(Layer {
                key: "train.seed",
                value: &seed_values[*si],
                at: LayerAt::VariantSet(*vi),
            });
            layers.extend(spec.overrides.iter().enumerate().map(|(i, o)| Layer {
                key: &o.key,
                value: &o.value,
                at: LayerAt::CommandLine(i),
            }));
            let mut config = spec.resolve(&layers)?;
            crate::spec::weights_hash::fill(&mut config);
            let point: Vec<(String, Value)> = axes
                .iter()
                .zip(point)
                .map(|((a, _), &i)| (a.key.clone(), a.values[i].clone()))
                .collect();
            let row = if point.is_empty() {
                variant.name.clone()
            } else {
                let parts: Vec<String> = point
                    .iter()
                    .map(|(k, v)| {
                        format!("{}={}", k.rsplit('.').next().unwrap_or(k), short_value(v))
                    })
                    .collect();
                format!("{} [{}]", variant.name, parts.join(", "))
            };
            Ok(Job {
                id: job_id(&config),
                row,
                variant: variant.name.clone(),
                point,
                seed: config.train.seed,
                config,
            })
        })
        .collect();

    let mut jobs = Vec::with_capacity(results.len());
    let mut errors: Vec<crate::spec::SpecError> = Vec::new();
    for r in results {
        match r {
            Ok(job) => jobs.push(job),
            Err(SpecErrors(es)) => {
                for e in es {
                    if !errors.contains(&e) {
                        errors.push(e);
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(SpecErrors(errors));
    }
    link_init_from(spec, &mut jobs)?;
    Ok(jobs)
}

/// Variants in an order where every `init_from` parent comes before its children.
fn parents_first(spec: &Spec) -> Vec<usize> {
    let mut order = Vec::new();
    let mut placed = vec![false; spec.variants.len()];
    while order.len() < spec.variants.len() {
        let before = order.len();
        for (i, v) in spec.variants.iter().enumerate() {
            if !placed[i] && v.init_from.is_none_or(|p| placed[p]) {
                placed[i] = true;
                order.push(i);
            }
        }
        // The spec rejected cycles; this only guards against looping forever.
        if order.len() == before {
            break;
        }
    }
    order
}

/// Points each job of a variant with `init_from` at the job of the parent variant with the
/// same seed and the same spec-wide grid point; the parent's id enters the child's config,
/// and so its id (a retrained parent means a new child).
fn link_init_from(spec: &Spec, jobs: &mut [Job]) -> Result<(), SpecErrors> {
    let shared_axes = spec.grid.len();
    for vi in parents_first(spec) {
        let Some(parent) = spec.variants[vi].init_from else {
            continue;
        };
        let (child_name, parent_name) = (&spec.variants[vi].name, &spec.variants[parent].name);
        for c in 0..jobs.len() {
            if jobs[c].variant != *child_name {
                continue;
            }
            let matches: Vec<&Job> = jobs
                .iter()
                .filter(|p| {
                    p.variant == *parent_name
                        && p.seed == jobs[c].seed
                        && p.point[..shared_axes] == jobs[c].point[..shared_axes]
                })
                .collect();
            if matches.len() != 1 {
                return Err(crate::spec::SpecError {
                    kind: crate::spec::ErrorKind::Structure,
                    origin: crate::spec::Origin::File {
                        path: spec.path.clone(),
                        pos: None,
                    },
                    key: format!("variants.{child_name}.init_from"),
                    problem: format!(
                        "{} jobs of `{parent_name}` match seed {} of `{child_name}`",
                        matches.len(),
                        jobs[c].seed
                    ),
                    allowed: Some("a parent variant without grid axes of its own".into()),
                }
                .into());
            }
            let parent_id = matches[0].id.clone();
            let child = &mut jobs[c];
            child.config.train.init_from = Some(parent_id);
            child.id = job_id(&child.config);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(text: &str) -> Spec {
        crate::spec::parse(Path::new("t.yaml"), text.into(), None, &[]).expect("valid spec")
    }

    #[test]
    fn expands_variants_grid_and_seeds_in_order() {
        let s = spec("name: t\nvariants:\n  - {name: a, set: {loss.reg.kind: l1}}\n  - {name: b, set: {loss.reg.kind: l2}}\ngrid:\n  train.lr: [0.01, 0.02]\nseeds: [0, 1]\n");
        let jobs = expand(&s).unwrap();
        assert_eq!(jobs.len(), 8);
        assert_eq!(jobs[0].row, "a [lr=0.01]");
        assert_eq!((jobs[1].seed, jobs[2].config.train.lr), (1, 0.02));
        assert_eq!(jobs[4].variant, "b");
        let ids: std::collections::HashSet<_> = jobs.iter().map(|j| &j.id).collect();
        assert_eq!(ids.len(), 8);
    }

    #[test]
    fn init_from_links_same_seed_jobs_and_changes_ids() {
        let s =
            spec("name: t\nvariants:\n  - {name: b, init_from: a}\n  - {name: a}\nseeds: [0, 1]\n");
        let jobs = expand(&s).unwrap();
        let (b0, a0) = (&jobs[0], &jobs[2]);
        assert_eq!(
            (b0.variant.as_str(), a0.variant.as_str(), b0.seed, a0.seed),
            ("b", "a", 0, 0)
        );
        assert_eq!(b0.config.train.init_from.as_deref(), Some(a0.id.as_str()));
        assert_eq!(
            jobs[1].config.train.init_from.as_deref(),
            Some(jobs[3].id.as_str())
        );
        assert_ne!(
            b0.id, a0.id,
            "same config otherwise, but a child is a different job"
        );
    }

    #[test]
    fn init_from_cycles_and_unknown_names_are_spec_errors() {
        let parse = |t: &str| {
            crate::spec::parse(Path::new("t.yaml"), t.into(), None, &[])
                .unwrap_err()
                .to_string()
        };
        let e =
            parse("name: t\nvariants:\n  - {name: a, init_from: b}\n  - {name: b, init_from: a}\n");
        assert!(
            e.contains("t.yaml:3:") && e.contains("init_from forms a cycle: a -> b -> a"),
            "{e}"
        );
        let e = parse("name: t\nvariants:\n  - {name: a, init_from: zz}\n");
        assert!(e.contains("`zz` is not another variant"), "{e}");
    }

    #[test]
    fn perturbations_parse_are_checked_and_leave_other_ids_alone() {
        use crate::spec::config::Perturbation;
        let plain = spec("name: t\n");
        let cfg = &expand(&plain).unwrap()[0].config;
        assert!(cfg.eval.perturbations.is_empty());
        assert!(
            !canonical(cfg).contains("perturbations"),
            "an empty list is not serialized, so existing ids stay"
        );
        let s = spec("name: t\nbase:\n  eval:\n    perturbations: [black_patch, gaussian_noise]\n");
        let job = &expand(&s).unwrap()[0];
        assert_eq!(
            job.config.eval.perturbations,
            [Perturbation::BlackPatch, Perturbation::GaussianNoise]
        );
        assert_ne!(job.id, expand(&plain).unwrap()[0].id);
        let err = |t: &str| expand(&spec(t)).unwrap_err().to_string();
        let e = err(
            "name: t\nbase:\n  eval:\n    perturbations:\n      - black_patch\n      - flip_pach\n",
        );
        assert!(e.contains("t.yaml:6:"), "{e}");
        assert!(e.contains("base.eval.perturbations[1]"), "{e}");
        assert!(e.contains("did you mean `flip_patch`?"), "{e}");
        assert!(
            e.contains("allowed: black_patch, random_patch, flip_patch, gaussian_noise"),
            "{e}"
        );
        let e = err("name: t\nbase:\n  eval:\n    perturbations: [flip_patch, flip_patch]\n");
        assert!(e.contains("t.yaml:4:") && e.contains("at most once"), "{e}");
    }

    #[test]
    fn eval_at_defaults_without_changing_ids_and_is_checked() {
        let plain = spec("name: t\n");
        let cfg = &expand(&plain).unwrap()[0].config;
        assert_eq!(cfg.eval.at, [0.5, 0.75, 1.0]);
        assert!(
            !canonical(cfg).contains("\"at\""),
            "the default is not serialized, so existing ids stay"
        );
        let id = |t: &str| expand(&spec(t)).unwrap()[0].id.clone();
        let written = id("name: t\nbase: {eval: {at: [0.5, 0.75, 1]}}\n");
        assert_eq!(
            written,
            expand(&plain).unwrap()[0].id,
            "the default spelled out"
        );
        assert_ne!(id("name: t\nbase: {eval: {at: [1.0]}}\n"), written);
        let err = |t: &str| expand(&spec(t)).unwrap_err().to_string();
        for bad in [
            "[0.75, 0.5, 1]",
            "[0.5, 0.75]",
            "[0, 1]",
            "[0.5, 1.5]",
            "[]",
        ] {
            let e = err(&format!("name: t\nbase:\n  eval:\n    at: {bad}\n"));
            assert!(
                e.contains("t.yaml:4:") && e.contains("eval.at"),
                "{bad}: {e}"
            );
            assert!(e.contains("ending at 1"), "{e}");
        }
    }

    #[test]
    fn id_ignores_spelling_but_not_values() {
        let a = spec("name: t\nbase: {train: {lr: 1, iterations: 5}}\n");
        let b = spec("name: t\nbase:\n  train:\n    iterations: 5\n    lr: 1.0\n");
        let c = spec("name: t\nbase: {train: {lr: 1.5, iterations: 5}}\n");
        let id = |s: &Spec| expand(s).unwrap()[0].id.clone();
        assert_eq!(id(&a), id(&b));
        assert_ne!(id(&a), id(&c));
        assert_eq!(id(&a).len(), 12);
    }
}
