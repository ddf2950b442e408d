//! Whether a directory can still be written: a full disk, a read-only mount or a directory that
//! vanished is the storage's problem, not the job's. Such a failure is never retried (it would
//! fail the same way); the sweep stops launching and says what to free.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a directory cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// `free` bytes left for us, less than what the writer needed.
    Full {
        free: u64,
    },
    ReadOnly,
    Gone,
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Full { free } => write!(f, "its disk is full ({} free)", size(*free)),
            Trouble::ReadOnly => write!(f, "it is on a read-only file system"),
            Trouble::Gone => write!(f, "it no longer exists"),
        }
    }
}

/// Bytes as a person reads them ("3.2 MiB").
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// What stops `dir` from being written, if anything: it is gone, read-only, or has less than
/// `need` bytes free (a write of that size just failed there).
pub fn trouble(dir: &Path, need: u64) -> Option<Trouble> {
    if !dir.is_dir() {
        return Some(Trouble::Gone);
    }
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we own from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    if st.f_flag & libc::ST_RDONLY != 0 {
        return Some(Trouble::ReadOnly);
    }
    let free = st.f_bavail as u64 * st.f_frsize as u64;
    (free < need).then_some(Trouble::Full { free })
}

/// Whether an I/O error is the storage's: no space, over quota, read-only.
pub fn is_storage_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EROFS)
    )
}

/// Total size of the files under `dir` (0 when it cannot be read).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// What one job of a sweep leaves on disk, from the largest finished job in `jobs`: its
/// checkpoints and its detections (with everything else it wrote), and its directory.
pub fn job_footprint(jobs: &Path) -> Option<(u64, u64, u64, PathBuf)> {
    let entries = std::fs::read_dir(jobs).ok()?;
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("result.json").is_file())
        .map(|p| {
            let ck = dir_size(&p.join("checkpoint"));
            let det = std::fs::metadata(p.join("detections.json")).map_or(0, |m| m.len());
            (dir_size(&p), ck, det, p)
        })
        .max_by_key(|(total, ..)| *total)
}

/// The one message for a sweep whose directory cannot be written.
pub fn explain(sweep: &Path, path: &Path, trouble: &Trouble) -> String {
    let need = match job_footprint(&sweep.join("jobs")) {
        Some((total, ck, det, job)) => format!(
            "; a job here needs about {} (checkpoints {}, detections {}, as job {} left them)",
            size(total),
            size(ck),
            size(det),
            job.file_name().unwrap_or_default().to_string_lossy()
        ),
        None => String::new(),
    };
    let then = match trouble {
        Trouble::Full { .. } => "free some space",
        Trouble::ReadOnly => "make it writable",
        Trouble::Gone => "restore it",
    };
    format!("cannot write {}: {trouble}{need}; {then}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
    }

    #[test]
    fn a_missing_directory_is_gone_and_a_roomy_one_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(trouble(dir.path(), 1), None);
        assert_eq!(trouble(&dir.path().join("nope"), 1), Some(Trouble::Gone));
        assert!(matches!(
            trouble(dir.path(), u64::MAX),
            Some(Trouble::Full { .. })
        ));
    }
}
