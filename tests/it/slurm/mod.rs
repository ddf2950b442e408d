//! The Slurm executor against a real slurmctld and slurmd (started by `tests/slurm/start.sh`
//! on a private one-node config with two fake GPUs, shared by these tests, stopped by the
//! last of them and, whatever happens, by a watchdog when this process exits). Every job is a
//! `fake` job: these tests exercise submission, following, typing, detaching and resuming,
//! not training.
//!
//! In CI (root, Debian) the harness installs slurm-wlm when it is missing and a failure to do
//! so fails the tests. Elsewhere, without root, the cluster tests print why and pass.

mod cluster;
mod paths;
mod pending;
mod record;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{plan_rows, run, start_run, sweep, temp_dir, write};
use cluster::{with_cluster, Cluster};

/// The tests below that use the cluster; the last one to finish stops it.
const CLUSTER_TESTS: usize = 12;

fn json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
    )
    .expect("valid JSON")
}

/// Row -> job id (for sweeps with one seed per row).
fn plan_ids(out: &Path) -> BTreeMap<String, String> {
    plan_rows(out).into_iter().collect()
}

/// Every distinct job id of the sweep.
fn job_ids(out: &Path) -> std::collections::BTreeSet<String> {
    json(&out.join("plan.json"))["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

fn table(out: &Path, name: &str) -> String {
    std::fs::read_to_string(out.join("tables").join(format!("{name}.md")))
        .expect("the sweep wrote its table")
}

/// The same spec run here with the local executor: the reference for Slurm's table.
fn local_table(spec: &Path, dir: &Path, name: &str) -> String {
    let out = dir.join("local");
    let (code, _, err) = run(sweep()
        .arg("run")
        .arg(spec)
        .arg("--out")
        .arg(&out)
        .args(["--executor", "local"]));
    assert_eq!(code, 0, "{err}");
    table(&out, name)
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within 90 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each job of the sweep was submitted exactly once, and Slurm ran it to COMPLETED.
fn assert_submitted_once(c: &Cluster, out: &Path) {
    let records = c.records(out);
    let ids = job_ids(out);
    assert_eq!(
        records.len(),
        ids.len(),
        "one Slurm job name per sweep job: {records:?}"
    );
    for id in &ids {
        let r = &records[&format!("sweep-{id}")];
        assert_eq!(
            r.len(),
            1,
            "job {id} was submitted {} times: {r:?}",
            r.len()
        );
        assert_eq!(r[0]["JobState"], "COMPLETED", "{r:?}");
    }
}

#[test]
fn a_request_no_node_can_serve_is_refused_before_anything_is_submitted() {
    let Some((c, _use)) = with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-misfit");
    let text = "name: misfit\nbase: {fake: {iterations: 2}}\nseeds: [0]\n\
                executor: {kind: slurm, gpus_per_job: 1, cpus_per_job: 1, mem: 100M}\n";
    let spec = write(&dir, "misfit.yaml", text);
    let out = dir.join("out");
    // The test node has 8 CPUs and 2 GPUs.
    for (flag, value, names) in [
        (
            "--cpus-per-job",
            "16",
            "largest node has 8: lower --cpus-per-job",
        ),
        (
            "--gpus-per-job",
            "3",
            "most a node has is 2: lower --gpus-per-job",
        ),
    ] {
        let started = Instant::now();
        let (code, _, err) = run(c
            .sweep()
            .arg("run")
            .arg(&spec)
            .arg("--out")
            .arg(&out)
            .args([flag, value]));
        assert_eq!(code, 2, "{err}");
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("sweep: error"))
            .collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].contains(names), "{}", errors[0]);
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    assert!(c.records(&out).is_empty(), "something was submitted");
}

#[test]
fn a_sweep_runs_on_slurm_on_both_gpus_and_tables_as_a_local_run() {
    let Some((c, _use)) = with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-e2e");
    let text = "name: e2e\nbase: {fake: {iterations: 15, millis_per_iteration: 100}}\nseeds: [0, 1, 2, 3]\n\
                executor: {kind: slurm, gpus_per_job: 1, cpus_per_job: 1, mem: 100M}\ntable: {metrics: [AP]}\n";
    let spec = write(&dir, "e2e.yaml", text);
    let out = dir.join("out");
    // Relative paths, as a user types them: the nodes still get absolute ones.
    let (code, stdout, err) = run(c
        .sweep()
        .current_dir(&dir)
        .args(["run", "e2e.yaml", "--out", "out"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Slurm (1 GPU and 1 CPU per job, mem 100M)"),
        "{err}"
    );
    assert!(stdout.contains("| e2e |"), "{stdout}");
    let mut gpus = std::collections::BTreeSet::new();
    let ids = job_ids(&out);
    assert_eq!(ids.len(), 4);
    for id in &ids {
        let job = out.join("jobs").join(id);
        assert_eq!(json(&job.join("result.json"))["status"], "done");
        let log = std::fs::read_to_string(job.join("train.log")).unwrap();
        let started: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
        assert!(
            started["slurm_job"]
                .as_str()
                .unwrap()
                .ends_with("on sweepnode"),
            "{started}"
        );
        gpus.insert(started["visible_gpus"].as_str().unwrap().to_string());
        let record = json(&job.join("slurm.json"));
        assert_eq!(record["settled"], true, "{record}");
    }
    assert_eq!(
        gpus.into_iter().collect::<Vec<_>>(),
        ["0", "1"],
        "each worker saw the GPU Slurm gave it, and both were used"
    );
    assert_submitted_once(c, &out);
    let r = &c.records(&out).into_values().next().unwrap()[0];
    assert_eq!(
        (
            r["TresPerNode"].as_str(),
            r["MinMemoryNode"].as_str(),
            r["NumCPUs"].as_str()
        ),
        ("gres:gpu:1", "100M", "1"),
        "{r:?}"
    );
    assert_eq!(table(&out, "e2e"), local_table(&spec, &dir, "e2e"));
}

#[test]
fn failures_on_slurm_are_typed_from_slurm_and_the_worker() {
    let Some((c, _use)) = with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-failures");
    // A one-minute time limit: Slurm enforces it within about 30 s after (the slowest test).
    let text = "name: failures\nbase: {fake: {iterations: 6, millis_per_iteration: 50, at_iteration: 2}}\n\
                variants:\n  - {name: ok}\n  - {name: broken, set: {fake.outcome: crash}}\n  - {name: oom, set: {fake.outcome: oom}}\n  - {name: stuck, set: {fake.outcome: hang}}\n\
                executor: {kind: slurm, gpus_per_job: 0, cpus_per_job: 1, time: 1}\ntable: {metrics: [AP]}\n";
    let spec = write(&dir, "f.yaml", text);
    let out = dir.join("out");
    let (code, stdout, err) = run(c
        .sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--retries", "0"]));
    assert_eq!(code, 1, "a failed job makes exit code 1: {err}");
    let ids = plan_ids(&out);
    let state = |row: &str| json(&out.join("jobs").join(&ids[row]).join("state.json"));
    assert_eq!(state("broken")["cause"], "crash");
    assert!(
        state("broken")["message"]
            .as_str()
            .unwrap()
            .contains("scripted crash at iteration 2"),
        "{}",
        state("broken")
    );
    assert_eq!(state("oom")["cause"], "out_of_memory");
    assert_eq!(state("stuck")["cause"], "timeout");
    assert!(
        stdout.contains("| broken | failed (crash) |")
            && stdout.contains("| oom | failed (out_of_memory) |")
            && stdout.contains("| stuck | failed (timeout) |"),
        "{stdout}"
    );
    // The timeout is Slurm's own (the time limit), the others the worker's exit codes.
    let records = c.records(&out);
    let slurm_state = |row: &str| records[&format!("sweep-{}", ids[row])][0]["JobState"].clone();
    assert_eq!(
        (
            slurm_state("ok"),
            slurm_state("broken"),
            slurm_state("stuck")
        ),
        ("COMPLETED".into(), "FAILED".into(), "TIMEOUT".into())
    );
    assert!(out
        .join("jobs")
        .join(&ids["ok"])
        .join("result.json")
        .exists());
}

#[test]
fn a_detached_sweep_runs_in_order_and_resume_follows_it_to_the_end() {
    let Some((c, _use)) = with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-detach");
    let text = "name: detach\nbase: {fake: {iterations: 15, millis_per_iteration: 100}}\n\
                variants:\n  - {name: finetune, init_from: pretrain}\n  - {name: pretrain}\n  - {name: scratch, set: {fake.iterations: 12}}\n\
                executor: {kind: slurm, gpus_per_job: 0, cpus_per_job: 1}\ntable: {metrics: [AP]}\n";
    let spec = write(&dir, "d.yaml", text);
    let out = dir.join("out");
    let (code, _, err) = run(c
        .sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .arg("--detach"));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 jobs queued or running in Slurm"), "{err}");
    let ids = plan_ids(&out);
    // Everything was submitted at once; the child waits in Slurm for its parent.
    let records = c.records(&out);
    assert_eq!(records.len(), 3, "{records:?}");
    let parent_id = json(&out.join("jobs").join(&ids["pretrain"]).join("slurm.json"))["slurm_id"]
        .as_str()
        .unwrap()
        .to_string();
    let child = &records[&format!("sweep-{}", ids["finetune"])][0];
    assert_eq!(
        child["Dependency"],
        format!("afterok:{parent_id}(unfulfilled)"),
        "{child:?}"
    );
    assert_eq!(child["JobState"], "PENDING");

    let (code, stdout, err) = run(c.sweep().arg("status").arg(&out).arg("--json"));
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    let jobs = status["jobs"].as_array().unwrap();
    let finetune = jobs.iter().find(|j| j["row"] == "finetune").unwrap();
    assert_eq!(
        (
            finetune["state"].as_str(),
            finetune["slurm"]["reason"].as_str()
        ),
        (Some("queued"), Some("Dependency")),
        "{status}"
    );
    assert!(
        jobs.iter().all(|j| j["slurm"]["id"].is_string()),
        "{status}"
    );

    let (code, _, err) = run(c.sweep().arg("resume").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("following it"),
        "resume adopts what is still queued: {err}"
    );
    assert_submitted_once(c, &out);
    let (_, stdout, _) = run(c.sweep().arg("status").arg(&out).arg("--json"));
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["counts"]["done"], 3, "{status}");
    // Same results as a local run, where the child starts after its parent finished.
    assert_eq!(table(&out, "detach"), local_table(&spec, &dir, "detach"));
}

#[test]
fn a_killed_orchestrator_is_resumed_without_submitting_a_job_twice() {
    let Some((c, _use)) = with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-kill");
    let text = "name: kill\nbase: {fake: {iterations: 20, millis_per_iteration: 100}}\nseeds: [0, 1, 2, 3]\n\
                executor: {kind: slurm, gpus_per_job: 0, cpus_per_job: 1}\ntable: {metrics: [AP]}\n";
    let spec = write(&dir, "k.yaml", text);
    let out = dir.join("out");
    let mut orchestrator = start_run(&mut c.sweep(), &spec, &out, Stdio::null());
    // Killed while the workers run in Slurm (one has made progress), some results possibly in.
    wait_for("a worker making progress", || {
        std::fs::read_dir(out.join("jobs"))
            .map(|d| {
                d.filter_map(|e| e.ok()).any(|e| {
                    std::fs::read_to_string(e.path().join("train.log"))
                        .is_ok_and(|l| l.contains("\"progress\""))
                })
            })
            .unwrap_or(false)
    });
    orchestrator.kill().unwrap();
    orchestrator.wait().unwrap();
    let (code, _, err) = run(c.sweep().arg("resume").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("following it") || err.contains("already done"),
        "{err}"
    );
    assert_submitted_once(c, &out);
    assert_eq!(table(&out, "kill"), local_table(&spec, &dir, "kill"));
}

#[test]
fn a_submission_slurm_forgot_is_made_again() {
    let Some((c, _use)) = with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-forgot");
    let text = "name: forgot\nbase: {fake: {iterations: 3, millis_per_iteration: 50}}\nexecutor: {kind: slurm, gpus_per_job: 0, cpus_per_job: 1}\n";
    let spec = write(&dir, "g.yaml", text);
    let out = dir.join("out");
    let (_, stdout, _) = run(sweep().arg("plan").arg(&spec).arg("--json"));
    let id = serde_json::from_str::<Value>(&stdout).unwrap()["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // As an earlier run would have left it: submitted as a job Slurm no longer knows.
    let job = out.join("jobs").join(&id);
    std::fs::create_dir_all(&job).unwrap();
    write(
        &job,
        "slurm.json",
        r#"{"token": "old", "slurm_id": "987654", "attempt": 1, "submitted_at": 0.0, "settled": false}"#,
    );
    let (code, _, err) = run(c.sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("slurm job 987654 is gone without a result; submitting it again"),
        "{err}"
    );
    let record = json(&job.join("slurm.json"));
    assert_eq!(record["earlier"], serde_json::json!(["987654"]), "{record}");
    assert_submitted_once(c, &out);
}

#[test]
fn a_request_slurm_refuses_is_one_clear_error_and_loses_nothing() {
    let Some((c, _use)) = with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-refused");
    let spec = write(&dir, "r.yaml", "name: refused\nbase: {fake: {iterations: 3, millis_per_iteration: 20}}\nseeds: [0]\ntable: {metrics: [AP]}\n");
    let out = dir.join("out");
    assert_eq!(
        run(c.sweep().arg("run").arg(&spec).arg("--out").arg(&out)).0,
        0
    );
    let done_id = plan_ids(&out)["refused"].clone();
    let result = std::fs::read(out.join("jobs").join(&done_id).join("result.json")).unwrap();
    // One more seed, on Slurm, asking for more GPUs than the cluster has.
    write(&dir, "r.yaml", "name: refused\nbase: {fake: {iterations: 3, millis_per_iteration: 20}}\nseeds: [0, 1]\ntable: {metrics: [AP]}\n");
    let (code, _, err) = run(c
        .sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args([
            "--executor",
            "slurm",
            "--gpus-per-job",
            "3",
            "--cpus-per-job",
            "1",
        ]));
    assert_eq!(code, 2, "{err}");
    // Refused before sbatch is asked: no node of the test cluster has 3 GPUs.
    assert!(
        err.contains("most a node has is 2: lower --gpus-per-job")
            && err.contains("nothing was submitted"),
        "{err}"
    );
    assert_eq!(err.matches("error:").count(), 1, "one error: {err}");
    assert_eq!(
        std::fs::read(out.join("jobs").join(&done_id).join("result.json")).unwrap(),
        result,
        "the finished job is untouched"
    );
    // Nothing of the refused run was kept; the same run with a fitting request finishes it.
    let (code, _, err) = run(c
        .sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args([
            "--executor",
            "slurm",
            "--gpus-per-job",
            "0",
            "--cpus-per-job",
            "1",
        ]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 of 2 jobs already done"), "{err}");
}

#[test]
fn ctrl_c_cancels_what_the_sweep_submitted() {
    let Some((c, _use)) = with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-sigint");
    let text = "name: sigint\nbase: {fake: {iterations: 100, millis_per_iteration: 100}}\nseeds: [0, 1, 2]\nexecutor: {kind: slurm, gpus_per_job: 0, cpus_per_job: 1}\n";
    let spec = write(&dir, "c.yaml", text);
    let out = dir.join("out");
    let child = start_run(&mut c.sweep(), &spec, &out, Stdio::piped());
    wait_for("three submissions", || c.records(&out).len() == 3);
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let states: Vec<String> = c
        .records(&out)
        .into_values()
        .flatten()
        .map(|r| r["JobState"].clone())
        .collect();
    assert!(
        states.iter().all(|s| s == "CANCELLED"),
        "nothing of this sweep is left in Slurm: {states:?}"
    );
    // Stopped by us, so not failures: each is pending, to be resumed.
    let (_, stdout, _) = run(c.sweep().arg("status").arg(&out).arg("--json"));
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert!(status["counts"].get("failed").is_none(), "{status}");
}

#[test]
fn executor_settings_are_checked_with_their_location() {
    let dir = temp_dir("slurm-spec");
    let spec = write(
        &dir,
        "s.yaml",
        "name: s\nbase: {fake: {iterations: 1}}\nexecutor:\n  kind: slurm\n  partion: gpu\n",
    );
    let (code, _, err) = run(sweep().arg("plan").arg(&spec));
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "s.yaml:5:3: executor: unknown field `partion`, expected one of `kind`, `partition`"
        ),
        "{err}"
    );
    let spec = write(
        &dir,
        "t.yaml",
        "name: t\nbase: {fake: {iterations: 1}}\nexecutor:\n  time: 1:2:3:4\n",
    );
    let (code, _, err) = run(sweep().arg("plan").arg(&spec));
    assert_eq!(code, 2);
    assert!(
        err.contains("t.yaml:4:3: executor.time: `1:2:3:4` is not a Slurm time; allowed: minutes"),
        "{err}"
    );
    let spec = write(&dir, "u.yaml", "name: u\nbase: {fake: {iterations: 1}}\n");
    let (code, _, err) = run(sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--detach"));
    assert_eq!(code, 2);
    assert!(err.contains("--detach needs the Slurm executor"), "{err}");
    let (code, _, err) = run(sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(dir.join("out"))
        .args(["--executor", "slurm", "--mem", "lots"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("--mem lots is not a Slurm memory size"),
        "{err}"
    );
}

/// The last cluster test stops the daemons: the count it goes by must be every one of them.
#[test]
fn the_cluster_test_count_is_every_cluster_test() {
    let users: usize = std::fs::read_dir(crate::util::repo().join("tests/it/slurm"))
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .map(|source| source.matches(concat!("with_cluster", "() else")).count())
        .sum();
    assert_eq!(users, CLUSTER_TESTS, "update CLUSTER_TESTS");
}
