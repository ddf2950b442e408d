//! What Slurm says about our jobs: one `squeue` call for every job we follow (its phase), and
//! `scontrol -o show job ID` once a job has ended (its ExitCode `code:signal` and Reason).
//! `sacct` is never needed: a job's own files are the durable truth, and a job Slurm forgot
//! is judged by them.

use std::collections::HashMap;

use super::command::{self, Failure, NOT_SHARED};
use crate::execute::{FailureCause, Outcome};

/// squeue's `--Format`: fields separated by `|`, the working directory (free text, it may
/// hold `|`) last.
const FORMAT: &str = "JobID:|,State:|,Reason:|,NodeList:|,Comment:|,Name:|,WorkDir:";

/// One line of squeue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: String,
    pub state: String,
    pub reason: String,
    pub node: String,
    pub comment: String,
    pub name: String,
    pub workdir: String,
}

/// Where a job stands in Slurm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Running,
    Ended,
}

/// Slurm's job states by phase. COMPLETING is still running (its final state, e.g. TIMEOUT,
/// is not known yet); an unknown state counts as running, so nothing is decided on it.
pub fn phase(state: &str) -> Phase {
    match state {
        "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD"
        | "SPECIAL_EXIT" => Phase::Queued,
        "COMPLETED" | "FAILED" | "TIMEOUT" | "DEADLINE" | "OUT_OF_MEMORY" | "NODE_FAIL"
        | "BOOT_FAIL" | "PREEMPTED" | "CANCELLED" | "REVOKED" => Phase::Ended,
        _ => Phase::Running,
    }
}

/// Reasons a job waits that need no word to the user.
pub fn ordinary_wait(reason: &str) -> bool {
    matches!(
        reason,
        "None"
            | "Priority"
            | "Resources"
            | "Dependency"
            | "BeginTime"
            | "Prolog"
            | "JobArrayTaskLimit"
            | ""
    )
}

/// The jobs among `ids` that Slurm still knows (finished ones stay known for its MinJobAge).
pub fn squeue(ids: &[String]) -> Result<HashMap<String, Queued>, Failure> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let args = vec![
        "--noheader".into(),
        "--states=all".into(),
        format!("--jobs={}", ids.join(",")),
        format!("--Format={FORMAT}"),
    ];
    match command::run("squeue", &args, command::QUERY_TIMEOUT) {
        Ok(out) => Ok(parse_squeue(&out)
            .into_iter()
            .map(|q| (q.id.clone(), q))
            .collect()),
        // Asked only about jobs it has forgotten.
        Err(Failure::Refused(m)) if m.contains("Invalid job id") => Ok(HashMap::new()),
        Err(e) => Err(e),
    }
}

/// This user's jobs still queued or running (one call, whatever their number).
pub fn active_mine() -> Result<Vec<Queued>, Failure> {
    // SAFETY: getuid(2) cannot fail. (`--user`, not `--me`, which older Slurm lacks.)
    let uid = unsafe { libc::getuid() };
    let args = vec![
        format!("--user={uid}"),
        "--noheader".into(),
        format!("--Format={FORMAT}"),
    ];
    command::run("squeue", &args, command::QUERY_TIMEOUT).map(|out| parse_squeue(&out))
}

/// Jobs of any state named `name` (to find a submission whose id was never saved).
pub fn by_name(name: &str) -> Result<Vec<Queued>, Failure> {
    let args = vec![
        "--noheader".into(),
        "--states=all".into(),
        format!("--name={name}"),
        format!("--Format={FORMAT}"),
    ];
    command::run("squeue", &args, command::QUERY_TIMEOUT).map(|out| parse_squeue(&out))
}

pub fn parse_squeue(text: &str) -> Vec<Queued> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.splitn(7, '|').collect();
            let [id, state, reason, node, comment, name, workdir] = f[..] else {
                return None;
            };
            let (id, state, reason, node, comment, name) = (
                id.trim(),
                state.trim(),
                reason.trim(),
                node.trim(),
                comment.trim(),
                name.trim(),
            );
            Some(Queued {
                id: id.into(),
                state: state.into(),
                reason: reason.into(),
                node: node.into(),
                comment: comment.into(),
                name: name.into(),
                // squeue pads the last field; a directory's own trailing spaces are lost with it.
                workdir: workdir.trim_end().into(),
            })
        })
        .collect()
}

/// A job as `scontrol -o show job` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub state: String,
    pub reason: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub node: String,
}

/// `None` when Slurm does not know the job (any more).
pub fn show(id: &str) -> Result<Option<Shown>, Failure> {
    let args = vec!["-o".into(), "show".into(), "job".into(), id.to_string()];
    match command::run("scontrol", &args, command::QUERY_TIMEOUT) {
        Ok(out) => Ok(parse_show(&out)),
        Err(Failure::Refused(m)) if m.contains("Invalid job id") => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn parse_show(text: &str) -> Option<Shown> {
    let line = text.lines().find(|l| l.contains("JobState="))?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_default()
            .to_string()
    };
    let exit = field("ExitCode");
    let (code, signal) = exit.split_once(':').unwrap_or((&exit, "0"));
    let (code, signal) = (code.parse::<i32>().ok(), signal.parse::<i32>().unwrap_or(0));
    let node = match field("NodeList").as_str() {
        "(null)" | "" => field("BatchHost"),
        n => n.to_string(),
    };
    Some(Shown {
        state: field("JobState"),
        reason: field("Reason"),
        // A signal means the code is meaningless (0).
        code: if signal != 0 { None } else { code },
        signal: (signal != 0).then_some(signal),
        node,
    })
}

/// How an ended job went, as the scheduler types it. `cancelled_by_us`: this sweep ran
/// scancel on it (Ctrl-C, `--job-timeout`); `wrote_output`: its `slurm-<id>.out` is in the
/// job dir, which a node that shares the directory always creates.
pub fn outcome(job: &Shown, cancelled_by_us: bool, wrote_output: bool) -> Outcome {
    match job.state.as_str() {
        "COMPLETED" => Outcome::Done,
        "FAILED" if job.code == Some(NOT_SHARED) || !wrote_output => {
            Outcome::Failed(FailureCause::NotShared {
                node: job.node.clone(),
            })
        }
        "FAILED" => match Outcome::from_exit(job.code, job.signal) {
            // The worker checkpointed and stopped on a signal nobody here sent: Slurm's doing.
            Outcome::Interrupted => Outcome::Failed(FailureCause::Preempted),
            other => other,
        },
        "TIMEOUT" | "DEADLINE" => Outcome::Failed(FailureCause::Timeout),
        "OUT_OF_MEMORY" => Outcome::Failed(FailureCause::OutOfMemory),
        "NODE_FAIL" | "BOOT_FAIL" => Outcome::Failed(FailureCause::NodeFailure),
        "PREEMPTED" => Outcome::Failed(FailureCause::Preempted),
        "CANCELLED" if cancelled_by_us => Outcome::Interrupted,
        "CANCELLED" if job.reason == "DependencyNeverSatisfied" => {
            Outcome::Failed(FailureCause::DependencyFailed)
        }
        _ => Outcome::Failed(FailureCause::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(state: &str, reason: &str, exit: &str) -> Shown {
        parse_show(&format!("JobId=7 JobName=sweep-x JobState={state} Reason={reason} Dependency=(null) ExitCode={exit} RunTime=00:00:02 NodeList=node3 BatchHost=node3 Comment=sweep:a b c")).unwrap()
    }

    #[test]
    fn scontrol_lines_are_parsed() {
        let s = shown("FAILED", "NonZeroExitCode", "3:0");
        assert_eq!(
            s,
            Shown {
                state: "FAILED".into(),
                reason: "NonZeroExitCode".into(),
                code: Some(3),
                signal: None,
                node: "node3".into()
            }
        );
        let s = shown("FAILED", "JobLaunchFailure", "0:9");
        assert_eq!((s.code, s.signal), (None, Some(9)));
        assert_eq!(
            parse_show("slurm_load_jobs error: Invalid job id specified"),
            None
        );
    }

    #[test]
    fn slurm_states_map_to_typed_outcomes() {
        use FailureCause::*;
        let cases: Vec<(Shown, bool, Outcome)> = vec![
            (shown("COMPLETED", "None", "0:0"), false, Outcome::Done),
            (
                shown("FAILED", "NonZeroExitCode", "1:0"),
                false,
                Outcome::Failed(Crash {
                    code: Some(1),
                    signal: None,
                }),
            ),
            (
                shown("FAILED", "NonZeroExitCode", "3:0"),
                false,
                Outcome::Diverged,
            ),
            (
                shown("FAILED", "NonZeroExitCode", "4:0"),
                false,
                Outcome::Failed(BadConfig),
            ),
            (
                shown("FAILED", "NonZeroExitCode", "5:0"),
                false,
                Outcome::Failed(OutOfMemory),
            ),
            (
                shown("FAILED", "JobLaunchFailure", "0:9"),
                false,
                Outcome::Failed(Crash {
                    code: None,
                    signal: Some(9),
                }),
            ),
            (
                shown("FAILED", "NonZeroExitCode", "130:0"),
                false,
                Outcome::Failed(Preempted),
            ),
            (
                shown("FAILED", "NonZeroExitCode", "97:0"),
                false,
                Outcome::Failed(NotShared {
                    node: "node3".into(),
                }),
            ),
            (
                shown("TIMEOUT", "TimeLimit", "0:15"),
                false,
                Outcome::Failed(Timeout),
            ),
            (
                shown("DEADLINE", "None", "0:0"),
                false,
                Outcome::Failed(Timeout),
            ),
            (
                shown("OUT_OF_MEMORY", "OutOfMemory", "0:125"),
                false,
                Outcome::Failed(OutOfMemory),
            ),
            (
                shown("NODE_FAIL", "NodeDown", "0:0"),
                false,
                Outcome::Failed(NodeFailure),
            ),
            (
                shown("BOOT_FAIL", "None", "0:0"),
                false,
                Outcome::Failed(NodeFailure),
            ),
            (
                shown("PREEMPTED", "None", "0:15"),
                false,
                Outcome::Failed(Preempted),
            ),
            (
                shown("CANCELLED", "None", "0:15"),
                true,
                Outcome::Interrupted,
            ),
            (
                shown("CANCELLED", "None", "0:15"),
                false,
                Outcome::Failed(Cancelled),
            ),
            (
                shown("CANCELLED", "DependencyNeverSatisfied", "0:0"),
                false,
                Outcome::Failed(DependencyFailed),
            ),
        ];
        for (i, (job, ours, want)) in cases.into_iter().enumerate() {
            assert_eq!(outcome(&job, ours, true), want, "case {i}: {job:?}");
        }
        // A failed job that left no output file here ran where this directory is not.
        assert_eq!(
            outcome(&shown("FAILED", "JobLaunchFailure", "0:0"), false, false),
            Outcome::Failed(NotShared {
                node: "node3".into()
            })
        );
    }

    #[test]
    fn phases() {
        assert_eq!(phase("PENDING"), Phase::Queued);
        assert_eq!(phase("RUNNING"), Phase::Running);
        assert_eq!(phase("COMPLETING"), Phase::Running);
        assert_eq!(phase("TIMEOUT"), Phase::Ended);
        assert_eq!(phase("SOMETHING_NEW"), Phase::Running);
    }

    #[test]
    fn squeue_lines_are_parsed_with_the_directory_last() {
        let q = parse_squeue("12|RUNNING|None|node1|sweep:tok|sweep-ab|/x |y|  \n13|PENDING|Dependency||(null)|wrap|/\nbad line\n");
        assert_eq!(q.len(), 2);
        assert_eq!(
            q[0],
            Queued {
                id: "12".into(),
                state: "RUNNING".into(),
                reason: "None".into(),
                node: "node1".into(),
                comment: "sweep:tok".into(),
                name: "sweep-ab".into(),
                workdir: "/x |y|".into()
            }
        );
        assert_eq!(q[1].reason, "Dependency");
    }
}
