//! One orchestrator per sweep directory: an exclusive `flock` on `lock`, holding our pid.
//! The kernel drops a flock when its process dies, so a lock left by a killed orchestrator is
//! simply taken over; the pid in the file only tells the user who holds a live one.
//!
//! One worker per job directory, the same way ([`JobDir::lock_writer`]): a worker started
//! while another still runs the job (an orchestrator killed between starting a worker and the
//! worker recording itself in `state.json`) waits for it, then finds its result or checkpoint.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::{io, JournalError};

pub struct SweepLock {
    _file: File,
}

impl SweepLock {
    pub fn acquire(path: &Path) -> Result<SweepLock, JournalError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io("open", path))?;
        // SAFETY: flock on a descriptor we own; no memory is shared with the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(JournalError::Locked {
                dir: path.parent().unwrap_or(Path::new(".")).into(),
                pid: pid.trim().to_string(),
            });
        }
        let previous = {
            let mut s = String::new();
            let _ = file.read_to_string(&mut s);
            s.trim().to_string()
        };
        if !previous.is_empty() && previous != std::process::id().to_string() {
            eprintln!("sweep: taking over the lock of a stopped orchestrator (pid {previous})");
        }
        file.set_len(0).map_err(io("truncate", path))?;
        file.rewind().map_err(io("rewind", path))?;
        write!(file, "{}", std::process::id()).map_err(io("write", path))?;
        file.sync_data().map_err(io("sync", path))?;
        Ok(SweepLock { _file: file })
    }
}

impl Drop for SweepLock {
    fn drop(&mut self) {
        // Clear the pid so the next orchestrator does not report a takeover after a clean exit.
        let _ = self._file.set_len(0);
    }
}

/// Held by the one worker that writes a job directory; released when it exits or dies.
pub struct WriterLock {
    _file: File,
}

impl super::JobDir {
    /// Waits until no other process writes this job directory, then holds it. `None` when the
    /// lock file cannot be created (a read-only or full disk: the worker's own writes then fail
    /// and say so).
    pub fn lock_writer(&self) -> Option<WriterLock> {
        let path = self.path.join("writer.lock");
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ok()?;
        // SAFETY: flock on a descriptor we own; no memory is shared with the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        (rc == 0).then_some(WriterLock { _file: file })
    }
}
