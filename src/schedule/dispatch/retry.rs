//! What a worker's end means for its job: done, diverged (a result, not retried), retried
//! with back-off (a crash, a timeout; out of memory with the GPU to itself), out of storage
//! (the sweep stops launching), or failed for good once the retries are spent.

use std::time::{Duration, Instant};

use super::{Dispatcher, Hardware, Queued, Running};
use crate::execute::{ExecError, FailureCause, Outcome};
use crate::expand::Job;
use crate::journal::{records_now, JobDir, JobState, JobStatus, JournalError};

impl<'a> Dispatcher<'a> {
    /// Handles a worker's exit; returns whether a result arrived (tables need refreshing).
    pub(super) fn on_exit(
        &mut self,
        job: &str,
        outcome: Outcome,
        stderr_tail: Vec<String>,
        stopping: bool,
    ) -> Result<bool, JournalError> {
        let Some(r) = self.running.remove(job) else {
            return Ok(false);
        };
        let outcome = if r.timed_out && outcome != Outcome::Done {
            Outcome::Failed(FailureCause::Timeout)
        } else {
            outcome
        };
        self.release(&r, matches!(outcome, Outcome::Done));
        let dir = JobDir::new(self.sweep.job_dir(job));
        let row = format!("{} seed {}", r.job.row, r.job.seed);
        let secs = r.started.elapsed().as_secs_f64();
        match outcome {
            Outcome::Done | Outcome::Diverged => {
                let Some(result) = dir.read_result()? else {
                    // Success without result.json is a crash of the worker's last step.
                    self.retry_or_fail(
                        &r,
                        FailureCause::Crash {
                            code: Some(0),
                            signal: None,
                        },
                        vec!["the worker exited without result.json".into()],
                        stopping,
                    )?;
                    return Ok(false);
                };
                self.finished.insert(job.to_string());
                if result.status == "diverged" {
                    self.summary.diverged += 1;
                    let k = result.diverged_at.unwrap_or(0);
                    self.log(job, JobStatus::Diverged { iteration: k })?;
                    self.display
                        .finished(job, &format!("diverged {job}  {row}: diverged@{k}"));
                } else {
                    self.summary.done += 1;
                    self.log(job, JobStatus::Done)?;
                    let m = |k: &str| result.metrics.get(k).copied().unwrap_or(-1.0) * 100.0;
                    self.display.finished(
                        job,
                        &format!(
                            "done {job}  {row}: AP {:.1}  AP50 {:.1}  APs {:.1}  ({secs:.0} s)",
                            m("AP"),
                            m("AP50"),
                            m("APs")
                        ),
                    );
                }
                Ok(true)
            }
            Outcome::Interrupted => {
                self.log(job, JobStatus::Pending)?;
                self.display.paused(
                    job,
                    &format!(
                        "{job}  {row}: stopped after a checkpoint; it resumes on the next run"
                    ),
                );
                Ok(false)
            }
            Outcome::Failed(cause) => {
                // The worker's one line says it better than the end of its stderr (where a
                // library may have printed pages).
                let tail = match &r.failure {
                    Some(m) => vec![m.clone()],
                    None => stderr_tail,
                };
                if self.storage_failure(&r, &cause)? {
                    return Ok(false);
                }
                self.retry_or_fail(&r, cause, tail, stopping)?;
                Ok(false)
            }
        }
    }

    pub(super) fn retry_or_fail(
        &mut self,
        r: &Running<'a>,
        cause: FailureCause,
        tail: Vec<String>,
        stopping: bool,
    ) -> Result<(), JournalError> {
        let message = tail.last().cloned().unwrap_or_default();
        if let FailureCause::NotShared { node } = &cause {
            self.log(&r.job.id, JobStatus::Pending)?;
            let slurm_id = crate::execute::slurm::record::read(&self.sweep.job_dir(&r.job.id))
                .ok()
                .flatten()
                .and_then(|rec| rec.slurm_id)
                .unwrap_or_default();
            self.fatal = Some(ExecError::NotShared {
                job: r.job.id.clone(),
                slurm_id,
                node: node.clone(),
                dir: self.sweep.job_dir(&r.job.id),
            });
            return Ok(());
        }
        if matches!(
            cause,
            FailureCause::DependencyFailed | FailureCause::Preempted
        ) && !stopping
        {
            // Not this job's doing: queued again as the same attempt. A dropped child goes
            // after its parent's next start (or fails with it, see deps_state).
            self.log(&r.job.id, JobStatus::Pending)?;
            self.display.paused(
                &r.job.id,
                &format!(
                    "{}  {} seed {}: {cause}; queued again",
                    r.job.id, r.job.row, r.job.seed
                ),
            );
            self.queue.push_front(Queued {
                job: r.job,
                attempt: r.attempt.saturating_sub(1),
                not_before: Instant::now(),
                exclusive: r.exclusive,
            });
            return Ok(());
        }
        self.log(
            &r.job.id,
            JobStatus::Failed {
                cause: cause.name().into(),
                message: cause.to_string(),
            },
        )?;
        let (retry, exclusive) = match &cause {
            // Bad input, or someone's decision to cancel: running it again changes nothing.
            FailureCause::BadConfig | FailureCause::Cancelled => (false, false),
            // Once more with the GPU to itself, and the shape's expected peak raised.
            FailureCause::OutOfMemory => (r.gpu.is_some() && !r.exclusive, true),
            _ => (r.attempt <= self.opts.retries, r.exclusive),
        };
        if retry && !stopping {
            if cause == FailureCause::OutOfMemory {
                self.peaks.raise_after_oom(&r.shape, r.peak_mib, &r.job.id);
            }
            // A detached run cannot wait: the retry goes to the queue at once.
            let wait = if self.opts.detach {
                Duration::ZERO
            } else {
                self.opts.backoff * 2u32.saturating_pow(r.attempt.saturating_sub(1))
            };
            self.display.paused(
                &r.job.id,
                &format!(
                    "{}  {} seed {}: {cause}; retrying in {:.0?}",
                    r.job.id, r.job.row, r.job.seed, wait
                ),
            );
            self.queue.push_front(Queued {
                job: r.job,
                attempt: r.attempt,
                not_before: Instant::now() + wait,
                exclusive,
            });
            return Ok(());
        }
        if stopping {
            self.display.paused(
                &r.job.id,
                &format!(
                    "{}  {} seed {}: {cause} while stopping: {message}",
                    r.job.id, r.job.row, r.job.seed
                ),
            );
            return Ok(());
        }
        self.fail_for_good(r.job, r.attempt, cause.name(), cause.to_string(), &tail)
    }

    pub(super) fn fail_for_good(
        &mut self,
        job: &Job,
        attempts: u32,
        cause: &str,
        detail: String,
        tail: &[String],
    ) -> Result<(), JournalError> {
        let dir = JobDir::new(self.sweep.job_dir(&job.id));
        let message = if tail.is_empty() {
            detail.clone()
        } else {
            format!("{detail}: {}", tail.join("\n"))
        };
        let status = JobStatus::Failed {
            cause: cause.into(),
            message,
        };
        let threads = match self.hardware {
            Hardware::Cpu { threads, .. }
            | Hardware::Gpu { threads, .. }
            | Hardware::Slurm { threads, .. } => *threads,
        };
        dir.write_state(&JobState {
            status: status.clone(),
            attempts,
            threads,
            updated_at: records_now(),
            peak_gpu_memory_bytes: None,
        })?;
        self.log(&job.id, status)?;
        self.failed.insert(job.id.clone());
        self.summary.failed += 1;
        let mut text = format!("FAILED {}  {} seed {}: {detail}", job.id, job.row, job.seed);
        if let [line] = tail {
            text += &format!(": {line} (more in {})", dir.stderr_path().display());
        } else if !tail.is_empty() {
            text += &format!("; last lines of {}:", dir.stderr_path().display());
            for line in tail {
                text += &format!("\n    {line}");
            }
        }
        self.display.finished(&job.id, &text);
        Ok(())
    }
}
