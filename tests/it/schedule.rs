//! The scheduler with `fake` jobs (no libtorch start-up): outcomes and retries, placement on
//! simulated and NVML-reported GPUs, the DAG, the lock, torn journal lines, Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{plan_rows, run, start_run, sweep, temp_dir, write};

fn events(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn count(out: &Path, job: &str, state: &str) -> usize {
    events(out)
        .iter()
        .filter(|e| e["job"] == job && e["state"] == state)
        .count()
}

fn id_of(out: &Path, row: &str) -> String {
    plan_rows(out)
        .into_iter()
        .find(|(r, _)| r == row)
        .unwrap()
        .1
}

const OUTCOMES: &str = r#"name: outcomes
base: {fake: {iterations: 6, millis_per_iteration: 5, at_iteration: 3}}
variants:
  - {name: ok}
  - {name: flaky, set: {fake.outcome: crash, fake.fail_attempts: 1}}
  - {name: broken, set: {fake.outcome: crash}}
  - {name: oom, set: {fake.outcome: oom}}
  - {name: nan, set: {fake.outcome: diverge}}
table: {metrics: [AP]}
"#;

#[test]
fn outcomes_are_typed_retried_and_tabled() {
    let dir = temp_dir("outcomes");
    let spec = write(&dir, "o.yaml", OUTCOMES);
    let out = dir.join("out");
    let (code, stdout, err) = run(sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--retries", "1"]));
    assert_eq!(code, 1, "a failed job makes exit code 1: {err}");
    // flaky: crashed once, retried, done; broken: crashed twice (1 + 1 retry), failed.
    assert_eq!(count(&out, &id_of(&out, "flaky"), "running"), 2);
    assert_eq!(count(&out, &id_of(&out, "flaky"), "done"), 1);
    assert_eq!(count(&out, &id_of(&out, "broken"), "running"), 2);
    // OOM on the CPU is not retried (no GPU to have to itself); divergence never is.
    assert_eq!(count(&out, &id_of(&out, "oom"), "running"), 1);
    assert_eq!(count(&out, &id_of(&out, "nan"), "running"), 1);
    let state: Value = serde_json::from_slice(
        &std::fs::read(
            out.join("jobs")
                .join(id_of(&out, "broken"))
                .join("state.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(state["state"], "failed");
    assert_eq!(state["cause"], "crash");
    assert!(
        state["message"]
            .as_str()
            .unwrap()
            .contains("scripted crash at iteration 3"),
        "{state}"
    );
    assert!(stdout.contains("| nan | diverged@3 |"), "{stdout}");
    assert!(
        stdout.contains("| oom | failed (out_of_memory) |"),
        "{stdout}"
    );
    assert!(stdout.contains("| broken | failed (crash) |"), "{stdout}");
    assert!(err.contains("FAILED"), "{err}");
}

#[test]
fn a_job_past_its_timeout_is_stopped_retried_and_failed() {
    let dir = temp_dir("timeout");
    let spec = write(&dir, "t.yaml", "name: t\nbase: {fake: {iterations: 5, millis_per_iteration: 5, at_iteration: 1, outcome: hang}}\n");
    let out = dir.join("out");
    let (code, stdout, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out).args([
        "--job-timeout",
        "0.5",
        "--retries",
        "1",
    ]));
    assert_eq!(code, 1, "{err}");
    let id = &plan_rows(&out)[0].1;
    assert_eq!(count(&out, id, "running"), 2, "one retry after the timeout");
    assert!(stdout.contains("failed (timeout)"), "{stdout}");
}

#[test]
fn gpu_oom_is_retried_once_with_the_gpu_to_itself() {
    let dir = temp_dir("gpu-oom");
    let spec = write(&dir, "g.yaml", "name: g\nbase: {fake: {iterations: 4, millis_per_iteration: 5, at_iteration: 1, outcome: oom, fail_attempts: 1}}\n");
    let out = dir.join("out");
    let (code, _, err) = run(sweep()
        .env_remove("CUDA_VISIBLE_DEVICES")
        .env("SWEEP_SIM_GPUS", "2x24576")
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    let id = &plan_rows(&out)[0].1;
    assert_eq!(count(&out, id, "failed"), 1);
    assert_eq!(count(&out, id, "running"), 2);
    assert_eq!(count(&out, id, "done"), 1);
}

#[test]
fn jobs_are_packed_on_simulated_gpus_up_to_the_cap() {
    let dir = temp_dir("packing");
    let text = "name: p\nbase: {fake: {iterations: 20, millis_per_iteration: 20, memory_mib: 2000}}\nresources: {gpu_memory_mib: 2000}\nseeds: [0, 1, 2, 3, 4, 5, 6, 7]\n";
    let spec = write(&dir, "p.yaml", text);
    let out = dir.join("out");
    let (code, _, err) = run(sweep()
        .env_remove("CUDA_VISIBLE_DEVICES")
        .env("SWEEP_SIM_GPUS", "2x24576")
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--max-per-gpu", "3"]));
    assert_eq!(code, 0, "{err}");
    // Replay the events: never more than 3 jobs on one GPU, and both GPUs used.
    let mut on: std::collections::HashMap<String, String> = Default::default();
    let mut most: std::collections::HashMap<String, usize> = Default::default();
    for e in events(&out) {
        let job = e["job"].as_str().unwrap().to_string();
        if e["state"] == "running" {
            on.insert(job, e["placement"].as_str().unwrap().to_string());
            for gpu in on.values() {
                let n = on.values().filter(|g| *g == gpu).count();
                let m = most.entry(gpu.clone()).or_default();
                *m = (*m).max(n);
            }
        } else {
            on.remove(&job);
        }
    }
    assert_eq!(most.len(), 2, "both GPUs used: {most:?}");
    assert!(most.values().all(|n| *n <= 3), "cap respected: {most:?}");
    assert!(
        most.values().any(|n| *n >= 2),
        "several jobs share a GPU when memory allows: {most:?}"
    );
}

#[test]
fn a_child_starts_after_its_parent_from_its_weights() {
    let dir = temp_dir("dag");
    let text = "name: d\nbase: {fake: {iterations: 5, millis_per_iteration: 5}}\nvariants:\n  - {name: finetune, init_from: pretrain}\n  - {name: pretrain}\n  - {name: scratch}\n";
    let spec = write(&dir, "d.yaml", text);
    let out = dir.join("out");
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    let (parent, child) = (id_of(&out, "pretrain"), id_of(&out, "finetune"));
    let ev = events(&out);
    let parent_done = ev
        .iter()
        .position(|e| e["job"] == parent.as_str() && e["state"] == "done")
        .unwrap();
    let child_start = ev
        .iter()
        .position(|e| e["job"] == child.as_str() && e["state"] == "running")
        .unwrap();
    assert!(parent_done < child_start, "the child waits for its parent");
    let plan: Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    let child_entry = plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == child.as_str())
        .unwrap();
    assert_eq!(child_entry["depends_on"], serde_json::json!([parent]));
    let ap = |id: &str| -> f64 {
        let r: Value = serde_json::from_slice(
            &std::fs::read(out.join("jobs").join(id).join("result.json")).unwrap(),
        )
        .unwrap();
        r["metrics"]["AP"].as_f64().unwrap()
    };
    assert_ne!(
        ap(&child),
        ap(&id_of(&out, "scratch")),
        "the child carried on from its parent's state"
    );
}

#[test]
fn plan_places_jobs_on_gpus_reported_by_a_fake_nvml_library() {
    let dir = temp_dir("fake-nvml");
    let lib = dir.join("libnvidia-ml.so.1");
    let c = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake_nvml.c");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&c)
        .status()
        .expect("cc is installed");
    assert!(status.success());
    let spec = write(
        &dir,
        "n.yaml",
        "name: n\nbase: {fake: {iterations: 2}}\nseeds: [0, 1, 2]\n",
    );
    let nvml = |cmd: &mut Command| {
        cmd.env_remove("CUDA_VISIBLE_DEVICES")
            .env("LD_LIBRARY_PATH", &dir)
            .env("FAKE_NVML_GPUS", "2");
    };
    let mut cmd = sweep();
    nvml(&mut cmd);
    let (code, out, err) = run(cmd.arg("plan").arg(&spec).arg("--json"));
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let places: Vec<&Value> = plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["placement"])
        .collect();
    assert_eq!(places[0]["device"], "gpu");
    assert_eq!(places[0]["uuid"], "GPU-fake-0");
    assert_eq!(places[1]["index"], 1);
    // --gpus narrows the set.
    let mut cmd = sweep();
    nvml(&mut cmd);
    let (_, out, _) = run(cmd.arg("plan").arg(&spec).args(["--json", "--gpus", "1"]));
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert!(plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["placement"]["index"] == 1));
    // A card that another process filled takes no job: the run waits, so only plan is checked
    // here; without the library, the CPU.
    let (_, out, err) = run(sweep()
        .env("LD_LIBRARY_PATH", "/nonexistent")
        .arg("plan")
        .arg(&spec)
        .arg("--json"));
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["jobs"][0]["placement"]["device"], "cpu");
    assert!(err.contains("running on the CPU"), "{err}");
}

#[test]
fn a_second_orchestrator_is_refused_while_the_first_runs() {
    let dir = temp_dir("lock");
    let spec = write(
        &dir,
        "l.yaml",
        "name: l\nbase: {fake: {iterations: 100, millis_per_iteration: 20}}\n",
    );
    let out = dir.join("out");
    let mut first = start_run(&mut sweep(), &spec, &out, Stdio::null());
    wait_for(|| out.join("events.jsonl").exists());
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 2);
    assert!(err.contains("another sweep (pid"), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
    // The kernel released the dead orchestrator's lock: the next run takes over and finishes.
    let (code, _, err) = run(sweep().arg("resume").arg(&out));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn ctrl_c_stops_with_130_and_the_rerun_finishes() {
    let dir = temp_dir("sigint");
    let spec = write(
        &dir,
        "c.yaml",
        "name: c\nbase: {fake: {iterations: 60, millis_per_iteration: 25}}\nseeds: [0, 1, 2]\n",
    );
    let out = dir.join("out");
    let mut child = start_run(&mut sweep(), &spec, &out, Stdio::piped());
    wait_for(|| events(&out).iter().any(|e| e["state"] == "running"));
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    let (_, stdout, _) = run(sweep().arg("status").arg(&out).arg("--json"));
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["counts"]["done"], 3, "{status}");
}

#[test]
fn a_torn_events_line_is_skipped_and_a_lost_plan_rebuilt() {
    let dir = temp_dir("torn");
    let spec = write(
        &dir,
        "t.yaml",
        "name: t\nbase: {fake: {iterations: 3}}\nseeds: [0, 1]\n",
    );
    let out = dir.join("out");
    assert_eq!(
        run(sweep().arg("run").arg(&spec).arg("--out").arg(&out)).0,
        0
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(out.join("events.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"at\":1.0,\"job\":\"abc").unwrap();
    std::fs::remove_file(out.join("plan.json")).unwrap();
    let (code, _, err) = run(sweep().arg("resume").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("rebuilding it from the job directories"),
        "{err}"
    );
    assert!(err.contains("2 of 2 jobs already done"), "{err}");
    assert!(out.join("plan.json").exists());
}

pub fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}
