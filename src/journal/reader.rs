//! The one reader of a sweep directory: the plan, and what is known of each job (its result,
//! its last state, or the damage that hides them). `status`, the tables, the figures and the
//! HTML report all read through it, so they cannot disagree about what a sweep holds. Reading
//! never fails on a job's files: a damaged file is that job's problem ([`super::damage`]).

use std::collections::BTreeMap;

use super::damage::{read_tolerant, JobRecord, Read};
use super::{JobDir, JobResult, JobStatus, JournalError, SweepDir};
use crate::expand::JobMeta;
use crate::plan::PlanFile;

/// What is known of one job when a sweep is read.
// One per job, read once per command: boxing the result would save nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum JobView {
    /// Finished: `result.json` exists.
    Result(JobResult),
    /// Started but not finished: its last `state.json`.
    Status(JobStatus),
    /// A file the result depends on is damaged (`file: why`): no number can be shown.
    Damaged(String),
}

impl JobRecord {
    /// The view of this job, if anything is known of it.
    pub fn view(&self) -> Option<JobView> {
        if let Some(d) = self.voiding_damage() {
            return Some(JobView::Damaged(d.to_string()));
        }
        if let Some(r) = &self.result {
            return Some(JobView::Result(r.clone()));
        }
        // Done means a result.json: a state that says so without one is not done.
        let s = self.state.as_ref()?;
        let finished = matches!(s.status, JobStatus::Done | JobStatus::Diverged { .. });
        (!finished).then(|| JobView::Status(s.status.clone()))
    }
}

/// A sweep directory as read at one moment.
#[derive(Debug, Clone)]
pub struct SweepRecord {
    pub plan: PlanFile,
    /// The view of each job id of which anything is known; a job never started has none.
    pub jobs: BTreeMap<String, JobView>,
    /// Each planned job directory as found, damaged files included.
    pub records: BTreeMap<String, JobRecord>,
}

impl SweepRecord {
    pub fn view(&self, id: &str) -> Option<&JobView> {
        self.jobs.get(id)
    }

    pub fn result(&self, id: &str) -> Option<&JobResult> {
        match self.jobs.get(id) {
            Some(JobView::Result(r)) => Some(r),
            _ => None,
        }
    }
}

/// How a sweep was last run: the scale and the command line's `--set`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    pub scale: Option<String>,
    pub overrides: Vec<String>,
    /// Taken from a job's `job.json` because `plan.json` was missing (not merely damaged:
    /// damage is reported by whoever reads or repairs the plan).
    pub rebuilt_from_missing: bool,
}

impl SweepDir {
    /// `plan.json`, which may be missing or damaged.
    pub fn read_plan_file(&self) -> Read<PlanFile> {
        read_tolerant(&self.plan_path())
    }

    /// Reads the plan (an error if it is missing or damaged) and every planned job.
    pub fn read(&self) -> Result<SweepRecord, JournalError> {
        match self.read_plan_file() {
            Read::Ok(plan) => Ok(self.read_with(plan)),
            Read::Missing => Err(self.not_a_sweep()),
            Read::Damaged(problem) => Err(JournalError::Corrupt {
                path: self.plan_path(),
                problem,
            }),
        }
    }

    /// Every job of `plan` as its directory holds it, each id once.
    pub fn read_with(&self, plan: PlanFile) -> SweepRecord {
        let mut records = BTreeMap::new();
        for j in &plan.jobs {
            if !records.contains_key(&j.id) {
                let yaml = crate::spec::config_to_yaml(&j.config);
                let record = JobDir::new(self.job_dir(&j.id)).inspect(Some(&yaml));
                records.insert(j.id.clone(), record);
            }
        }
        let jobs = records
            .iter()
            .filter_map(|(id, r)| r.view().map(|v| (id.clone(), v)))
            .collect();
        SweepRecord {
            plan,
            jobs,
            records,
        }
    }

    /// `plan.json` as any view of it (the figures read configs as plain JSON).
    pub fn read_plan<P: serde::de::DeserializeOwned>(&self) -> Result<P, JournalError> {
        match read_tolerant(&self.plan_path()) {
            Read::Ok(p) => Ok(p),
            Read::Missing => Err(self.not_a_sweep()),
            Read::Damaged(problem) => Err(JournalError::Corrupt {
                path: self.plan_path(),
                problem,
            }),
        }
    }

    /// The view of each job id (each once), for readers without the typed plan.
    pub fn read_jobs<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> BTreeMap<String, JobView> {
        let mut jobs = BTreeMap::new();
        for id in ids {
            if jobs.contains_key(id) {
                continue;
            }
            if let Some(v) = JobDir::new(self.job_dir(id)).inspect(None).view() {
                jobs.insert(id.to_string(), v);
            }
        }
        jobs
    }

    /// The scale and overrides the sweep ran with. Job directories are the truth: without a
    /// readable `plan.json` they come from any job's `job.json` (the recovery step of a lost
    /// plan).
    pub fn run_settings(&self) -> Result<RunSettings, JournalError> {
        if !self.spec_path().exists() {
            return Err(self.not_a_sweep());
        }
        let missing = match self.read_plan_file() {
            Read::Ok(plan) => {
                return Ok(RunSettings {
                    scale: plan.scale,
                    overrides: plan.overrides,
                    rebuilt_from_missing: false,
                })
            }
            Read::Missing => true,
            Read::Damaged(_) => false,
        };
        let meta = self.first_job_meta().ok_or_else(|| self.not_a_sweep())?;
        Ok(RunSettings {
            scale: meta.scale,
            overrides: meta.overrides,
            rebuilt_from_missing: missing,
        })
    }

    fn first_job_meta(&self) -> Option<JobMeta> {
        let entries = std::fs::read_dir(self.root.join("jobs")).ok()?;
        entries
            .filter_map(|e| e.ok())
            .find_map(|e| super::read_json(&e.path().join("job.json")).ok().flatten())
    }

    pub(crate) fn not_a_sweep(&self) -> JournalError {
        JournalError::NotASweep {
            dir: self.root.clone(),
        }
    }
}
