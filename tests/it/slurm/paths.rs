//! Hostile paths on Slurm: a sweep directory and a spec path holding spaces, quotes, `$(...)`,
//! backquotes, sbatch's `%j` and bytes that are not UTF-8 run like any other, and nothing in
//! them is run by a shell; a line break, which Slurm cannot take, is one error naming the path.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{job_ids, json};
use crate::util::{run, temp_dir};

const SPEC: &str = "name: hostile\nbase: {fake: {iterations: 4, millis_per_iteration: 30}}\nseeds: [0, 1]\n\
                    executor: {kind: slurm, gpus_per_job: 0, cpus_per_job: 1}\ntable: {metrics: [AP]}\n";

/// Every file and directory under `dir` named `name`.
fn find(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name() == name {
            found.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(find(&path, name));
        }
    }
    found
}

#[test]
fn hostile_paths_work_on_slurm_and_nothing_in_them_runs() {
    let Some((c, _use)) = super::cluster::with_cluster() else {
        return;
    };
    let dir = temp_dir("slurm-paths");
    // What a shell expanding any of these names would create.
    let marker = dir.join("pwned");
    let mut name = format!(
        "a b 'q' \"d\" $(touch {m}) `touch {m}` ;touch {m}; %j %% \\ ",
        m = marker.display()
    )
    .into_bytes();
    name.extend_from_slice(b"\xff\xfe");
    let base = dir.join(OsStr::from_bytes(&name));
    std::fs::create_dir_all(&base).unwrap();
    let spec = base.join(OsStr::from_bytes(b"spec $(touch pwned) `x` %j \xe9.yaml"));
    std::fs::write(&spec, SPEC).unwrap();
    let out = base.join(OsStr::from_bytes(b"out 'o' %N \xff"));

    let (code, table, err) = run(c
        .sweep()
        .current_dir(&dir)
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("| hostile |"), "{table}");
    let ids = job_ids(&out);
    assert_eq!(ids.len(), 2);
    let records = c.all_records();
    for id in &ids {
        let job = out.join("jobs").join(id);
        assert_eq!(json(&job.join("result.json"))["status"], "done");
        // sbatch's output file, named by the job's Slurm id in the job dir itself.
        let slurm_id = json(&job.join("slurm.json"))["slurm_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            job.join(format!("slurm-{slurm_id}.out")).exists(),
            "slurm-{slurm_id}.out in {}",
            job.display()
        );
        let mine: Vec<_> = records
            .iter()
            .filter(|r| {
                r.get("JobName")
                    .is_some_and(|n| *n == format!("sweep-{id}"))
            })
            .collect();
        assert_eq!(mine.len(), 1, "submitted once: {mine:?}");
        assert_eq!(mine[0]["JobState"], "COMPLETED", "{mine:?}");
    }
    assert!(
        find(&dir, "pwned").is_empty() && !marker.exists(),
        "a shell ran part of a path"
    );

    // A line break cannot go to Slurm: said before anything is submitted.
    let broken = dir.join("line\nbreak");
    let (code, _, err) = run(c.sweep().arg("run").arg(&spec).arg("--out").arg(&broken));
    assert_eq!(code, 2, "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("line\\nbreak") && errors[0].contains("holds a line break"),
        "{}",
        errors[0]
    );
    for job in std::fs::read_dir(broken.join("jobs")).into_iter().flatten() {
        let job = job.unwrap().path();
        assert!(!job.join("slurm.json").exists(), "nothing was submitted");
    }
}
