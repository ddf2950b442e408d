//! A sweep directory written by an earlier release (0.1.0, trainer schema 1, committed under
//! `tests/fixtures/sweep_v0_1_0/`) still reads and resumes with this build. Its files are read
//! as they are (plan, states, results, a stopped job's checkpoint); since the trainer's schema
//! changed (parameters are now initialised from the seed and their names), its rows have new
//! ids: `resume` says so, runs them, and keeps every earlier result byte for byte.

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
fn a_sweep_written_by_0_1_0_reads_and_resumes_keeping_its_results() {
    let out = temp_dir("compat").join("sweep");
    copy_tree(&repo().join("tests/fixtures/sweep_v0_1_0"), &out);
    let before = results(&out);
    assert_eq!(before.len(), 2, "the fixture holds two finished jobs");

    let (code, status, err) = run(sweep().arg("status").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(status.contains("2 done"), "{status}");

    let (code, _, err) = run(sweep().arg("resume").arg(&out).args(["--retries", "0"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "the spec changed: 0 jobs reused, 4 new, 4 no longer in the spec (kept in jobs/)"
        ),
        "{err}"
    );
    let after = results(&out);
    assert_eq!(after.len(), 2 + 4, "{err}");
    for (id, bytes) in &before {
        assert_eq!(
            &after[id], bytes,
            "earlier result {id} was lost or rewritten"
        );
    }
}
