//! A full disk: the sweep runs in a small tmpfs mounted by the test (root only; elsewhere the
//! test says why and passes), filled so that room runs out at different moments of the sweep
//! (in a worker's writes or the orchestrator's). Each time the sweep stops with one error that
//! names the place and what a job needs, fails no job, retries nothing; once room is freed
//! `sweep resume` finishes it and its table equals a clean run's. A read-only mount likewise.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{run, sweep, temp_dir, write};

const SPEC: &str = "name: full\nbase: {fake: {iterations: 20, millis_per_iteration: 1}}\nvariants:\n  - {name: a}\n  - {name: b, set: {fake.memory_mib: 7}}\n  - {name: c, set: {fake.memory_mib: 9}}\nseeds: [0, 1]\ntable: {metrics: [AP], decimals: 4}\n";

/// A tmpfs mounted for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, kib: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn remount(&self, mode: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {mode}");
    }

    fn free(&self) -> u64 {
        let c = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
        // SAFETY: statvfs fills a struct we own.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
        st.f_bavail as u64 * st.f_frsize as u64
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn table(out: &Path) -> String {
    let (code, csv, err) = run(sweep().arg("table").arg(out).args(["--format", "csv"]));
    assert_eq!(code, 0, "{err}");
    csv
}

fn one_error(err: &str, label: &str) -> String {
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("sweep: error"))
        .collect();
    assert_eq!(errors.len(), 1, "{label}: one error line:\n{err}");
    let said = err.matches("No space left").count() + err.matches("ead-only file").count();
    assert!(said <= 1, "{label}: the system's error repeated:\n{err}");
    errors[0].to_string()
}

#[test]
fn a_full_disk_stops_the_sweep_once_and_resume_finishes_it() {
    let dir = temp_dir("full");
    let spec = write(&dir, "full.yaml", SPEC);
    let reference = dir.join("reference");
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&reference));
    assert_eq!(code, 0, "{err}");
    let want = table(&reference);
    let Some(fs) = Tmpfs::mount(&dir.join("mnt"), 4096) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let mut worker_stops = 0;
    for free_kib in [8u64, 40, 90, 140, 200] {
        let label = format!("{free_kib} KiB free");
        let out = fs.0.join(format!("out-{free_kib}"));
        let filler = fs.0.join("filler");
        let size = fs.free().saturating_sub(free_kib * 1024);
        std::fs::write(&filler, vec![7u8; size as usize]).unwrap();
        let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
        assert_eq!(code, 2, "{label}: {err}");
        let line = one_error(&err, &label);
        assert!(line.contains(&out.display().to_string()), "{label}: {line}");
        assert!(
            line.contains("its disk is full") || line.contains("No space left on device"),
            "{label}: {line}"
        );
        assert!(
            !err.contains("FAILED") && !err.contains("retrying"),
            "{label}:\n{err}"
        );
        worker_stops += usize::from(err.contains(": stopped: its disk is full"));
        std::fs::remove_file(&filler).unwrap();
        let (code, _, err) = if out.join("plan.json").exists() {
            run(sweep().arg("resume").arg(&out))
        } else {
            run(sweep().arg("run").arg(&spec).arg("--out").arg(&out))
        };
        assert_eq!(code, 0, "{label}: after freeing: {err}");
        assert_eq!(table(&out), want, "{label}: final table");
        std::fs::remove_dir_all(&out).unwrap();
    }
    assert!(worker_stops > 0, "no case ran out of room in a worker");

    // Read-only: the sweep says so once, and goes on once writable again.
    let out = fs.0.join("ro");
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 0, "{err}");
    let jobs: Vec<PathBuf> = std::fs::read_dir(out.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    std::fs::remove_file(jobs[0].join("result.json")).unwrap();
    std::fs::remove_dir_all(jobs[0].join("checkpoint")).unwrap();
    fs.remount("ro");
    let (code, _, err) = run(sweep().arg("resume").arg(&out));
    fs.remount("rw");
    assert_eq!(code, 2, "{err}");
    let line = one_error(&err, "read-only");
    assert!(line.contains("ead-only"), "{line}");
    let (code, _, err) = run(sweep().arg("resume").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(&out), want);
}
