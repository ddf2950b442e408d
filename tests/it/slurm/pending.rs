//! A job Slurm keeps pending for ever (its request is over a partition's limit, which sbatch
//! lets through) stops the sweep within a minute: one error naming the setting, nothing of the
//! sweep left in Slurm, finished results kept; a rerun with a fitting request finishes it.

use std::time::{Duration, Instant};

use super::{json, plan_ids};
use crate::util::{run, temp_dir, write};

#[test]
fn a_job_slurm_never_starts_stops_the_sweep_and_a_fitting_rerun_finishes_it() {
    let Some((c, _use)) = super::cluster::with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-pending");
    // Partition `small` allows one minute per job (see tests/slurm/slurm.conf.in).
    let spec = |seeds: &str| {
        write(
            &dir,
            "p.yaml",
            &format!("name: pending\nbase: {{fake: {{iterations: 3, millis_per_iteration: 20}}}}\nseeds: [{seeds}]\n\
                      executor: {{kind: slurm, partition: small, gpus_per_job: 0, cpus_per_job: 1}}\ntable: {{metrics: [AP]}}\n"),
        )
    };
    let out = dir.join("out");
    let (code, _, err) = run(c
        .sweep()
        .arg("run")
        .arg(spec("0"))
        .arg("--out")
        .arg(&out)
        .args(["--time", "1"]));
    assert_eq!(code, 0, "{err}");
    let done = out.join("jobs").join(&plan_ids(&out)["pending"]);
    let result = std::fs::read(done.join("result.json")).unwrap();

    // Three more seeds, asking for five minutes: sbatch takes them, Slurm never starts them.
    let spec = spec("0, 1, 2, 3");
    let started = Instant::now();
    let (code, _, err) = run(c
        .sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--time", "5"]));
    let took = started.elapsed();
    assert_eq!(code, 2, "{err}");
    assert!(
        took < Duration::from_secs(60),
        "stopped after {took:?}: {err}"
    );
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
    assert!(
        errors[0].starts_with("sweep: error: ")
            && errors[0].contains("can never start as requested")
            && errors[0].contains("reason PartitionTimeLimit")
            && errors[0].contains("partition small has MaxTime=00:01:00")
            && errors[0].contains("change --time (executor.time)")
            && errors[0].contains("cancelled the 3 job(s)"),
        "{}",
        errors[0]
    );
    let states: Vec<String> = c
        .records(&out)
        .into_values()
        .flatten()
        .map(|r| r["JobState"].clone())
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "CANCELLED").count(),
        3,
        "nothing of the sweep is left queued: {states:?}"
    );
    assert_eq!(states.len(), 4, "{states:?}");
    // The stop is in the events, with the time from submission to it.
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let submitted = events
        .iter()
        .rfind(|e| e["state"] == "running")
        .expect("a submission")["at"]
        .as_f64()
        .unwrap();
    let stopped = events
        .iter()
        .find(|e| e["state"] == "unservable")
        .expect("the stop is recorded");
    assert_eq!(stopped["reason"], "PartitionTimeLimit", "{stopped}");
    eprintln!(
        "slurm pending: the sweep stopped {:.1} s after its last submission ({:.1} s in all)",
        stopped["at"].as_f64().unwrap() - submitted,
        took.as_secs_f64()
    );
    assert_eq!(
        std::fs::read(done.join("result.json")).unwrap(),
        result,
        "the finished job is untouched"
    );
    let record = json(&done.join("slurm.json"));
    assert_eq!(record["settled"], true);

    let (code, _, err) = run(c
        .sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--time", "1"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 of 4 jobs already done"), "{err}");
    let (_, stdout, _) = run(c.sweep().arg("status").arg(&out).arg("--json"));
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["counts"]["done"], 4, "{status}");
}
