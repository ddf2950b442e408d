//! `slurm.json` in a job dir: this sweep's submissions of the job to Slurm. Only the
//! orchestrator writes it (the worker writes `state.json`), so the two never race on a file.
//!
//! It is written twice per submission: before `sbatch` (an intent with a fresh token, which
//! the batch script also checks as the shared-filesystem marker) and right after (with Slurm's
//! job id), before the submission is reported to the scheduler. An orchestrator killed between
//! the two leaves the token, and the next one finds the job by it in Slurm's queue: a job is
//! never submitted twice because its id was not saved.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::journal::{read_json, read_tolerant, records_now, write_json, JournalError, Read};

pub const FILE: &str = "slurm.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmRecord {
    /// Unique per submission: in the job's `--comment` and checked by its batch script.
    pub token: String,
    /// Slurm's job id; absent while sbatch runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_id: Option<String>,
    /// Which start of the job this submission is (1 = first).
    pub attempt: u32,
    pub submitted_at: f64,
    /// The orchestrator saw this submission end (or never reach Slurm). An unsettled record
    /// is a job that may still be queued or running: `resume` adopts it instead of submitting.
    #[serde(default)]
    pub settled: bool,
    /// Slurm ids of earlier submissions of this job, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<String>,
}

impl SlurmRecord {
    /// A new submission's intent, carrying the history of `previous`.
    pub fn intent(previous: Option<SlurmRecord>, attempt: u32) -> SlurmRecord {
        let earlier = previous
            .map(|p| p.earlier.into_iter().chain(p.slurm_id).collect())
            .unwrap_or_default();
        SlurmRecord {
            token: new_token(),
            slurm_id: None,
            attempt,
            submitted_at: records_now(),
            settled: false,
            earlier,
        }
    }

    /// What sbatch's `--comment` carries, so a submission can be found by its token.
    pub fn comment(&self) -> String {
        format!("sweep:{}", self.token)
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

pub fn read(dir: &Path) -> Result<Option<SlurmRecord>, JournalError> {
    read_json(&path(dir))
}

/// The record, missing, or what is wrong with it (torn, garbled, not a record).
pub fn read_checked(dir: &Path) -> Read<SlurmRecord> {
    read_tolerant(&path(dir))
}

/// A record rebuilt from the Slurm job that carries its token in `--comment` (`sweep:TOKEN`),
/// for a job whose record was lost while it waited or ran.
pub fn rebuilt(slurm_id: &str, comment: &str, attempt: u32) -> Option<SlurmRecord> {
    let token = comment.strip_prefix("sweep:")?;
    (!token.is_empty()).then(|| SlurmRecord {
        token: token.to_string(),
        slurm_id: Some(slurm_id.to_string()),
        attempt,
        submitted_at: records_now(),
        settled: false,
        earlier: Vec::new(),
    })
}

/// Replaces the record atomically and durably (it must survive the orchestrator).
pub fn write(dir: &Path, record: &SlurmRecord) -> Result<(), JournalError> {
    write_json(&path(dir), record)
}

/// Marks the record's submission as seen to its end.
pub fn settle(dir: &Path) -> Result<(), JournalError> {
    match read(dir)? {
        Some(mut r) if !r.settled => {
            r.settled = true;
            write(dir, &r)
        }
        _ => Ok(()),
    }
}

/// A token no other submission has: time, pid and a counter (no randomness needed, only
/// uniqueness across orchestrators and restarts).
fn new_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{nanos:x}-{:x}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_intent_keeps_the_history_and_a_fresh_token() {
        let first = SlurmRecord {
            slurm_id: Some("12".into()),
            ..SlurmRecord::intent(None, 1)
        };
        let second = SlurmRecord::intent(Some(first.clone()), 2);
        assert_eq!(second.earlier, vec!["12".to_string()]);
        assert_eq!(
            (second.slurm_id.as_deref(), second.settled, second.attempt),
            (None, false, 2)
        );
        assert_ne!(second.token, first.token);
        let third = SlurmRecord::intent(
            Some(SlurmRecord {
                slurm_id: Some("15".into()),
                ..second
            }),
            3,
        );
        assert_eq!(third.earlier, vec!["12".to_string(), "15".to_string()]);
    }

    #[test]
    fn settling_is_durable_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        write(
            dir.path(),
            &SlurmRecord {
                slurm_id: Some("7".into()),
                ..SlurmRecord::intent(None, 1)
            },
        )
        .unwrap();
        settle(dir.path()).unwrap();
        settle(dir.path()).unwrap();
        let r = read(dir.path()).unwrap().unwrap();
        assert!(r.settled);
        assert_eq!(r.slurm_id.as_deref(), Some("7"));
    }
}
