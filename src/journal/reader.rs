//! The one reader of a sweep directory: the plan, and what is known of each job (its result, or
//! its last state). `status`, the tables, the figures and the HTML report all read through it,
//! so they cannot disagree about what a sweep holds.

use std::collections::BTreeMap;

use super::{read_json, JobDir, JobResult, JobStatus, JournalError, SweepDir};
use crate::expand::JobMeta;
use crate::plan::PlanFile;

/// What is known of one job when a sweep is read.
#[derive(Debug, Clone)]
pub enum JobView {
    /// Finished: `result.json` exists.
    Result(JobResult),
    /// Started but not finished: its last `state.json`.
    Status(JobStatus),
}

/// A sweep directory as read at one moment.
#[derive(Debug, Clone)]
pub struct SweepRecord {
    pub plan: PlanFile,
    /// One entry per job id that has a result or a state; a job never started has none.
    pub jobs: BTreeMap<String, JobView>,
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
    /// Taken from a job's `job.json` because `plan.json` was missing.
    pub rebuilt: bool,
}

impl SweepDir {
    /// Reads `plan.json` and every planned job's result or state.
    pub fn read(&self) -> Result<SweepRecord, JournalError> {
        let plan: PlanFile = self.read_plan()?;
        let jobs = self.read_jobs(plan.jobs.iter().map(|j| j.id.as_str()))?;
        Ok(SweepRecord { plan, jobs })
    }

    /// `plan.json` as any view of it (the figures read configs as plain JSON).
    pub fn read_plan<P: serde::de::DeserializeOwned>(&self) -> Result<P, JournalError> {
        read_json(&self.plan_path())?.ok_or_else(|| self.not_a_sweep())
    }

    /// The result, else the last state, of each job id (each once).
    pub fn read_jobs<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, JobView>, JournalError> {
        let mut jobs = BTreeMap::new();
        for id in ids {
            if jobs.contains_key(id) {
                continue;
            }
            let dir = JobDir::new(self.job_dir(id));
            if let Some(r) = dir.read_result()? {
                jobs.insert(id.to_string(), JobView::Result(r));
            } else if let Some(s) = dir.read_state()? {
                jobs.insert(id.to_string(), JobView::Status(s.status));
            }
        }
        Ok(jobs)
    }

    /// The scale and overrides the sweep ran with. Job directories are the truth: without
    /// `plan.json` they come from any job's `job.json` (the recovery step of a lost plan).
    pub fn run_settings(&self) -> Result<RunSettings, JournalError> {
        if !self.spec_path().exists() {
            return Err(self.not_a_sweep());
        }
        if let Some(plan) = read_json::<PlanFile>(&self.plan_path())? {
            return Ok(RunSettings {
                scale: plan.scale,
                overrides: plan.overrides,
                rebuilt: false,
            });
        }
        let meta = self.first_job_meta().ok_or_else(|| self.not_a_sweep())?;
        Ok(RunSettings {
            scale: meta.scale,
            overrides: meta.overrides,
            rebuilt: true,
        })
    }

    fn first_job_meta(&self) -> Option<JobMeta> {
        let entries = std::fs::read_dir(self.root.join("jobs")).ok()?;
        entries
            .filter_map(|e| e.ok())
            .find_map(|e| read_json(&e.path().join("job.json")).ok().flatten())
    }

    pub(crate) fn not_a_sweep(&self) -> JournalError {
        JournalError::NotASweep {
            dir: self.root.clone(),
        }
    }
}
