//! A job that could not write its directory (disk full, read-only, gone) did nothing wrong:
//! it is not retried and not failed; it stays pending, nothing more is launched, and the sweep
//! ends with one message saying where and how much room a job needs. `sweep resume` goes on
//! once the room is there.

use std::path::Path;

use crate::execute::FailureCause;
use crate::journal::{storage, JobStatus, JournalError, SweepDir};

use super::{Dispatcher, Running, ScheduleError};

impl<'a> Dispatcher<'a> {
    /// Handles a failure caused by the storage (the worker said so, or a crash left its
    /// directory unwritable); returns whether it was one.
    pub(super) fn storage_failure(
        &mut self,
        r: &Running<'a>,
        cause: &FailureCause,
    ) -> Result<bool, JournalError> {
        let dir = self.sweep.job_dir(&r.job.id);
        let trouble = storage::trouble(&dir, 1 << 20);
        let storage = match (cause, trouble) {
            (FailureCause::Storage, t) => t.unwrap_or(storage::Trouble::Full { free: 0 }),
            (FailureCause::Crash { .. }, Some(t)) => t,
            _ => return Ok(false),
        };
        self.log(&r.job.id, JobStatus::Pending)?;
        // One short line per job; the worker's own words (with the file) are in its stderr.log.
        let text = format!(
            "{}  {} seed {}: stopped: {storage}; it stays pending",
            r.job.id, r.job.row, r.job.seed,
        );
        self.display.paused(&r.job.id, &text);
        if self.halt.is_none() {
            if !self.running.is_empty() {
                self.display.line(&format!(
                    "sweep: starting nothing more in {} (no room to write); waiting for the {} running job(s)",
                    self.sweep.root.display(),
                    self.running.len()
                ));
            }
            self.halt = Some(storage::explain(&self.sweep.root, &dir, &storage));
        }
        Ok(true)
    }
}

/// The sweep's own write that failed for want of room (or a read-only, vanished directory),
/// said as such; any other error as it is.
pub(super) fn explain_error(sweep: &SweepDir, e: ScheduleError) -> ScheduleError {
    let ScheduleError::Journal(JournalError::Io { path, source, .. }) = &e else {
        return e;
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let trouble = storage::trouble(dir, 1 << 20).or_else(|| {
        storage::is_storage_error(source).then_some(storage::Trouble::Full { free: 0 })
    });
    match trouble {
        Some(t) => ScheduleError::Storage(storage::explain(&sweep.root, path, &t)),
        None => e,
    }
}
