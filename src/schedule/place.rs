//! Where jobs run: GPUs as a snapshot behind a trait (NVML in production, a simulated set in
//! tests), and a pure function that turns a snapshot and the core count into execution slots.

use serde::{Deserialize, Serialize};

/// One visible GPU as the placer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuState {
    pub index: u32,
    pub uuid: String,
    pub name: String,
    pub total_mib: u64,
    pub free_mib: u64,
    pub utilization: u32,
}

/// A source of GPU snapshots. `None`-like sources return an empty list: no GPU means CPU.
pub trait Gpus {
    fn snapshot(&self) -> Result<Vec<GpuState>, String>;
}

/// A simulated GPU set, `SWEEP_SIM_GPUS=2x24576` (count × MiB), for tests of placement.
pub struct SimGpus(pub Vec<GpuState>);

impl SimGpus {
    pub fn parse(text: &str) -> Option<SimGpus> {
        let (count, mib) = text.split_once('x')?;
        let (count, mib): (u32, u64) = (count.trim().parse().ok()?, mib.trim().parse().ok()?);
        Some(SimGpus(
            (0..count)
                .map(|i| GpuState {
                    index: i,
                    uuid: format!("SIM-GPU-{i}"),
                    name: "simulated".into(),
                    total_mib: mib,
                    free_mib: mib,
                    utilization: 0,
                })
                .collect(),
        ))
    }
}

impl Gpus for SimGpus {
    fn snapshot(&self) -> Result<Vec<GpuState>, String> {
        Ok(self.0.clone())
    }
}

/// Where one job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "device", rename_all = "snake_case")]
pub enum Placement {
    Cpu { threads: usize },
    Gpu { index: u32, uuid: String, threads: usize },
}

impl Placement {
    pub fn threads(&self) -> usize {
        match self {
            Placement::Cpu { threads } | Placement::Gpu { threads, .. } => *threads,
        }
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placement::Cpu { threads } => write!(f, "cpu ({threads} threads)"),
            Placement::Gpu { index, .. } => write!(f, "gpu {index}"),
        }
    }
}

/// The slots a sweep runs in: one per GPU (packing several is the scheduler's next step), or
/// on CPU the cores split among concurrent jobs. Threads per CPU job are fixed for the whole
/// sweep (CPU results depend on the thread count), so they depend only on the machine and the
/// number of jobs, never on how many are left.
pub fn slots(gpus: &[GpuState], cores: usize, jobs: usize) -> Vec<Placement> {
    let cores = cores.max(1);
    if !gpus.is_empty() {
        let threads = (cores / gpus.len()).max(1);
        return gpus
            .iter()
            .map(|g| Placement::Gpu {
                index: g.index,
                uuid: g.uuid.clone(),
                threads,
            })
            .collect();
    }
    let concurrent = jobs.clamp(1, cores);
    let threads = cores / concurrent;
    vec![Placement::Cpu { threads }; concurrent]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_cores_are_split_among_jobs() {
        assert_eq!(slots(&[], 2, 10), vec![Placement::Cpu { threads: 1 }; 2]);
        assert_eq!(slots(&[], 8, 2), vec![Placement::Cpu { threads: 4 }; 2]);
        assert_eq!(slots(&[], 2, 1), vec![Placement::Cpu { threads: 2 }]);
    }

    #[test]
    fn one_slot_per_gpu() {
        let gpus = SimGpus::parse("2x24576").unwrap().snapshot().unwrap();
        let s = slots(&gpus, 16, 5);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1], Placement::Gpu { index: 1, uuid: "SIM-GPU-1".into(), threads: 8 });
    }
}
