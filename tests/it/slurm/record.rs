//! A damaged or lost `slurm.json` is its job's problem: moved aside and logged, and the job
//! found again in Slurm's queue (by its name and directory) or submitted again; never a
//! stopped sweep, never a job submitted twice while it still waits or runs.

use std::process::Stdio;

use serde_json::Value;

use super::{assert_submitted_once, job_ids, json, plan_ids, wait_for};
use crate::util::{run, start_run, temp_dir, write};

/// The `damaged` events of `events.jsonl`.
fn damage_events(out: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["state"] == "damaged")
        .collect()
}

fn truncate(path: &std::path::Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn records_damaged_or_deleted_between_runs_are_found_again_in_the_queue() {
    let Some((c, _use)) = super::cluster::with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-record");
    let text = "name: record\nbase: {fake: {iterations: 30, millis_per_iteration: 100}}\nseeds: [0, 1, 2]\n\
                executor: {kind: slurm, gpus_per_job: 0, cpus_per_job: 1}\ntable: {metrics: [AP]}\n";
    let spec = write(&dir, "r.yaml", text);
    let out = dir.join("out");
    let (code, _, err) = run(c
        .sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .arg("--detach"));
    assert_eq!(code, 0, "{err}");
    // While the three run in Slurm: one record torn, one deleted.
    let ids: Vec<String> = job_ids(&out).into_iter().collect();
    let torn = out.join("jobs").join(&ids[0]);
    let gone = out.join("jobs").join(&ids[1]);
    truncate(&torn.join("slurm.json"));
    std::fs::remove_file(gone.join("slurm.json")).unwrap();

    let (code, _, err) = run(c.sweep().arg("resume").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("{}: damaged: slurm.json: truncated", ids[0])),
        "{err}"
    );
    assert_eq!(
        err.matches("its slurm.json was lost; slurm job").count(),
        2,
        "both found in the queue: {err}"
    );
    assert_submitted_once(c, &out);
    let events = damage_events(&out);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["job"], ids[0].as_str());
    let aside = torn.join(events[0]["moved_to"].as_str().unwrap());
    assert!(aside.exists(), "kept for inspection: {}", aside.display());
    for job in [&torn, &gone] {
        assert_eq!(json(&job.join("slurm.json"))["settled"], true);
        assert!(job.join("result.json").exists());
    }
}

#[test]
fn a_record_torn_while_its_job_waits_is_written_again_and_the_sweep_finishes() {
    let Some((c, _use)) = super::cluster::with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-record-live");
    // The child waits in Slurm (afterok) while its parent runs for about six seconds.
    let text = "name: live\nbase: {fake: {iterations: 40, millis_per_iteration: 150}}\n\
                variants:\n  - {name: pretrain}\n  - {name: finetune, init_from: pretrain, set: {fake.iterations: 3}}\n\
                executor: {kind: slurm, gpus_per_job: 0, cpus_per_job: 1}\ntable: {metrics: [AP]}\n";
    let spec = write(&dir, "l.yaml", text);
    let out = dir.join("out");
    let child = start_run(&mut c.sweep(), &spec, &out, Stdio::piped());
    let mut finetune = None;
    wait_for("the child's submission", || {
        if !out.join("plan.json").exists() {
            return false;
        }
        let id = plan_ids(&out)["finetune"].clone();
        let record = out.join("jobs").join(&id).join("slurm.json");
        let submitted = std::fs::read(&record)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|r| r["slurm_id"].is_string());
        finetune = Some(id);
        submitted
    });
    let finetune = finetune.unwrap();
    truncate(&out.join("jobs").join(&finetune).join("slurm.json"));
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("{finetune}: damaged: slurm.json: truncated")),
        "{err}"
    );
    let events = damage_events(&out);
    assert!(
        events
            .iter()
            .any(|e| e["job"] == finetune.as_str() && e["file"] == "slurm.json"),
        "{events:?}"
    );
    let (_, stdout, _) = run(c.sweep().arg("status").arg(&out).arg("--json"));
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["counts"]["done"], 2, "{status}");
}
