//! Pending reasons that never pass. Slurm keeps a job it can never run (asking for more than
//! its partition allows, a constraint no node has, an invalid account) pending for ever,
//! with a reason code, instead of refusing it. The watcher asks here what a job's reason
//! means; a hopeless one stops the sweep with one error that names the setting to change.
//!
//! Transient reasons (`Priority`, `Resources`, `Dependency`, group limits such as
//! `QOSGrpCpuLimit` or `AssocMaxJobsLimit`, a held job, a down partition) pass by themselves
//! or by someone's hand and are only reported. `ReqNodeNotAvail` and `NodeDown` are hopeless
//! only while no node of the job's partition is up: nodes may come back, so the watcher asks
//! `sinfo` and waits longer before it decides.

use std::collections::BTreeMap;
use std::time::Duration;

use super::command;

/// What a pending reason says about the job's future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It waits its turn, or for something that ends or that someone ends.
    Transient,
    /// It can never start as submitted: change the named setting.
    Never(&'static str),
    /// It waits for nodes that are not available: hopeless when none of its partition is up.
    NodesDown(&'static str),
}

/// How long a hopeless reason must stay before the sweep acts on it: reasons are set by the
/// scheduler's pass and a reconfigured controller may change them, and nodes may be
/// restarting (a slurmd that does not answer for a moment).
pub const HOLD_NEVER: Duration = Duration::from_secs(10);
pub const HOLD_NODES: Duration = Duration::from_secs(30);

const RESOURCES: &str = "--cpus-per-job, --gpus-per-job or --mem (executor.cpus_per_job, gpus_per_job, mem), or --partition";
const TIME: &str = "--time (executor.time), or --partition";
const NODES: &str = "--partition, or the nodes named in --sbatch-arg (executor.sbatch_args)";

/// The verdict on a reason as squeue shows it (`ReqNodeNotAvail, UnavailableNodes:n[1-3]`).
pub fn verdict(reason: &str) -> Verdict {
    match code(reason) {
        "PartitionConfig" => Verdict::Never(RESOURCES),
        "PartitionTimeLimit" => Verdict::Never(TIME),
        "PartitionNodeLimit" => {
            Verdict::Never("--partition, or the node count in --sbatch-arg (executor.sbatch_args)")
        }
        "BadConstraints" => {
            Verdict::Never("the --constraint in --sbatch-arg (executor.sbatch_args)")
        }
        "InvalidAccount" => Verdict::Never("--account (executor.account)"),
        "InvalidQOS" => Verdict::Never("--qos (executor.qos)"),
        "ReqNodeNotAvail" | "NodeDown" => Verdict::NodesDown(NODES),
        // What squeue shows for ReqNodeNotAvail when the nodes are down or drained.
        _ if reason.starts_with("Nodes required for job are DOWN") => Verdict::NodesDown(NODES),
        // Per-job limits of a QOS or an association (`QOSMaxCpuPerJobLimit`,
        // `AssocMaxWallDurationPerJobLimit`, `QOSMinGRES`); per-user and group limits
        // (`QOSMaxCpuPerUserLimit`, `QOSGrpMemLimit`) pass as other jobs end.
        c if ((c.starts_with("QOSMax") || c.starts_with("AssocMax")) && c.contains("PerJob"))
            || c.starts_with("QOSMin") =>
        {
            Verdict::Never(limit_setting(c))
        }
        _ => Verdict::Transient,
    }
}

/// The reason's code, without the nodes squeue may add after it.
fn code(reason: &str) -> &str {
    reason
        .split([',', ' ', '('])
        .next()
        .unwrap_or(reason)
        .trim()
}

/// The setting a per-job QOS or association limit is about.
fn limit_setting(code: &str) -> &'static str {
    if code.contains("WallDuration") {
        "--time (executor.time), or --qos"
    } else if code.contains("Cpu") {
        "--cpus-per-job (executor.cpus_per_job), or --qos"
    } else if code.contains("GRES") || code.contains("Gres") {
        "--gpus-per-job (executor.gpus_per_job), or --qos"
    } else if code.contains("Mem") {
        "--mem (executor.mem), or --qos"
    } else {
        "--qos or --account (executor.qos, executor.account)"
    }
}

/// `Key=Value` fields of one `scontrol -o show` line (values without spaces only).
pub fn fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What the job asks for beside what its partition allows, for the limits the reason is
/// about: `(it asks for TimeLimit=00:05:00; partition short has MaxTime=00:01:00)`.
pub fn detail(
    reason: &str,
    job: &BTreeMap<String, String>,
    partition: &BTreeMap<String, String>,
) -> String {
    let (asks, limits): (&[&str], &[&str]) = match (verdict(reason), code(reason)) {
        (Verdict::Transient, _) => return String::new(),
        (_, "PartitionTimeLimit") => (&["TimeLimit"], &["MaxTime"]),
        (_, "PartitionConfig") => (
            &["NumCPUs", "MinMemoryNode", "MinMemoryCPU", "TresPerNode"],
            &[
                "MaxCPUsPerNode",
                "MaxMemPerNode",
                "MaxMemPerCPU",
                "MaxNodes",
            ],
        ),
        (_, "PartitionNodeLimit" | "BadConstraints" | "ReqNodeNotAvail" | "NodeDown") => {
            (&["NumNodes", "Features"], &["MaxNodes", "MinNodes"])
        }
        // A QOS or association limit: what the job asks for (the limit is not ours to read).
        _ => (
            &["NumCPUs", "TimeLimit", "MinMemoryNode", "TresPerNode"],
            &[],
        ),
    };
    let pick = |map: &BTreeMap<String, String>, keys: &[&str]| -> Vec<String> {
        keys.iter()
            .filter_map(|k| {
                let v = map.get(*k)?;
                let unset = v.is_empty() || v == "(null)" || v == "UNLIMITED" || v == "0";
                (!unset).then(|| format!("{k}={v}"))
            })
            .collect()
    };
    let (asks, limits) = (pick(job, asks), pick(partition, limits));
    let name = partition.get("PartitionName").map(String::as_str);
    match (asks.is_empty(), limits.is_empty(), name) {
        (false, false, Some(p)) => format!(
            " (it asks for {}; partition {p} has {})",
            asks.join(" "),
            limits.join(" ")
        ),
        (false, _, _) => format!(" (it asks for {})", asks.join(" ")),
        _ => String::new(),
    }
}

/// Whether some node of `partition` is up: in a state that starts jobs, and answering.
pub fn some_node_up(sinfo_states: &str) -> bool {
    sinfo_states.lines().map(str::trim).any(|s| {
        // A trailing `*` is a node that does not answer; `~` powered off, `#` powering up,
        // `%` powering down, `!` pending power down: none runs a job soon.
        let base = s.trim_end_matches(['$', '@', '^', '-', '+']);
        let usable = base.trim_end_matches(['*', '~', '#', '%', '!']) == base;
        usable
            && matches!(
                base,
                "idle"
                    | "mix"
                    | "mixed"
                    | "alloc"
                    | "allocated"
                    | "comp"
                    | "completing"
                    | "resv"
                    | "reserved"
                    | "plnd"
                    | "planned"
            )
    })
}

/// The one-line account of a job that can never start, with what Slurm says of the job and
/// its partition (asked once, when the sweep stops; a question Slurm does not answer only
/// leaves the detail out).
pub fn explain(job: &str, slurm_id: &str, reason: &str, change: &str) -> String {
    let ask = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        command::run("scontrol", &args, command::QUERY_TIMEOUT)
            .map(|t| fields(&t))
            .unwrap_or_default()
    };
    let shown = ask(&["-o", "show", "job", slurm_id]);
    let partition = shown
        .get("Partition")
        .map(|p| ask(&["-o", "show", "partition", p]))
        .unwrap_or_default();
    format!(
        "slurm job {slurm_id} (job {job}) can never start as requested: Slurm keeps it pending with reason {reason}{}; change {change}",
        detail(reason, &shown, &partition)
    )
}

/// Whether a job waiting for nodes has any to wait for: one node of its partition is up.
/// Slurm not answering is no verdict (the nodes count as up).
pub fn nodes_up(slurm_id: &str) -> bool {
    let args: Vec<String> = ["-o", "show", "job", slurm_id]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let Ok(text) = command::run("scontrol", &args, command::QUERY_TIMEOUT) else {
        return true;
    };
    let mut sinfo: Vec<String> = ["--noheader", "-N", "-o", "%t"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(p) = fields(&text).get("Partition") {
        sinfo.push(format!("--partition={p}"));
    }
    command::run("sinfo", &sinfo, command::QUERY_TIMEOUT).map_or(true, |s| some_node_up(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_sorted_into_transient_and_hopeless() {
        for transient in [
            "None",
            "Priority",
            "Resources",
            "Dependency",
            "BeginTime",
            "JobHeldUser",
            "JobHeldAdmin",
            "PartitionDown",
            "QOSGrpCpuLimit",
            "QOSMaxCpuPerUserLimit",
            "QOSMaxJobsPerUserLimit",
            "AssocMaxJobsLimit",
            "AssocGrpGRES",
            "Reservation",
            "Licenses",
            "",
        ] {
            assert_eq!(verdict(transient), Verdict::Transient, "{transient}");
        }
        assert_eq!(verdict("PartitionTimeLimit"), Verdict::Never(TIME));
        assert_eq!(verdict("PartitionConfig"), Verdict::Never(RESOURCES));
        assert!(
            matches!(verdict("BadConstraints"), Verdict::Never(s) if s.contains("--constraint"))
        );
        assert!(
            matches!(verdict("QOSMaxCpuPerJobLimit"), Verdict::Never(s) if s.starts_with("--cpus-per-job"))
        );
        assert!(
            matches!(verdict("AssocMaxWallDurationPerJobLimit"), Verdict::Never(s) if s.starts_with("--time"))
        );
        assert!(
            matches!(verdict("QOSMaxGRESPerJob"), Verdict::Never(s) if s.starts_with("--gpus-per-job"))
        );
        assert!(
            matches!(verdict("QOSMaxMemoryPerJob"), Verdict::Never(s) if s.starts_with("--mem"))
        );
        assert!(
            matches!(verdict("QOSMinGRES"), Verdict::Never(s) if s.starts_with("--gpus-per-job"))
        );
        assert!(
            matches!(verdict("InvalidAccount"), Verdict::Never(s) if s.starts_with("--account"))
        );
        assert_eq!(
            verdict("ReqNodeNotAvail, UnavailableNodes:node[1-3]"),
            Verdict::NodesDown(NODES)
        );
        assert_eq!(
            verdict("Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions"),
            Verdict::NodesDown(NODES)
        );
    }

    #[test]
    fn the_detail_sets_the_request_beside_the_partitions_limit() {
        let job = fields("JobId=7 JobName=sweep-a Partition=short TimeLimit=00:05:00 NumCPUs=4 NumNodes=1 MinMemoryNode=100M TresPerNode=(null) WorkDir=/x y");
        let part = fields("PartitionName=short MaxNodes=UNLIMITED MaxTime=00:01:00 MaxCPUsPerNode=2 MaxMemPerNode=UNLIMITED\n");
        assert_eq!(
            detail("PartitionTimeLimit", &job, &part),
            " (it asks for TimeLimit=00:05:00; partition short has MaxTime=00:01:00)"
        );
        assert_eq!(
            detail("PartitionConfig", &job, &part),
            " (it asks for NumCPUs=4 MinMemoryNode=100M; partition short has MaxCPUsPerNode=2)"
        );
        assert_eq!(
            detail("PartitionConfig", &job, &BTreeMap::new()),
            " (it asks for NumCPUs=4 MinMemoryNode=100M)"
        );
        assert_eq!(detail("Priority", &job, &part), "");
    }

    #[test]
    fn a_node_is_up_when_it_answers_and_takes_jobs() {
        assert!(some_node_up("down*\nidle\n"));
        assert!(some_node_up("mix-\n"));
        assert!(some_node_up("alloc\n"));
        assert!(!some_node_up("down*\ndrain\nidle*\nidle~\nfail\n"));
        assert!(!some_node_up(""));
    }
}
