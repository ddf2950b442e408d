//! A sweep directory written by an earlier release (0.1.0, committed under
//! `tests/fixtures/sweep_v0_1_0/`) resumes with this build: the same job ids, nothing done is
//! redone, a job stopped after its checkpoint goes on from it, a job never started runs.

use std::path::Path;

use crate::util::{repo, results, run, sweep, temp_dir};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

#[test]
fn a_sweep_written_by_0_1_0_resumes_without_redoing_its_finished_jobs() {
    let out = temp_dir("compat").join("sweep");
    copy_tree(&repo().join("tests/fixtures/sweep_v0_1_0"), &out);
    let before = results(&out);
    assert_eq!(before.len(), 2, "the fixture holds two finished jobs");

    let (code, _, err) = run(sweep().arg("resume").arg(&out).args(["--retries", "0"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 of 4 jobs already done"), "{err}");
    assert!(!err.contains("the spec changed"), "job ids changed:\n{err}");

    let after = results(&out);
    assert_eq!(after.len(), 4, "{err}");
    for (id, bytes) in &before {
        assert_eq!(&after[id], bytes, "finished job {id} was redone");
    }
    // The stopped job went on from its last checkpoint (iteration 20 of 20): after this run's
    // start its log has no progress line (from scratch it would log iterations 10 and 20 again).
    let log = std::fs::read_to_string(out.join("jobs/e8f93674960e/train.log")).expect("log");
    let this_run = log.rsplit("\"event\":\"started\"").next().expect("a start");
    assert!(log.matches("\"event\":\"started\"").count() == 2, "{log}");
    assert!(!this_run.contains("\"event\":\"progress\""), "{log}");
}
