//! A damaged or lost `slurm.json` is its job's problem, never the sweep's. Read at a start or
//! a resume, a damaged record is moved aside (`slurm.json.damaged-<time>`, reported so the
//! dispatcher logs it) and the job is looked for in Slurm's queue by its name and directory:
//! found queued or running, the record is rebuilt from it (its `--comment` carries the token
//! the batch script checks) and the job is followed; not found, it is submitted again (it
//! resumes from its checkpoint). While a job waits in the queue the watcher keeps its record
//! intact, since the batch script looks for the token in it when the job starts.

use std::path::Path;
use std::sync::Mutex;

use tokio::sync::mpsc::UnboundedSender;

use super::command::Failure;
use super::queue::{self, Queued};
use super::record::{self, SlurmRecord};
use super::watch::Tracked;
use crate::execute::ExecEvent;
use crate::journal::{set_aside, JournalError, Read};

/// Reads a job's record; a damaged one is moved aside, reported on `events` (with `then`,
/// what follows), and counts as missing.
pub fn read_or_set_aside(
    job: &str,
    dir: &Path,
    events: &UnboundedSender<ExecEvent>,
    then: &str,
) -> Result<Option<SlurmRecord>, JournalError> {
    match record::read_checked(dir) {
        Read::Ok(r) => Ok(Some(r)),
        Read::Missing => Ok(None),
        Read::Damaged(why) => {
            let to = set_aside(&record::path(dir))?;
            let _ = events.send(ExecEvent::Damaged {
                job: job.to_string(),
                file: record::FILE.to_string(),
                why,
                moved_to: to.display().to_string(),
                then: then.to_string(),
            });
            Ok(None)
        }
    }
}

/// This user's queued and running jobs, asked of Slurm once per sweep and only when a record
/// is missing (one squeue call, however many jobs).
#[derive(Default)]
pub struct ActiveJobs(Mutex<Option<Vec<Queued>>>);

impl ActiveJobs {
    /// The queued or running submission of `job` whose working directory is `dir` (absolute),
    /// the newest if there are several.
    pub fn find(&self, job: &str, dir: &Path) -> Result<Option<Queued>, Failure> {
        let mut cache = self.0.lock().expect("lock not poisoned");
        if cache.is_none() {
            *cache = Some(queue::active_mine()?);
        }
        let name = format!("sweep-{job}");
        let dir = dir.to_string_lossy();
        let dir = dir.trim_end();
        Ok(cache
            .as_ref()
            .expect("filled just above")
            .iter()
            .filter(|q| q.name == name && q.workdir == dir && q.comment.starts_with("sweep:"))
            .max_by_key(|q| q.id.parse::<u64>().unwrap_or(0))
            .cloned())
    }
}

/// While a job waits in the queue: its record on disk must carry its submission's token for
/// the batch script to find. A damaged, missing or foreign one is moved aside, written again
/// from what the watcher holds, and reported; returns whether it had to be.
pub fn keep_record(t: &mut Tracked) -> bool {
    let why = match record::read_checked(&t.dir) {
        Read::Ok(r) if r.token == t.record.token => return false,
        Read::Ok(_) => "holds another submission".to_string(),
        Read::Missing => "missing".to_string(),
        Read::Damaged(why) => why,
    };
    let moved_to = match why.as_str() {
        "missing" => String::new(),
        _ => match set_aside(&record::path(&t.dir)) {
            Ok(to) => to.display().to_string(),
            Err(_) => return false,
        },
    };
    if record::write(&t.dir, &t.record).is_err() {
        // The directory cannot be written: the job fails at its start and says so.
        return false;
    }
    let then = format!(
        "written again for slurm job {}, which waits in the queue",
        t.slurm_id
    );
    let _ = t.events.send(ExecEvent::Damaged {
        job: t.job.clone(),
        file: record::FILE.to_string(),
        why,
        moved_to,
        then,
    });
    true
}
