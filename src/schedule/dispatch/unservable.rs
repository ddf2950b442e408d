//! A job the executor's queue can never start (Slurm keeps it pending with a reason such as
//! `PartitionTimeLimit`): every other job asks for the same, so waiting is pointless. The
//! sweep records it, cancels everything it has in the queue (running jobs checkpoint, as on
//! Ctrl-C, and stay pending), and stops with one error naming the setting to change. Results
//! already written stay; a rerun with a fitting request goes on.

use crate::execute::Executor;
use crate::journal::{JobStatus, JournalError};

use super::Dispatcher;

impl<'a> Dispatcher<'a> {
    /// Records the job's verdict; the first one becomes the sweep's error.
    pub(super) fn on_unservable(
        &mut self,
        job: &str,
        reason: String,
        message: String,
    ) -> Result<(), JournalError> {
        self.log(
            job,
            JobStatus::Unservable {
                reason,
                message: message.clone(),
            },
        )?;
        if self.unservable.is_none() {
            self.unservable = Some(message);
        }
        Ok(())
    }

    /// Cancels every job the sweep has in the queue; the error says how many.
    pub(super) fn cancel_unservable(&mut self, executor: &dyn Executor) {
        let n = self.running.len();
        if let Some(message) = &mut self.unservable {
            *message += &format!(
                "; cancelled the {n} job(s) this sweep had queued or running, finished results are kept, and a rerun with a fitting request goes on"
            );
        }
        executor.cancel_all();
    }
}
