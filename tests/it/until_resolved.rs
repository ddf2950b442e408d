//! `sweep run --until-resolved` on fake jobs whose AP is drawn per seed: `clear > base` is
//! settled by the spec's three seeds, `close > base` only by six (seeds 3, 4, 5 added to its two
//! rows, one a round). Seeds go to exactly that claim's rows; `--max-seeds` stops the loop
//! with the claim unresolved; `resume` goes on; Ctrl-C and a rerun lose and redo nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use crate::util::{run, sweep, temp_dir, write};

fn spec_text(iterations: u32, millis: u32) -> String {
    format!(
        "name: ur\nbase: {{fake: {{iterations: {iterations}, millis_per_iteration: {millis}}}}}\nvariants:\n  - {{name: base, set: {{fake.ap: {{mean: 0.30, sd: 0.01}}}}}}\n  - {{name: clear, set: {{fake.ap: {{mean: 0.50, sd: 0.01}}}}}}\n  - {{name: close, set: {{fake.ap: {{mean: 0.32, sd: 0.01}}}}}}\nseeds: [0, 1, 2]\ntable:\n  metrics: [AP]\n  reference: ur.paper.yaml\n  claims:\n    - {{row: clear, than: base, metric: AP}}\n    - {{row: close, than: base, metric: AP}}\n"
    )
}

const PAPER: &str = "rows:\n  base: {AP: 30.0}\n  clear: {AP: 50.0}\n  close: {AP: 31.5}\n";

fn setup(name: &str, iterations: u32, millis: u32) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    write(&dir, "ur.paper.yaml", PAPER);
    let spec = write(&dir, "ur.yaml", &spec_text(iterations, millis));
    (spec, dir.join("out"))
}

/// Each row's planned seeds, from plan.json.
fn seeds_per_row(out: &Path) -> BTreeMap<String, Vec<u64>> {
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    let mut rows: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for j in plan["jobs"].as_array().unwrap() {
        rows.entry(j["row"].as_str().unwrap().into())
            .or_default()
            .push(j["seed"].as_u64().unwrap());
    }
    for s in rows.values_mut() {
        s.sort_unstable();
    }
    rows
}

fn verdicts(out: &Path) -> Vec<String> {
    let claims: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("claims.json")).unwrap()).unwrap();
    claims["tables"][0]["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdict"].as_str().unwrap().to_string())
        .collect()
}

/// Every finished job's result.json: its bytes and modification time.
fn finished(out: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut map = BTreeMap::new();
    for e in std::fs::read_dir(out.join("jobs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = e.path().join("result.json");
        if let (Ok(bytes), Ok(meta)) = (std::fs::read(&path), std::fs::metadata(&path)) {
            let id = e.file_name().to_string_lossy().into_owned();
            map.insert(id, (bytes, meta.modified().unwrap()));
        }
    }
    map
}

fn until(spec: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    run(sweep()
        .arg("run")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .arg("--until-resolved")
        .args(extra))
}

fn rows(pairs: &[(&str, &[u64])]) -> BTreeMap<String, Vec<u64>> {
    pairs
        .iter()
        .map(|(r, s)| (r.to_string(), s.to_vec()))
        .collect()
}

#[test]
fn seeds_go_to_the_unresolved_claims_rows_until_it_is_settled() {
    let (spec, out) = setup("until-resolved", 2, 1);
    // Before any result, the power line cannot know.
    let (code, plan_text, err) = run(sweep().arg("plan").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        plan_text.contains(
            "ur: close > base on AP: cannot know yet (fewer than 2 finished seeds in a row)"
        ),
        "{plan_text}"
    );

    let (code, _, err) = until(&spec, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        seeds_per_row(&out),
        rows(&[
            ("base", &[0, 1, 2, 3, 4, 5]),
            ("clear", &[0, 1, 2]),
            ("close", &[0, 1, 2, 3, 4, 5])
        ]),
        "{err}"
    );
    assert_eq!(verdicts(&out), ["reproduced", "reproduced"]);
    // Round by round: the settled claim says so, the other gets one seed more.
    assert!(
        err.contains("after round 0 (at most 10 seeds a row)"),
        "{err}"
    );
    assert!(
        err.contains("ur: clear > base on AP: settled (reproduced"),
        "{err}"
    );
    assert!(
        err.contains(
            "ur: close > base on AP: still unresolved: seed 3 added to close, base (unresolved"
        ),
        "{err}"
    );
    assert!(err.contains("seeds a row: close 3, base 3"), "{err}");
    assert!(err.contains("ur: close > base on AP: settled (reproduced, Holm p = 0.024; seeds a row: close 6, base 6)"), "{err}");
    assert!(
        err.contains("until resolved: every claim is settled (2 claims)"),
        "{err}"
    );

    // The record and one event per added job, with the jobs' own ids.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("until_resolved.json")).unwrap()).unwrap();
    assert_eq!(record["max_seeds"], 10);
    let added: Vec<(String, u64, u64)> = record["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["row"].as_str().unwrap().into(),
                a["seed"].as_u64().unwrap(),
                a["round"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64, u64)> = [3, 4, 5]
        .iter()
        .flat_map(|&s| {
            [
                ("base".to_string(), s, s - 2),
                ("close".to_string(), s, s - 2),
            ]
        })
        .collect();
    assert_eq!(added, want);
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let logged: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["state"] == "seed_added")
        .collect();
    assert_eq!(logged.len(), 6);
    for e in &logged {
        let job = plan["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == e["job"])
            .expect("the event names a planned job");
        assert_eq!((&job["row"], &job["seed"]), (&e["row"], &e["seed"]));
    }
    // `status` and the table count the added seeds like the spec's.
    let (code, status, _) = run(sweep().arg("status").arg(&out).arg("--json"));
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["jobs"].as_array().unwrap().len(), 15, "{status}");
    let table = std::fs::read_to_string(out.join("tables/ur.md")).unwrap();
    assert!(table.contains("paired t, 6 seeds"), "{table}");

    // The power line now reads the measured spread.
    let (code, plan_text, _) = run(sweep().arg("plan").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0);
    assert!(
        plan_text.contains("ur: close > base on AP: 11 seeds a row (paired t, sd 1.363, two-sided 97.5%, 80% power) (planned seeds a row: close 6, base 6)"),
        "{plan_text}"
    );

    // The same command again: nothing runs, nothing is added, no result is rewritten.
    let before = finished(&out);
    assert_eq!(before.len(), 15);
    let (code, _, err) = until(&spec, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(finished(&out), before);
    assert!(err.contains("15 of 15 jobs already done"), "{err}");
}

#[test]
fn max_seeds_stops_with_the_claim_unresolved_and_resume_goes_on() {
    let (spec, out) = setup("until-budget", 2, 1);
    let (code, _, err) = until(&spec, &out, &["--max-seeds", "4"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        seeds_per_row(&out),
        rows(&[
            ("base", &[0, 1, 2, 3]),
            ("clear", &[0, 1, 2]),
            ("close", &[0, 1, 2, 3])
        ])
    );
    assert_eq!(verdicts(&out), ["reproduced", "unresolved"]);
    assert!(
        err.contains("ur: close > base on AP: still unresolved: its rows have the budget's seeds"),
        "{err}"
    );
    assert!(
        err.contains("the budget of 4 seeds a row is spent with 1 claims still unresolved (raise --max-seeds to go on)"),
        "{err}"
    );
    // A plain `resume` keeps the recorded budget: nothing to add.
    let (code, _, err) = run(sweep().arg("resume").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("budget of 4 seeds a row is spent"), "{err}");
    assert_eq!(seeds_per_row(&out)["close"], [0, 1, 2, 3]);
    // A larger budget settles it, as the uninterrupted run did.
    let (code, _, err) =
        run(sweep()
            .arg("resume")
            .arg(&out)
            .args(["--until-resolved", "--max-seeds", "10"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(seeds_per_row(&out)["close"], [0, 1, 2, 3, 4, 5]);
    assert_eq!(verdicts(&out), ["reproduced", "reproduced"]);
    // A plain `run` includes the added seeds and says it does not add more.
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("6 seeds added earlier by --until-resolved are part of this sweep"),
        "{err}"
    );
    assert_eq!(seeds_per_row(&out)["base"], [0, 1, 2, 3, 4, 5]);
    // A budget below two seeds is refused.
    let (code, _, err) = until(&spec, &out, &["--max-seeds", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("--max-seeds 1"), "{err}");
}

#[test]
fn ctrl_c_in_the_middle_then_rerun_loses_nothing_and_redoes_nothing() {
    // Slower jobs (same drawn values: they depend on the seed and the row's mean and sd).
    let (spec, out) = setup("until-sigint", 15, 20);
    let child = sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .arg("--until-resolved")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first seeds are added (round 1 starting), then Ctrl-C.
    let started = Instant::now();
    let record = out.join("until_resolved.json");
    loop {
        let added = std::fs::read(&record)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|r| r["added"].as_array().is_some_and(|a| !a.is_empty()));
        if added {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no seed added"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: signalling the sweep process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(130), "{err}");
    let before = finished(&out);
    assert!(
        before.len() >= 9,
        "the spec's seeds finished first: {}",
        before.len()
    );
    assert!(before.len() < 15, "stopped in the middle");

    let (code, _, err) = until(&spec, &out, &[]);
    assert_eq!(code, 0, "{err}");
    let after = finished(&out);
    for (id, kept) in &before {
        assert_eq!(
            after.get(id),
            Some(kept),
            "finished job {id} redone or lost"
        );
    }
    assert_eq!(after.len(), 15);
    assert_eq!(
        seeds_per_row(&out),
        rows(&[
            ("base", &[0, 1, 2, 3, 4, 5]),
            ("clear", &[0, 1, 2]),
            ("close", &[0, 1, 2, 3, 4, 5])
        ])
    );
    assert_eq!(verdicts(&out), ["reproduced", "reproduced"]);
    // Each added job was announced once, whatever the interruption.
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    assert_eq!(events.matches("\"seed_added\"").count(), 6);
}
