//! Placement learns a shape's real peak: workers measure their own process through NVML (the
//! fake library lists the asking process with `FAKE_NVML_PROCESS_MIB`, beside another user's
//! process), record it in `result.json` and `state.json`, and the scheduler packs the next
//! jobs of the shape by the measured peak plus 10% instead of the spec's estimate; `sweep
//! status` and `sweep plan` say which figure holds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{run, sweep, temp_dir, write};

/// Builds the fake `libnvidia-ml.so.1` into `dir`.
fn fake_nvml(dir: &Path) {
    let c = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake_nvml.c");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.join("libnvidia-ml.so.1"))
        .arg(&c)
        .status()
        .expect("cc is installed");
    assert!(status.success());
}

fn with_nvml<'a>(cmd: &'a mut Command, dir: &Path, process_mib: u64) -> &'a mut Command {
    cmd.env_remove("CUDA_VISIBLE_DEVICES")
        .env("LD_LIBRARY_PATH", dir)
        .env("FAKE_NVML_GPUS", "1")
        .env("FAKE_NVML_TOTAL_MIB", "24576")
        .env("FAKE_NVML_PROCESS_MIB", process_mib.to_string())
}

/// The most jobs running at once on the GPU before the first job finished, and after.
fn concurrency(out: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let mut running: HashMap<String, ()> = HashMap::new();
    let (mut before, mut after, mut finished) = (0, 0, false);
    for e in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let job = e["job"].as_str().unwrap().to_string();
        if e["state"] == "running" {
            assert!(
                e["placement"].as_str().unwrap().contains("gpu"),
                "{e}: on the fake GPU"
            );
            running.insert(job, ());
            let n = running.len();
            if finished {
                after = after.max(n);
            } else {
                before = before.max(n);
            }
        } else {
            running.remove(&job);
            finished |= e["state"] == "done";
        }
    }
    (before, after)
}

/// Runs eight fake jobs of one shape whose spec estimates `estimate_mib` on one 24 GiB fake
/// GPU where each worker measures `measured_mib`; returns the sweep directory.
fn sweep_with(name: &str, estimate_mib: u64, measured_mib: u64) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    fake_nvml(&dir);
    let spec = write(
        &dir,
        "m.yaml",
        &format!(
            "name: m\nbase: {{fake: {{iterations: 6, millis_per_iteration: 60}}}}\n\
             resources: {{gpu_memory_mib: {estimate_mib}}}\nseeds: [0, 1, 2, 3, 4, 5, 6, 7]\n"
        ),
    );
    let out = dir.join("out");
    let (code, _, err) = run(with_nvml(&mut sweep(), &dir, measured_mib)
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--max-per-gpu", "4"]));
    assert_eq!(code, 0, "{err}");
    (dir, out)
}

#[test]
fn a_measured_peak_above_the_estimate_packs_fewer_jobs_per_gpu() {
    let (dir, out) = sweep_with("peak-larger", 2000, 9000);
    let (before, after) = concurrency(&out);
    // The estimate fits four (the cap); the measured 9000 MiB + 10% fits two in 24576 MiB
    // with the 1024 MiB head-room, and counts for the jobs still running too.
    assert_eq!(before, 4, "first wave by the estimate");
    assert!(
        (1..=2).contains(&after),
        "after the first measurement: {after}"
    );
    // Every worker measured its own process only (not pid 1's 512 MiB).
    for entry in std::fs::read_dir(out.join("jobs")).unwrap() {
        let job = entry.unwrap().path();
        for file in ["result.json", "state.json"] {
            let v: Value = serde_json::from_slice(&std::fs::read(job.join(file)).unwrap()).unwrap();
            assert_eq!(v["peak_gpu_memory_bytes"], 9000u64 << 20, "{file}: {v}");
        }
    }
    // status and plan say which figure holds.
    let (code, stdout, err) = run(sweep().arg("status").arg(&out).arg("--json"));
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    let memory = &status["gpu_memory"][0];
    assert_eq!(
        (
            &memory["source"],
            &memory["mib"],
            &memory["measured_peak_mib"],
            &memory["jobs"]
        ),
        (
            &Value::from("measured"),
            &Value::from(9900),
            &Value::from(9000),
            &Value::from(8)
        ),
        "{status}"
    );
    let (_, stdout, _) = run(sweep().arg("status").arg(&out));
    assert!(
        stdout.contains("9900 MiB: measured peak 9000 MiB (job "),
        "{stdout}"
    );
    let (code, stdout, err) = run(with_nvml(&mut sweep(), &dir, 0)
        .arg("plan")
        .arg(dir.join("m.yaml"))
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("(8 jobs): 9900 MiB: measured peak 9000 MiB"),
        "{stdout}"
    );
    // Without the sweep's results, plan shows the spec's estimate.
    let (_, stdout, _) = run(with_nvml(&mut sweep(), &dir, 0)
        .arg("plan")
        .arg(dir.join("m.yaml"))
        .arg("--out")
        .arg(dir.join("elsewhere")));
    assert!(
        stdout.contains("2000 MiB: estimate (resources.gpu_memory_mib)"),
        "{stdout}"
    );
}

#[test]
fn a_measured_peak_below_the_estimate_packs_more_up_to_the_cap() {
    let (_, out) = sweep_with("peak-smaller", 8000, 1000);
    let (before, after) = concurrency(&out);
    // 8000 MiB each: two fit with the head-room; 1100 MiB each: the cap of four.
    assert_eq!((before, after), (2, 4));
}

#[test]
fn a_job_on_the_cpu_records_no_gpu_peak() {
    let dir = temp_dir("peak-cpu");
    let spec = write(&dir, "c.yaml", "name: c\nbase: {fake: {iterations: 2}}\n");
    let out = dir.join("out");
    // NVML is there and would list the process, but the job was placed on the CPU.
    fake_nvml(&dir);
    let (code, _, err) = run(with_nvml(&mut sweep(), &dir, 3000)
        .env("FAKE_NVML_GPUS", "0")
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    let job = std::fs::read_dir(out.join("jobs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for file in ["result.json", "state.json"] {
        let v: Value = serde_json::from_slice(&std::fs::read(job.join(file)).unwrap()).unwrap();
        assert!(v.get("peak_gpu_memory_bytes").is_none(), "{file}: {v}");
    }
}
