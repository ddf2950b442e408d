//! The shared test cluster: started once by `tests/slurm/start.sh` (a private one-node config
//! with two fake GPUs), stopped by the last cluster test to finish and, whatever happens, by
//! the script's watchdog when this test process exits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::util::sweep;

pub struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

/// The shared cluster, started on first use; `None` when this machine cannot run one (not
/// root, Slurm missing, outside CI).
fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start_cluster).as_ref()
}

fn start_cluster() -> Option<Cluster> {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the cluster's directory");
    // Two free ports, asked of the kernel; released just before slurmctld and slurmd bind them.
    let ports: Vec<String> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .expect("a free port")
                .local_addr()
                .expect("bound")
                .port()
        })
        .map(|p| p.to_string())
        .collect();
    let script = crate::util::repo().join("tests/slurm/start.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .arg(std::process::id().to_string())
        .args(&ports)
        .output()
        .expect("run tests/slurm/start.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Some(Cluster {
            conf: dir.join("slurm.conf"),
            dir,
        }),
        Some(77) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping the Slurm tests: {}", stderr.trim());
            None
        }
        _ => panic!(
            "cannot start the test Slurm cluster (tests/slurm/start.sh, {}): {stderr}",
            out.status
        ),
    }
}

/// Held by each cluster test; the last one dropped stops the daemons (SIGTERM, by pid).
pub struct Use;

impl Drop for Use {
    fn drop(&mut self) {
        static DONE: AtomicUsize = AtomicUsize::new(0);
        if DONE.fetch_add(1, Ordering::SeqCst) + 1 == super::CLUSTER_TESTS {
            if let Some(Some(c)) = CLUSTER.get() {
                let stop = crate::util::repo().join("tests/slurm/stop.sh");
                let _ = Command::new("bash").arg(stop).arg(&c.dir).status();
            }
        }
    }
}

/// The cluster for one test, or `None`: the test then returns at once (see the `slurm`
/// module: only outside CI, without root).
pub fn with_cluster() -> Option<(&'static Cluster, Use)> {
    let c = cluster();
    // Counted even when skipped, so the last test still stops the cluster.
    let guard = Use;
    c.map(|c| (c, guard))
}

impl Cluster {
    /// `sweep` talking to this cluster.
    pub fn sweep(&self) -> Command {
        let mut cmd = sweep();
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }

    fn slurm(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .expect("run a Slurm command");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every Slurm job record (each with its fields; a value with spaces is cut at the first).
    pub fn all_records(&self) -> Vec<BTreeMap<String, String>> {
        self.slurm("scontrol", &["-o", "show", "job"])
            .lines()
            .map(|line| {
                line.split_whitespace()
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    /// Every Slurm job record of the sweep in `out` (finished jobs stay known for an hour):
    /// job name -> the fields of each of its records.
    pub fn records(&self, out: &Path) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
        let jobs = out.join("jobs").display().to_string();
        let mut records: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
        for line in self.slurm("scontrol", &["-o", "show", "job"]).lines() {
            let fields: BTreeMap<String, String> = line
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if fields.get("WorkDir").is_some_and(|w| w.starts_with(&jobs)) {
                records
                    .entry(fields["JobName"].clone())
                    .or_default()
                    .push(fields);
            }
        }
        records
    }
}
