//! Child processes on this machine: one `sweep-worker` per job, in its own process group so a
//! Ctrl-C in the terminal reaches only the orchestrator, which forwards SIGTERM (the worker
//! checkpoints, then exits).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc::UnboundedSender;

use super::{ExecError, ExecEvent, Executor, Launch, Outcome, Recovery};
use crate::launch::protocol::WorkerMessage;
use crate::launch::{Device, Placement, WorkerCommand};

/// Lines of a failed worker's stderr kept with its failure.
const STDERR_TAIL: usize = 40;

pub struct LocalExecutor {
    /// The `sweep-worker` binary.
    worker: PathBuf,
    running: Arc<Mutex<HashMap<String, u32>>>,
}

impl LocalExecutor {
    pub fn new(worker: PathBuf) -> LocalExecutor {
        LocalExecutor {
            worker,
            running: Arc::default(),
        }
    }
}

impl Executor for LocalExecutor {
    fn start(&self, launch: Launch, events: UnboundedSender<ExecEvent>) -> Result<(), ExecError> {
        let stderr_path = launch.dir.join("stderr.log");
        let spawn_err = |source| ExecError::Spawn {
            job: launch.job.clone(),
            source,
        };
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .map_err(spawn_err)?;
        // A Slurm placement never reaches this executor; it runs on the CPU if it does.
        let (visible, device) = match &launch.placement {
            Placement::Gpu { index, .. } => (index.to_string(), Device::Cuda),
            Placement::Cpu { .. } | Placement::Slurm { .. } => (String::new(), Device::Cpu),
        };
        let worker = WorkerCommand {
            job_dir: launch.dir.clone(),
            threads: launch.placement.threads(),
            device,
            interactive: false,
        };
        let mut cmd = Command::new(&self.worker);
        cmd.args(worker.args())
            .env("CUDA_VISIBLE_DEVICES", visible)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let pid = child.id().unwrap_or(0);
        self.running
            .lock()
            .expect("lock not poisoned")
            .insert(launch.job.clone(), pid);
        let _ = events.send(ExecEvent::Started {
            job: launch.job.clone(),
            pid,
        });
        let stdout = child.stdout.take().expect("stdout was piped");
        let running = Arc::clone(&self.running);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // Anything that is not a protocol line (a library printing) is ignored.
                if let Ok(message) = serde_json::from_str::<WorkerMessage>(&line) {
                    let _ = events.send(ExecEvent::Message {
                        job: launch.job.clone(),
                        message,
                    });
                }
            }
            let status = child.wait().await;
            running
                .lock()
                .expect("lock not poisoned")
                .remove(&launch.job);
            let outcome = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    Outcome::from_exit(s.code(), s.signal())
                }
                Err(_) => Outcome::from_exit(None, None),
            };
            let stderr_tail = match outcome {
                Outcome::Done | Outcome::Diverged | Outcome::Interrupted => Vec::new(),
                Outcome::Failed(_) => tail(&stderr_path, STDERR_TAIL),
            };
            let _ = events.send(ExecEvent::Exited {
                job: launch.job,
                outcome,
                stderr_tail,
            });
        });
        Ok(())
    }

    /// A worker left running by an orchestrator that died is stopped (after a checkpoint), so
    /// the job starts again from it with a single writer in its directory.
    fn recover(
        &self,
        launch: &Launch,
        grace: std::time::Duration,
        _: &UnboundedSender<ExecEvent>,
    ) -> Result<Recovery, ExecError> {
        stop_orphan(&crate::journal::JobDir::new(&launch.dir), grace);
        Ok(Recovery::Start { note: None })
    }

    fn cancel(&self, job: &str) {
        if let Some(pid) = self.running.lock().expect("lock not poisoned").get(job) {
            signal_group(*pid, libc::SIGTERM);
        }
    }

    fn cancel_all(&self) {
        for pid in self.running.lock().expect("lock not poisoned").values() {
            signal_group(*pid, libc::SIGTERM);
        }
    }

    fn kill_all(&self) {
        for pid in self.running.lock().expect("lock not poisoned").values() {
            signal_group(*pid, libc::SIGKILL);
        }
    }
}

/// A worker still running from an orchestrator that died (its `state.json` says running and
/// the same process, same start time, is alive): asked to checkpoint and stop, then killed
/// after `grace`, so the job can be started again from its checkpoint without two writers.
pub fn stop_orphan(dir: &crate::journal::JobDir, grace: std::time::Duration) -> bool {
    let Ok(Some(crate::journal::JobState {
        status:
            crate::journal::JobStatus::Running {
                pid,
                started: Some(started),
                ..
            },
        ..
    })) = dir.read_state()
    else {
        return false;
    };
    let alive = || crate::journal::process_start(pid) == Some(started);
    if !alive() {
        return false;
    }
    eprintln!(
        "sweep: stopping worker {pid} left running by a previous orchestrator ({})",
        dir.path.display()
    );
    signal_group(pid, libc::SIGTERM);
    let deadline = std::time::Instant::now() + grace;
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if alive() {
        signal_group(pid, libc::SIGKILL);
        while alive() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    true
}

/// Signals a worker's process group (the worker leads its own group).
pub fn signal_group(pid: u32, signal: i32) {
    if pid > 1 {
        // SAFETY: kill(2) on a process group we created; no memory is involved.
        unsafe {
            libc::kill(-(pid as i32), signal);
        }
    }
}

fn tail(path: &std::path::Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<String> = text.lines().map(String::from).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}
