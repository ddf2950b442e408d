//! The sweep directory: the only state of a sweep, kept on disk as it changes.
//!
//! ```text
//! spec.yaml  plan.json  events.jsonl  lock
//! jobs/<id>/config.yaml state.json train.log curves.csv checkpoint/ result.json
//! tables/  plots/
//! ```
//! `result.json` exists only for a finished job and is written last, atomically: its presence
//! is the definition of done. Job directories describe themselves (`config.yaml`, `state.json`)
//! so a lost `plan.json` or `events.jsonl` can be rebuilt from them.

pub mod atomic;
mod damage;
mod events;
mod lock;
mod reader;
mod records;
pub mod storage;

use std::fs;
use std::path::{Path, PathBuf};

pub use atomic::write_atomic;
pub use damage::{read_tolerant, set_aside, Damage, JobRecord, Read, Redo};

/// A job's val-image bootstrap, beside its `result.json`.
pub const VAL_BOOTSTRAP_FILE: &str = "val_bootstrap.json";
pub use events::EventLog;
pub use lock::SweepLock;
pub use reader::{JobView, RunSettings, SweepRecord};
pub use records::{
    now as records_now, process_start, EvalPoint, Event, JobResult, JobState, JobStatus,
    TrainRecord,
};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error("another sweep (pid {pid}) is running in {dir}; wait for it or stop it")]
    Locked { dir: PathBuf, pid: String },
    #[error("{dir} is not a sweep directory (no plan.json)")]
    NotASweep { dir: PathBuf },
}

pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> JournalError {
    let path = path.to_path_buf();
    move |source| JournalError::Io {
        action,
        path,
        source,
    }
}

/// Paths of one sweep directory.
#[derive(Debug, Clone)]
pub struct SweepDir {
    pub root: PathBuf,
}

impl SweepDir {
    pub fn new(root: impl Into<PathBuf>) -> SweepDir {
        SweepDir { root: root.into() }
    }

    pub fn create(&self) -> Result<(), JournalError> {
        for d in [
            self.root.clone(),
            self.root.join("jobs"),
            self.root.join("tables"),
        ] {
            fs::create_dir_all(&d).map_err(io("create", &d))?;
        }
        Ok(())
    }

    pub fn spec_path(&self) -> PathBuf {
        self.root.join("spec.yaml")
    }
    pub fn plan_path(&self) -> PathBuf {
        self.root.join("plan.json")
    }
    pub fn events_path(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }
    pub fn tables_dir(&self) -> PathBuf {
        self.root.join("tables")
    }
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(id)
    }

    /// Takes the sweep's lock for this process (one orchestrator per directory).
    pub fn lock(&self) -> Result<SweepLock, JournalError> {
        SweepLock::acquire(&self.root.join("lock"))
    }

    /// Opens `events.jsonl` for appending (group-committed by a writer thread).
    pub fn events(&self) -> Result<EventLog, JournalError> {
        EventLog::open(&self.events_path())
    }

    /// Keeps only the readable lines of `events.jsonl`: a damaged file is moved aside (as
    /// `events.jsonl.damaged-<timestamp>`) and replaced by its good lines. Returns how many
    /// lines were dropped and where the old file went, when any was.
    pub fn repair_events(&self) -> Result<Option<(usize, PathBuf)>, JournalError> {
        let path = self.events_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut good = String::new();
        let mut dropped = 0;
        for line in text.split('\n').filter(|l| !l.trim().is_empty()) {
            if serde_json::from_str::<Event>(line).is_ok() {
                good.push_str(line);
                good.push('\n');
            } else {
                dropped += 1;
            }
        }
        if dropped == 0 && (bytes.is_empty() || bytes.ends_with(b"\n")) {
            return Ok(None);
        }
        let aside = damage::set_aside(&path)?;
        write_atomic(&path, good.as_bytes()).map_err(io("write", &path))?;
        Ok(Some((dropped, aside)))
    }

    /// Reads `events.jsonl`, skipping (and counting) damaged lines.
    pub fn read_events(&self) -> Result<(Vec<Event>, usize), JournalError> {
        let path = self.events_path();
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let mut events = Vec::new();
        let mut skipped = 0;
        let text = String::from_utf8_lossy(&text);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str(line) {
                Ok(e) => events.push(e),
                Err(_) => skipped += 1,
            }
        }
        Ok((events, skipped))
    }
}

/// Files of one job directory; usable by a worker that knows nothing of the sweep.
#[derive(Debug, Clone)]
pub struct JobDir {
    pub path: PathBuf,
}

impl JobDir {
    pub fn new(path: impl Into<PathBuf>) -> JobDir {
        JobDir { path: path.into() }
    }
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.yaml")
    }
    pub fn state_path(&self) -> PathBuf {
        self.path.join("state.json")
    }
    pub fn result_path(&self) -> PathBuf {
        self.path.join("result.json")
    }
    pub fn log_path(&self) -> PathBuf {
        self.path.join("train.log")
    }
    pub fn stderr_path(&self) -> PathBuf {
        self.path.join("stderr.log")
    }

    pub fn meta_path(&self) -> PathBuf {
        self.path.join("job.json")
    }

    /// Creates the directory with its `config.yaml` and `job.json` (kept if already there:
    /// same id, same config).
    pub fn prepare<M: serde::Serialize>(
        &self,
        config_yaml: &str,
        meta: &M,
    ) -> Result<(), JournalError> {
        fs::create_dir_all(&self.path).map_err(io("create", &self.path))?;
        // Both files derive from the spec (a crash that loses them loses nothing): replaced
        // atomically so they are never torn, but not fsync'd.
        let cfg = self.config_path();
        if !cfg.exists() {
            atomic::replace_unsynced(&cfg, config_yaml.as_bytes()).map_err(io("write", &cfg))?;
        }
        let meta_path = self.meta_path();
        if !meta_path.exists() {
            let mut bytes = serde_json::to_vec_pretty(meta).expect("job metadata serializes");
            bytes.push(b'\n');
            atomic::replace_unsynced(&meta_path, &bytes).map_err(io("write", &meta_path))?;
        }
        Ok(())
    }

    pub fn read_state(&self) -> Result<Option<JobState>, JournalError> {
        read_json(&self.state_path())
    }

    pub fn write_state(&self, state: &JobState) -> Result<(), JournalError> {
        write_json(&self.state_path(), state)
    }

    /// The job's result, if it finished (done or diverged).
    pub fn read_result(&self) -> Result<Option<JobResult>, JournalError> {
        let Some(mut r): Option<JobResult> = read_json(&self.result_path())? else {
            return Ok(None);
        };
        // A bootstrap that cannot be read is left out, as if the job had none.
        r.val_bootstrap = read_json(&self.path.join(VAL_BOOTSTRAP_FILE))
            .ok()
            .flatten();
        Ok(Some(r))
    }

    pub fn write_result(&self, result: &JobResult) -> Result<(), JournalError> {
        write_json(&self.result_path(), result)
    }
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, JournalError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| JournalError::Corrupt {
                path: path.into(),
                problem: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), JournalError> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("journal records serialize");
    bytes.push(b'\n');
    write_atomic(path, &bytes).map_err(io("write", path))
}
