//! The GPU memory NVML sees one process use: what a worker reads of itself to report its peak
//! (beside [`super::nvml`], the other file that names nvml-wrapper).
//!
//! NVML counts what the driver gave the process (the CUDA context and everything libtorch's
//! caching allocator holds), i.e. what another job on the same card cannot have: the figure
//! placement needs. A process NVML does not list (another PID namespace, as in some
//! containers, or a driver that hides per-process usage) has no figure, never a zero.

use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::Nvml;

/// NVML opened on the GPUs a process was given.
pub struct ProcessMemory {
    nvml: Nvml,
    /// Indices of the devices to look at (`CUDA_VISIBLE_DEVICES`, else all).
    devices: Vec<u32>,
}

impl ProcessMemory {
    /// NVML on the devices of `CUDA_VISIBLE_DEVICES` (indices or UUIDs; unset: every device);
    /// `None` when there is no NVML library or no such device.
    pub fn open() -> Option<ProcessMemory> {
        let nvml = Nvml::init().ok()?;
        let count = nvml.device_count().ok()?;
        let devices: Vec<u32> = match std::env::var("CUDA_VISIBLE_DEVICES") {
            Ok(v) if !v.trim().is_empty() => v
                .split(',')
                .filter_map(|s| {
                    let s = s.trim();
                    s.parse::<u32>().ok().or_else(|| {
                        let uuid = nvml.device_by_uuid(s).ok()?;
                        uuid.index().ok()
                    })
                })
                .filter(|i| *i < count)
                .collect(),
            _ => (0..count).collect(),
        };
        (!devices.is_empty()).then_some(ProcessMemory { nvml, devices })
    }

    /// Bytes of GPU memory process `pid` holds now, summed over the devices; `None` when NVML
    /// lists it on none of them (or cannot say how much it holds).
    pub fn used_bytes(&self, pid: u32) -> Option<u64> {
        let mut total = None;
        for &i in &self.devices {
            let Ok(device) = self.nvml.device_by_index(i) else {
                continue;
            };
            let Ok(processes) = device.running_compute_processes() else {
                continue;
            };
            for p in processes.iter().filter(|p| p.pid == pid) {
                if let UsedGpuMemory::Used(bytes) = p.used_gpu_memory {
                    *total.get_or_insert(0) += bytes;
                }
            }
        }
        total
    }
}
