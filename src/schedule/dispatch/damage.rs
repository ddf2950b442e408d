//! A damaged file in a job directory is that job's problem: before the job is considered, its
//! damaged files are moved aside, each move is logged in the events, and the job then runs
//! again (or only has its derived files rebuilt) like any unfinished job.

use crate::expand::Job;
use crate::journal::{JobDir, JobStatus, JournalError};

use super::Dispatcher;

impl<'a> Dispatcher<'a> {
    /// Repairs one job directory; says on the display what was damaged and what follows.
    pub(super) fn repair_job(
        &mut self,
        job: &Job,
        dir: &JobDir,
        config_yaml: &str,
    ) -> Result<(), JournalError> {
        let repaired = dir.repair(Some(config_yaml))?;
        let rerun = repaired.iter().any(|(d, _)| d.voids_result());
        for (i, (damage, moved_to)) in repaired.iter().enumerate() {
            // Kept relative to the job directory: the sweep directory may move.
            let aside = moved_to.strip_prefix(&dir.path).unwrap_or(moved_to);
            self.log(
                &job.id,
                JobStatus::Damaged {
                    file: damage.file.clone(),
                    why: damage.why.clone(),
                    moved_to: aside.display().to_string(),
                },
            )?;
            let then = if rerun && i + 1 == repaired.len() {
                "; the job runs again"
            } else {
                ""
            };
            self.display.line(&format!(
                "sweep: {}  {} seed {}: damaged: {damage}; moved to {}{then}",
                job.id,
                job.row,
                job.seed,
                moved_to.display()
            ));
        }
        if rerun {
            self.log(&job.id, JobStatus::Pending)?;
        }
        Ok(())
    }

    /// A file the executor keeps in the job dir (`slurm.json`) was damaged or lost: logged
    /// like the job's other damaged files; the executor has said what follows.
    pub(super) fn executor_damage(
        &mut self,
        job: &str,
        file: String,
        why: String,
        moved_to: String,
        then: &str,
    ) -> Result<(), JournalError> {
        let line = match moved_to.as_str() {
            "" => format!("sweep: {job}: damaged: {file}: {why}; {then}"),
            to => format!("sweep: {job}: damaged: {file}: {why}; moved to {to}; {then}"),
        };
        // Kept relative to the job directory, as for its other files: the sweep may move.
        let moved_to = std::path::Path::new(&moved_to)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.log(
            job,
            JobStatus::Damaged {
                file,
                why,
                moved_to,
            },
        )?;
        self.display.line(&line);
        Ok(())
    }
}
