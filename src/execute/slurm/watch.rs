//! Following submitted jobs: one thread asks squeue about all of them at once, passes
//! the workers' progress lines on from each job's `train.log` (the job's stdout goes to a file
//! on the cluster, so the log in the shared job dir is the stream), and reports each job's
//! end, typed from `scontrol -o show job`. It looks often while things change (a job was
//! submitted, started or ended) and ever less often while nothing does, down to once every
//! few seconds: short jobs are noticed at once, long ones cost the controller little.
//! A plain thread, not a task: the Slurm commands block, and the dispatcher's runtime must
//! not wait on them.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::hopeless::{self, Verdict};
use super::queue::{self, Phase, Shown};
use super::reconcile;
use super::record::{self, SlurmRecord};
use crate::execute::{ExecEvent, FailureCause, Outcome};
use crate::journal::JobDir;
use crate::launch::protocol::WorkerMessage;

/// Time between two looks at the queue: the least (after a change) and the most.
pub const POLL_MIN: Duration = Duration::from_millis(500);
pub const POLL_MAX: Duration = Duration::from_secs(5);

/// Lines of a failed job's stderr kept with its failure.
const STDERR_TAIL: usize = 40;

/// What the executor and the watcher share: the Slurm id of every job in flight, and the jobs
/// this sweep cancelled (so their CANCELLED is ours, not someone else's).
#[derive(Default)]
pub struct Shared {
    pub ids: HashMap<String, String>,
    pub cancelled: HashSet<String>,
}

/// One job being followed.
pub struct Tracked {
    pub job: String,
    pub dir: PathBuf,
    pub slurm_id: String,
    /// The submission's record, as this sweep last wrote it to `slurm.json`.
    pub record: SlurmRecord,
    /// `slurm.json` was damaged or lost while the job waited, and written again: a start in
    /// that moment found no token (exit 97) although the node shares the directory.
    pub record_repaired: bool,
    pub events: UnboundedSender<ExecEvent>,
    /// Bytes of `train.log` already passed on.
    pub log_offset: u64,
    pub running: bool,
    /// The last unusual reason for waiting that was reported.
    pub reason: String,
    /// When Slurm said COMPLETED but `result.json` was not visible here yet.
    pub completed_unseen: Option<Instant>,
    /// A pending reason that never passes, and since when it has been seen.
    pub hopeless: Option<(String, Instant)>,
    /// The job was reported as one that can never start.
    pub unservable: bool,
}

impl Tracked {
    pub fn new(
        job: &str,
        dir: PathBuf,
        record: SlurmRecord,
        events: UnboundedSender<ExecEvent>,
        from_start_of_log: bool,
    ) -> Tracked {
        let slurm_id = record.slurm_id.clone().unwrap_or_default();
        let log_offset = if from_start_of_log {
            0
        } else {
            std::fs::metadata(JobDir::new(&dir).log_path()).map_or(0, |m| m.len())
        };
        Tracked {
            job: job.to_string(),
            dir,
            slurm_id,
            record,
            record_repaired: false,
            events,
            log_offset,
            completed_unseen: None,
            running: false,
            reason: String::new(),
            hopeless: None,
            unservable: false,
        }
    }
}

/// Runs until `stop` is set: takes new jobs from `incoming`, follows them to their end.
pub fn follow(incoming: Receiver<Tracked>, shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>) {
    let mut jobs: Vec<Tracked> = Vec::new();
    let mut unreachable = false;
    let mut wait = POLL_MIN;
    while !stop.load(Ordering::SeqCst) {
        let mut changed = false;
        loop {
            match incoming.try_recv() {
                Ok(t) => {
                    jobs.push(t);
                    changed = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if jobs.is_empty() {
            std::thread::sleep(POLL_MIN);
            continue;
        }
        let ids: Vec<String> = jobs.iter().map(|t| t.slurm_id.clone()).collect();
        let seen = match queue::squeue(&ids) {
            Ok(seen) => {
                unreachable = false;
                seen
            }
            Err(e) => {
                // The controller may be restarting: jobs keep running without it. Say it once.
                if !unreachable {
                    unreachable = true;
                    let text = format!(
                        "sweep: cannot ask Slurm about {} job(s) ({}); still trying",
                        jobs.len(),
                        e.message()
                    );
                    let _ = jobs[0].events.send(ExecEvent::Notice {
                        job: jobs[0].job.clone(),
                        text,
                    });
                }
                std::thread::sleep(POLL_MAX);
                continue;
            }
        };
        jobs.retain_mut(|t| {
            match step(
                t,
                seen.get(&t.slurm_id)
                    .map(|q| (q.state.as_str(), q.reason.as_str())),
                &shared,
            ) {
                Step::Same => true,
                Step::Changed => {
                    changed = true;
                    true
                }
                Step::Ended => {
                    changed = true;
                    false
                }
            }
        });
        wait = if changed {
            POLL_MIN
        } else {
            (wait * 2).min(POLL_MAX)
        };
        // Sleep in short steps so that a newly submitted job is looked at soon.
        let until = Instant::now() + wait;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL_MIN.min(until - Instant::now()));
            if let Ok(t) = incoming.try_recv() {
                jobs.push(t);
                break;
            }
        }
    }
}

/// What one look at a job found.
enum Step {
    Same,
    Changed,
    /// It ended, and that was reported.
    Ended,
}

/// One look at one job.
fn step(t: &mut Tracked, seen: Option<(&str, &str)>, shared: &Mutex<Shared>) -> Step {
    forward_log(t);
    match seen.map(|(state, reason)| (queue::phase(state), reason)) {
        Some((Phase::Queued, reason)) => {
            t.record_repaired |= reconcile::keep_record(t);
            let verdict = hopeless::verdict(reason);
            if verdict == Verdict::Transient {
                t.hopeless = None;
            } else {
                watch_hopeless(t, reason);
            }
            // A reason that makes the sweep stop is said in its error, not here as well.
            let said_in_error = matches!(verdict, Verdict::Never(_));
            if !queue::ordinary_wait(reason) && !said_in_error && reason != t.reason {
                t.reason = reason.to_string();
                let text = format!(
                    "         {}: slurm job {} waits in the queue: {reason}",
                    t.job, t.slurm_id
                );
                let _ = t.events.send(ExecEvent::Notice {
                    job: t.job.clone(),
                    text,
                });
            }
            Step::Same
        }
        Some((Phase::Running, _)) if !t.running => {
            t.running = true;
            let _ = t.events.send(ExecEvent::Started {
                job: t.job.clone(),
                pid: t.slurm_id.parse().unwrap_or(0),
            });
            Step::Changed
        }
        Some((Phase::Running, _)) => Step::Same,
        Some((Phase::Ended, _)) | None => match queue::show(&t.slurm_id) {
            // Not sure yet (squeue raced, or scontrol did not answer): look again soon.
            Err(_) => Step::Changed,
            Ok(Some(s)) if queue::phase(&s.state) != Phase::Ended => Step::Changed,
            Ok(Some(s)) if s.state == "COMPLETED" && !result_visible(t) => Step::Changed,
            Ok(shown) => {
                let cancelled = shared
                    .lock()
                    .expect("lock not poisoned")
                    .cancelled
                    .remove(&t.job);
                let lost = t.record_repaired || marker_lost(&t.dir, &t.record.token);
                let outcome = judge(&t.dir, &t.slurm_id, shown.as_ref(), cancelled, lost);
                finish(t, outcome, shared);
                Step::Ended
            }
        },
    }
}

/// Follows a pending reason that may never pass: once it has held long enough (and, for
/// nodes that are unavailable, while none of the partition's nodes is up), the job is
/// reported as one that can never start; the dispatcher then stops the sweep.
fn watch_hopeless(t: &mut Tracked, reason: &str) {
    if t.unservable {
        return;
    }
    let since = match &t.hopeless {
        Some((seen, since)) if seen == reason => *since,
        _ => {
            t.hopeless = Some((reason.to_string(), Instant::now()));
            return;
        }
    };
    let change = match hopeless::verdict(reason) {
        Verdict::Never(change) if since.elapsed() >= hopeless::HOLD_NEVER => change,
        Verdict::NodesDown(change) if since.elapsed() >= hopeless::HOLD_NODES => {
            if hopeless::nodes_up(&t.slurm_id) {
                // Nodes it may use are up: it waits its turn. Looked at again later.
                t.hopeless = Some((reason.to_string(), Instant::now()));
                return;
            }
            change
        }
        _ => return,
    };
    t.unservable = true;
    let _ = t.events.send(ExecEvent::Unservable {
        job: t.job.clone(),
        reason: reason.to_string(),
        message: hopeless::explain(&t.job, &t.slurm_id, reason, change),
    });
}

/// Whether the result of a job Slurm calls COMPLETED (the worker exits 0 only after writing
/// it) can be read here. A shared filesystem may show another machine's new file late (NFS
/// caches lookups), so it is looked for, listing the directory to refresh that cache, for up
/// to [`RESULT_GRACE`] before the job is judged without it.
fn result_visible(t: &mut Tracked) -> bool {
    let _ = std::fs::read_dir(&t.dir).map(|entries| entries.count());
    if JobDir::new(&t.dir).result_path().exists() {
        return true;
    }
    let since = *t.completed_unseen.get_or_insert_with(Instant::now);
    since.elapsed() > RESULT_GRACE
}

/// How long a completed job's `result.json` may take to appear here.
const RESULT_GRACE: Duration = Duration::from_secs(30);

/// The outcome of an ended job; a job Slurm forgot is judged by its files. `marker_lost`:
/// the job's `slurm.json` was damaged or lost while it waited, so a start that did not find
/// its token (exit 97) in a directory it could write (its output file is here) says nothing
/// about the filesystem: the job is submitted again.
pub fn judge(
    dir: &std::path::Path,
    slurm_id: &str,
    shown: Option<&Shown>,
    cancelled: bool,
    marker_lost: bool,
) -> Outcome {
    let wrote_output = dir.join(format!("slurm-{slurm_id}.out")).exists();
    match shown {
        Some(s) => match queue::outcome(s, cancelled, wrote_output) {
            Outcome::Failed(FailureCause::NotShared { .. }) if wrote_output && marker_lost => {
                Outcome::Failed(FailureCause::Lost)
            }
            other => other,
        },
        None if JobDir::new(dir).result_path().exists() => Outcome::Done,
        None => Outcome::Failed(FailureCause::Lost),
    }
}

/// Whether `slurm.json` no longer carries `token` (damaged, missing or replaced).
pub fn marker_lost(dir: &std::path::Path, token: &str) -> bool {
    !matches!(record::read_checked(dir), crate::journal::Read::Ok(r) if r.token == token)
}

/// Reports the end of a job: its last progress lines, then its outcome.
pub fn finish(t: &mut Tracked, outcome: Outcome, shared: &Mutex<Shared>) {
    forward_log(t);
    let stderr_tail = match outcome {
        Outcome::Failed(_) => tail(&JobDir::new(&t.dir).stderr_path(), STDERR_TAIL),
        _ => Vec::new(),
    };
    // Seen to its end: a later `resume` must not adopt it. Written from what the watcher
    // holds, so a record damaged meanwhile is replaced. A failure to write this is not worth
    // stopping for: resume would find the same end in Slurm again.
    t.record.settled = true;
    let _ = record::write(&t.dir, &t.record);
    shared.lock().expect("lock not poisoned").ids.remove(&t.job);
    let _ = t.events.send(ExecEvent::Exited {
        job: t.job.clone(),
        outcome,
        stderr_tail,
    });
}

/// Passes on the complete lines added to `train.log` since the last look.
fn forward_log(t: &mut Tracked) {
    let Ok(mut file) = std::fs::File::open(JobDir::new(&t.dir).log_path()) else {
        return;
    };
    if file.seek(SeekFrom::Start(t.log_offset)).is_err() {
        return;
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return;
    }
    // A line still being written waits for the next look.
    let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
        return;
    };
    t.log_offset += end as u64 + 1;
    for line in String::from_utf8_lossy(&bytes[..end]).lines() {
        if let Ok(message) = serde_json::from_str::<WorkerMessage>(line) {
            let _ = t.events.send(ExecEvent::Message {
                job: t.job.clone(),
                message,
            });
        }
    }
}

fn tail(path: &std::path::Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<String> = text.lines().map(String::from).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}
