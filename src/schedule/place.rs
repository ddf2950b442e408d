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

/// How many concurrent CPU jobs, and the intra-op threads of each. Threads per job are fixed
/// for the whole sweep (CPU results depend on the thread count), so they depend only on the
/// machine and the number of jobs, never on how many are left.
pub fn cpu_split(cores: usize, jobs: usize) -> (usize, usize) {
    let cores = cores.max(1);
    let concurrent = jobs.clamp(1, cores);
    (concurrent, cores / concurrent)
}

/// What one job asks of a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// Jobs of one shape (model, image size, batch size) need the same memory.
    pub shape: String,
    /// Expected peak memory: learned from a finished job of this shape, or given in the spec.
    pub peak_mib: Option<u64>,
    /// The GPU to itself (after an out-of-memory failure).
    pub exclusive: bool,
}

/// Our jobs on one GPU, as the placer accounts for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpuLoad {
    pub shapes: Vec<String>,
    /// Sum of the expected peaks of our jobs there.
    pub reserved_mib: u64,
    pub exclusive: bool,
    /// Free memory seen when none of our jobs ran there: what other processes leave us.
    pub baseline_free_mib: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_per_gpu: usize,
    /// Head-room kept free on every GPU.
    pub margin_mib: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_per_gpu: 4,
            margin_mib: 1024,
        }
    }
}

/// Picks the GPU for a job, or none if no GPU can take it now. Among the GPUs that can, the
/// one with the most free memory. A job whose peak is unknown goes only where no job of its
/// shape runs (one per GPU until the peak is learned); a job never goes where the memory seen
/// free now (other processes included) is short of its peak.
pub fn admit(
    gpus: &[GpuState],
    load: &[GpuLoad],
    demand: &Demand,
    policy: &Policy,
) -> Option<usize> {
    gpus.iter()
        .zip(load)
        .enumerate()
        .filter(|(_, (_, l))| !l.exclusive && l.shapes.len() < policy.max_per_gpu.max(1))
        .filter(|(_, (_, l))| !demand.exclusive || l.shapes.is_empty())
        .filter_map(|(i, (g, l))| {
            // What is left for us: the baseline minus our reservations, and never more than is
            // free right now (another process may have filled the card since).
            let left = l
                .baseline_free_mib
                .saturating_sub(l.reserved_mib)
                .min(g.free_mib);
            let fits = if l.shapes.is_empty() {
                // A card that others filled takes nothing; a job bigger than any card runs
                // alone on an idle one (and fails there with a clear cause, not a deadlock).
                g.free_mib >= policy.margin_mib
                    && demand
                        .peak_mib
                        .is_none_or(|p| p <= g.free_mib || p > g.total_mib)
            } else {
                match demand.peak_mib {
                    Some(peak) => peak + policy.margin_mib <= left,
                    None => !l.shapes.contains(&demand.shape),
                }
            };
            fits.then_some((i, left))
        })
        .max_by_key(|(i, left)| (*left, std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_cores_are_split_among_jobs() {
        assert_eq!(cpu_split(2, 10), (2, 1));
        assert_eq!(cpu_split(8, 2), (2, 4));
        assert_eq!(cpu_split(2, 1), (1, 2));
    }

    fn gpus(free: &[u64]) -> Vec<GpuState> {
        free.iter()
            .enumerate()
            .map(|(i, f)| GpuState {
                index: i as u32,
                uuid: format!("G{i}"),
                name: "sim".into(),
                total_mib: 24576,
                free_mib: *f,
                utilization: 0,
            })
            .collect()
    }

    fn load(shapes: &[&str], reserved: u64, baseline: u64) -> GpuLoad {
        GpuLoad {
            shapes: shapes.iter().map(|s| s.to_string()).collect(),
            reserved_mib: reserved,
            exclusive: false,
            baseline_free_mib: baseline,
        }
    }

    fn demand(peak: Option<u64>, exclusive: bool) -> Demand {
        Demand {
            shape: "s".into(),
            peak_mib: peak,
            exclusive,
        }
    }

    #[test]
    fn admission_table() {
        let p = Policy {
            max_per_gpu: 4,
            margin_mib: 1000,
        };
        let two = gpus(&[20000, 24000]);
        // (load, demand, expected GPU)
        let cases: Vec<(Vec<GpuLoad>, Demand, Option<usize>)> = vec![
            // Empty cards: the one with the most free memory.
            (
                vec![load(&[], 0, 20000), load(&[], 0, 24000)],
                demand(None, false),
                Some(1),
            ),
            // Unknown peak: one job of the shape per GPU.
            (
                vec![load(&["s"], 0, 20000), load(&["s"], 0, 24000)],
                demand(None, false),
                None,
            ),
            (
                vec![load(&["s"], 0, 20000), load(&[], 0, 24000)],
                demand(None, false),
                Some(1),
            ),
            // Known peak: pack while it fits with the margin.
            (
                vec![
                    load(&["s", "s"], 8000, 20000),
                    load(&["s", "s", "s"], 21000, 24000),
                ],
                demand(Some(4000), false),
                Some(0),
            ),
            (
                vec![load(&["s"], 16000, 20000), load(&["s"], 20000, 24000)],
                demand(Some(4000), false),
                None,
            ),
            // The cap on jobs per GPU.
            (
                vec![load(&["s"; 4], 4000, 20000), load(&["s"; 4], 4000, 24000)],
                demand(Some(10), false),
                None,
            ),
            // Exclusive: only an idle card.
            (
                vec![load(&[], 0, 20000), load(&["s"], 100, 24000)],
                demand(Some(100), true),
                Some(0),
            ),
        ];
        for (i, (l, d, want)) in cases.into_iter().enumerate() {
            assert_eq!(admit(&two, &l, &d, &p), want, "case {i}");
        }
    }

    #[test]
    fn a_card_filled_by_another_process_takes_nothing() {
        let p = Policy::default();
        let full = gpus(&[300]);
        assert_eq!(
            admit(&full, &[load(&[], 0, 24000)], &demand(None, false), &p),
            None
        );
        assert_eq!(
            admit(&full, &[load(&[], 0, 24000)], &demand(Some(100), false), &p),
            None
        );
    }

    #[test]
    fn simulated_gpus_parse() {
        let g = SimGpus::parse("2x24576").unwrap().snapshot().unwrap();
        assert_eq!(
            (g.len(), g[1].free_mib, g[1].uuid.as_str()),
            (2, 24576, "SIM-GPU-1")
        );
        assert!(SimGpus::parse("two").is_none());
    }
}
