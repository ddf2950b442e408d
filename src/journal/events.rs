//! `events.jsonl`, append-only, one transition per line. A writer thread commits in groups:
//! the lines that arrive while one fsync runs go out together in the next, so a burst of
//! transitions costs one fsync, not one each, and the dispatcher never waits on the disk.
//! The job directories stay the truth; the log is their history (rebuildable from them).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{io, Event, JournalError};

pub struct EventLog {
    tx: Option<Sender<String>>,
    writer: Option<JoinHandle<()>>,
    error: Arc<Mutex<Option<JournalError>>>,
    path: PathBuf,
}

impl EventLog {
    pub fn open(path: &Path) -> Result<EventLog, JournalError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io("open", path))?;
        // A torn last line (a crash mid-append) must not swallow the next event.
        let mut file = file;
        if ends_mid_line(path) {
            file.write_all(b"\n").map_err(io("append to", path))?;
        }
        let (tx, rx) = channel::<String>();
        let error = Arc::new(Mutex::new(None));
        let (err, p) = (Arc::clone(&error), path.to_path_buf());
        let writer = std::thread::spawn(move || {
            let mut file: File = file;
            while let Ok(first) = rx.recv() {
                let mut batch = first;
                while let Ok(more) = rx.try_recv() {
                    batch.push_str(&more);
                }
                let written = file
                    .write_all(batch.as_bytes())
                    .map_err(io("append to", &p))
                    .and_then(|_| file.sync_data().map_err(io("sync", &p)));
                if let Err(e) = written {
                    *err.lock().expect("no panic holds this lock") = Some(e);
                    return;
                }
            }
        });
        Ok(EventLog {
            tx: Some(tx),
            writer: Some(writer),
            error,
            path: path.to_path_buf(),
        })
    }

    /// Queues one line; fails once the writer has failed (scheduling must stop then).
    pub fn append(&self, event: &Event) -> Result<(), JournalError> {
        if let Some(e) = self.error.lock().expect("no panic holds this lock").take() {
            return Err(e);
        }
        let mut line = serde_json::to_string(event).expect("events serialize");
        line.push('\n');
        let tx = self.tx.as_ref().expect("open until closed");
        tx.send(line).map_err(|_| JournalError::Corrupt {
            path: self.path.clone(),
            problem: "the event writer stopped".into(),
        })
    }

    /// Writes and syncs everything queued.
    pub fn close(mut self) -> Result<(), JournalError> {
        self.finish();
        match self.error.lock().expect("no panic holds this lock").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn finish(&mut self) {
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// Whether the file's last byte is not a newline (an empty file is fine).
fn ends_mid_line(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut last = [0u8; 1];
    f.seek(SeekFrom::End(-1)).is_ok() && f.read_exact(&mut last).is_ok() && last[0] != b'\n'
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::JobStatus;

    #[test]
    fn every_queued_line_is_written_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let log = EventLog::open(&path).unwrap();
        for i in 0..200 {
            log.append(&Event {
                at: i as f64,
                job: format!("j{i}"),
                status: JobStatus::Done,
            })
            .unwrap();
        }
        log.close().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let jobs: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Event>(l).unwrap().job)
            .collect();
        assert_eq!(jobs, (0..200).map(|i| format!("j{i}")).collect::<Vec<_>>());
    }
}
