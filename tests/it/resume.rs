//! Chaos: SIGKILL the orchestrator (and sometimes a worker) at many moments of a sweep, rerun
//! each time, then finish. No finished result may change, none may be lost, and the final
//! table must equal an uninterrupted run's (the fake jobs' metrics are checksums of the
//! iterations they ran, so skipped or repeated work would show).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::util::{results, run, start_run, sweep, temp_dir, write};

const CHAOS: &str = "name: chaos\nbase: {fake: {iterations: 25, millis_per_iteration: 8}}\nvariants:\n  - {name: a}\n  - {name: b, set: {fake.memory_mib: 7}}\n  - {name: c, init_from: a}\nseeds: [0, 1, 2]\ntable: {metrics: [AP], decimals: 4}\n";

/// A running worker's pid, from any job's state.json.
fn some_worker(out: &Path) -> Option<i32> {
    for e in std::fs::read_dir(out.join("jobs")).ok()? {
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.ok()?.path().join("state.json")).ok()?).ok()?;
        if s["state"] == "running" {
            return s["pid"].as_i64().map(|p| p as i32);
        }
    }
    None
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_redoes_nothing() {
    let dir = temp_dir("chaos");
    let spec = write(&dir, "chaos.yaml", CHAOS);

    let reference = dir.join("reference");
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&reference));
    assert_eq!(code, 0, "{err}");
    let (_, want, _) = run(sweep()
        .arg("table")
        .arg(&reference)
        .args(["--format", "csv"]));

    let out = dir.join("out");
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // A fixed pseudo-random sequence of kill delays: reproducible, yet spread over the run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..12 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = 150 + x % 600;
        let mut child = start_run(&mut sweep(), &spec, &out, Stdio::null());
        std::thread::sleep(Duration::from_millis(delay));
        if round % 3 == 1 {
            if let Some(pid) = some_worker(&out) {
                // SAFETY: killing a worker process of this test's own sweep.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let now = results(&out);
        for (id, bytes) in &seen {
            assert_eq!(
                now.get(id),
                Some(bytes),
                "round {round}: finished job {id} lost or rewritten"
            );
        }
        seen = now;
    }
    // The same command again finishes the sweep (a kill before plan.json existed leaves nothing
    // for `resume` to read, so the spec is given).
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    let finished = results(&out);
    for (id, bytes) in &seen {
        assert_eq!(
            finished.get(id),
            Some(bytes),
            "finished job {id} rewritten by the final run"
        );
    }
    assert_eq!(finished.len(), 9);
    let (_, got, _) = run(sweep().arg("table").arg(&out).args(["--format", "csv"]));
    assert_eq!(
        got, want,
        "the interrupted sweep's table equals the uninterrupted one"
    );
}
