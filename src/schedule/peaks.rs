//! What one job of a shape is expected to take of a GPU's memory: the largest peak measured by
//! a finished job of that shape (its `result.json`'s `peak_gpu_memory_bytes`, or what its
//! worker reported while it ran) plus [`LEARNED_MARGIN_PERCENT`], once one exists; before
//! that the spec's `resources.gpu_memory_mib`; else unknown (the placer then puts one job of
//! the shape per GPU).

use std::collections::{BTreeMap, HashMap};

use crate::journal::{JobDir, SweepDir};
use crate::spec::JobConfig;

/// A planned job as this module reads it: its id, its row and its config.
pub type JobRef<'a> = (&'a str, &'a str, &'a JobConfig);

/// Added to a measured peak: the next job of the shape sees other images (another object
/// count, another multi-scale draw) and its allocator may round up differently.
pub const LEARNED_MARGIN_PERCENT: u64 = 10;

const MIB: u64 = 1 << 20;

/// Where a shape's figure comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The largest peak of a finished job of the shape, in MiB, and that job.
    Measured {
        peak_mib: u64,
        job: String,
    },
    /// The spec's `resources.gpu_memory_mib`.
    Spec,
    Unknown,
}

/// The memory the placer reserves for one job of a shape, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub mib: Option<u64>,
    pub source: Source,
}

impl Estimate {
    /// One line for `sweep plan` and `sweep status`.
    pub fn describe(&self) -> String {
        match (&self.source, self.mib) {
            (Source::Measured { peak_mib, job }, Some(mib)) => format!(
                "{mib} MiB: measured peak {peak_mib} MiB (job {job}) + {LEARNED_MARGIN_PERCENT}%"
            ),
            (Source::Spec, Some(mib)) => {
                format!("{mib} MiB: estimate (resources.gpu_memory_mib), none measured yet")
            }
            _ => "unknown: one job of this shape per GPU until one finishes".into(),
        }
    }

    /// As JSON: `{mib, source: measured|spec|unknown, measured_peak_mib, measured_by}`.
    pub fn to_json(&self) -> serde_json::Value {
        let (source, peak, job) = match &self.source {
            Source::Measured { peak_mib, job } => ("measured", Some(*peak_mib), Some(job.clone())),
            Source::Spec => ("spec", None, None),
            Source::Unknown => ("unknown", None, None),
        };
        serde_json::json!({"mib": self.mib, "source": source, "measured_peak_mib": peak, "measured_by": job})
    }
}

/// A measured peak with the margin.
pub fn with_margin(peak_mib: u64) -> u64 {
    peak_mib + (peak_mib * LEARNED_MARGIN_PERCENT).div_ceil(100)
}

/// The largest measured peak of each shape.
#[derive(Debug, Clone, Default)]
pub struct Peaks {
    learned: HashMap<String, (u64, String)>,
}

impl Peaks {
    /// The peaks recorded by the finished (done) jobs among `jobs` in `sweep`.
    pub fn from_results<'a>(sweep: &SweepDir, jobs: impl IntoIterator<Item = JobRef<'a>>) -> Peaks {
        let mut peaks = Peaks::default();
        for (id, _, config) in jobs {
            if let Some(mib) = recorded_peak_mib(&JobDir::new(sweep.job_dir(id))) {
                peaks.learn(&super::shape_of(config), mib, id);
            }
        }
        peaks
    }

    /// Keeps `peak_mib` for `shape` when it is the largest so far.
    pub fn learn(&mut self, shape: &str, peak_mib: u64, job: &str) {
        if peak_mib == 0 {
            return;
        }
        let e = self
            .learned
            .entry(shape.to_string())
            .or_insert((0, job.to_string()));
        if peak_mib > e.0 {
            *e = (peak_mib, job.to_string());
        }
    }

    /// After a job of `shape` ran out of memory having reached `seen_mib`: half as much again
    /// as the figure so far, at least what it reached.
    pub fn raise_after_oom(&mut self, shape: &str, seen_mib: u64, job: &str) {
        let raised = self
            .learned
            .get(shape)
            .map_or(seen_mib, |(p, _)| p * 3 / 2)
            .max(seen_mib);
        if raised > 0 {
            let why = format!("{job}, raised by half after it ran out of memory");
            self.learned.insert(shape.to_string(), (raised, why));
        }
    }

    /// What one job of `shape` takes: measured (with the margin), else `spec_mib`, else unknown.
    pub fn estimate(&self, shape: &str, spec_mib: Option<u64>) -> Estimate {
        match (self.learned.get(shape), spec_mib) {
            (Some((peak, job)), _) => Estimate {
                mib: Some(with_margin(*peak)),
                source: Source::Measured {
                    peak_mib: *peak,
                    job: job.clone(),
                },
            },
            (None, Some(mib)) => Estimate {
                mib: Some(mib),
                source: Source::Spec,
            },
            (None, None) => Estimate {
                mib: None,
                source: Source::Unknown,
            },
        }
    }
}

/// A done job's recorded peak in MiB (rounded up), if its worker measured one.
pub fn recorded_peak_mib(dir: &JobDir) -> Option<u64> {
    let r = dir.read_result().ok().flatten()?;
    (r.status == "done")
        .then_some(r.peak_gpu_memory_bytes)
        .flatten()
        .map(|b| b.div_ceil(MIB))
}

/// Each shape's estimate with the first row and the number of jobs of that shape, in plan
/// order: what `sweep plan` and `sweep status` print.
pub fn by_shape<'a>(
    jobs: impl IntoIterator<Item = JobRef<'a>>,
    peaks: &Peaks,
    spec_mib: Option<u64>,
) -> Vec<(String, usize, Estimate)> {
    let mut order: Vec<String> = Vec::new();
    let mut rows: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (_, row, config) in jobs {
        let shape = super::shape_of(config);
        let e = rows.entry(shape.clone()).or_insert_with(|| {
            order.push(shape.clone());
            (row.to_string(), 0)
        });
        e.1 += 1;
    }
    order
        .into_iter()
        .map(|s| {
            let (row, n) = rows[&s].clone();
            (row, n, peaks.estimate(&s, spec_mib))
        })
        .collect()
}

/// [`by_shape`] of a plan's jobs (each id once), with the peaks recorded in `sweep`.
pub fn of_plan(
    sweep: &SweepDir,
    jobs: &[crate::plan::PlannedJob],
    spec_mib: Option<u64>,
) -> Vec<(String, usize, Estimate)> {
    let mut seen = std::collections::HashSet::new();
    let refs: Vec<JobRef> = jobs
        .iter()
        .filter(|j| seen.insert(j.id.as_str()))
        .map(|j| (j.id.as_str(), j.row.as_str(), &j.config))
        .collect();
    let peaks = Peaks::from_results(sweep, refs.iter().copied());
    by_shape(refs, &peaks, spec_mib)
}

/// Whether any shape has a figure (measured or given): worth a line on a CPU machine too.
pub fn any_known(shapes: &[(String, usize, Estimate)]) -> bool {
    shapes.iter().any(|(_, _, e)| e.mib.is_some())
}

/// The lines of [`by_shape`]: `GPU memory per job: <row> (N jobs of its shape): <estimate>`.
pub fn describe_lines(shapes: &[(String, usize, Estimate)]) -> Vec<String> {
    shapes
        .iter()
        .map(|(row, n, e)| {
            let of = if *n == 1 {
                "1 job".to_string()
            } else {
                format!("{n} jobs")
            };
            format!(
                "GPU memory per job, shape of {row} ({of}): {}",
                e.describe()
            )
        })
        .collect()
}

/// [`by_shape`] as JSON rows.
pub fn to_json(shapes: &[(String, usize, Estimate)]) -> serde_json::Value {
    serde_json::Value::Array(
        shapes
            .iter()
            .map(|(row, n, e)| {
                let mut v = e.to_json();
                v["row"] = row.clone().into();
                v["jobs"] = (*n).into();
                v
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_measured_peak_wins_over_the_spec_with_the_margin() {
        let mut p = Peaks::default();
        assert_eq!(p.estimate("s", None).source, Source::Unknown);
        assert_eq!(p.estimate("s", Some(2000)).mib, Some(2000));
        p.learn("s", 9000, "a");
        p.learn("s", 8000, "b");
        p.learn("s", 0, "c");
        let e = p.estimate("s", Some(2000));
        assert_eq!(e.mib, Some(9900));
        assert_eq!(
            e.source,
            Source::Measured {
                peak_mib: 9000,
                job: "a".into()
            }
        );
        assert!(e
            .describe()
            .contains("measured peak 9000 MiB (job a) + 10%"));
        // Another shape is not affected.
        assert_eq!(p.estimate("t", Some(2000)).source, Source::Spec);
        assert_eq!(with_margin(1), 2);
        assert_eq!(with_margin(1000), 1100);
    }
}
