//! Where a sweep's jobs may run: the GPUs NVML finds (narrowed by `--gpus` and
//! `CUDA_VISIBLE_DEVICES`), else the CPU cores split among concurrent jobs, or Slurm; and the
//! shape of a job that decides its peak GPU memory.

use std::collections::HashMap;

use super::nvml;
use super::place::{self, Gpus, Policy};
use crate::launch::Placement;

/// Where the sweep's jobs may run.
pub enum Hardware {
    Cpu {
        concurrent: usize,
        threads: usize,
    },
    Gpu {
        gpus: Box<dyn Gpus>,
        threads: usize,
        policy: Policy,
    },
    /// A Slurm cluster: every ready job is submitted at once with this request, and Slurm
    /// decides where and when it runs. `describe` is the request in words.
    Slurm {
        gpus: u32,
        threads: usize,
        describe: String,
    },
}

impl Hardware {
    /// GPUs when there are any (else the cores split among `jobs` concurrent CPU jobs), and
    /// the notice to print when falling back to the CPU.
    pub fn detect(
        gpus_flag: Option<&[u32]>,
        policy: Policy,
        cores: usize,
        jobs: usize,
    ) -> (Hardware, Option<String>) {
        let (gpus, notice) = nvml::open(gpus_flag);
        match gpus {
            Some(gpus) => {
                let n = gpus.snapshot().map(|g| g.len()).unwrap_or(1).max(1);
                (
                    Hardware::Gpu {
                        gpus,
                        threads: (cores / n).max(1),
                        policy,
                    },
                    notice,
                )
            }
            None => {
                let (concurrent, threads) = place::cpu_split(cores, jobs);
                (
                    Hardware::Cpu {
                        concurrent,
                        threads,
                    },
                    notice,
                )
            }
        }
    }

    /// Where each of `ids` would go if all started now: for `sweep plan`.
    pub fn preview(&self, ids: &[String]) -> HashMap<String, Placement> {
        let slots: Vec<Placement> = match self {
            Hardware::Cpu { threads, .. } => vec![Placement::Cpu { threads: *threads }],
            Hardware::Gpu { gpus, threads, .. } => gpus
                .snapshot()
                .unwrap_or_default()
                .into_iter()
                .map(|g| Placement::Gpu {
                    index: g.index,
                    uuid: g.uuid,
                    threads: *threads,
                })
                .collect(),
            Hardware::Slurm { gpus, threads, .. } => vec![Placement::Slurm {
                gpus: *gpus,
                threads: *threads,
            }],
        };
        let slots = if slots.is_empty() {
            vec![Placement::Cpu { threads: 1 }]
        } else {
            slots
        };
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), slots[i % slots.len()].clone()))
            .collect()
    }

    pub fn describe(&self) -> String {
        match self {
            Hardware::Cpu {
                concurrent,
                threads,
            } => format!("{concurrent} at a time on the CPU, {threads} threads each"),
            Hardware::Gpu { gpus, policy, .. } => {
                let g = gpus.snapshot().unwrap_or_default();
                format!(
                    "{} GPU(s) ({}), up to {} jobs per GPU",
                    g.len(),
                    g.iter()
                        .map(|g| format!("{} {}, {} MiB free", g.index, g.name, g.free_mib))
                        .collect::<Vec<_>>()
                        .join("; "),
                    policy.max_per_gpu
                )
            }
            Hardware::Slurm { describe, .. } => describe.clone(),
        }
    }
}

/// The shape of a job for memory purposes: what decides its peak GPU memory.
pub fn shape_of(cfg: &crate::spec::JobConfig) -> String {
    let model = serde_json::to_string(&cfg.model).unwrap_or_default();
    let fake = cfg.fake.as_ref().map(|f| f.memory_mib).unwrap_or(0);
    // A dataset on disk also fixes the head's class count (COCO 80, VOC 20, ...).
    let data = match &cfg.dataset {
        crate::spec::config::DatasetSpec::Synthetic(_) => String::new(),
        d => format!("{}/", d.kind()),
    };
    format!(
        "{model}/{data}{}px/b{}/f{fake}",
        cfg.dataset.image_size(),
        cfg.train.batch_size
    )
}
