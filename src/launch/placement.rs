//! Where one job runs, as the orchestrator decides it and the executor starts it.

use serde::{Deserialize, Serialize};

/// Where one job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "device", rename_all = "snake_case")]
pub enum Placement {
    Cpu {
        threads: usize,
    },
    Gpu {
        index: u32,
        uuid: String,
        threads: usize,
    },
    /// A Slurm job asking for `gpus` GPUs and `threads` CPUs; Slurm picks the node and GPU.
    Slurm {
        gpus: u32,
        threads: usize,
    },
}

impl Placement {
    pub fn threads(&self) -> usize {
        match self {
            Placement::Cpu { threads }
            | Placement::Gpu { threads, .. }
            | Placement::Slurm { threads, .. } => *threads,
        }
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placement::Cpu { threads } => write!(f, "cpu ({threads} threads)"),
            Placement::Gpu { index, .. } => write!(f, "gpu {index}"),
            Placement::Slurm { gpus, threads } => write!(f, "slurm ({gpus} gpu, {threads} cpu)"),
        }
    }
}
