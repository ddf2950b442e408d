//! GPUs found through NVML: with [`super::nvml_process`], the only files that name nvml-wrapper.
//! No driver library, or no device, means "no GPU" (the CPU placer takes over), never an error.

use nvml_wrapper::Nvml;

use super::place::{GpuState, Gpus, SimGpus};

pub struct NvmlGpus {
    nvml: Nvml,
}

impl Gpus for NvmlGpus {
    fn snapshot(&self) -> Result<Vec<GpuState>, String> {
        let count = self.nvml.device_count().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for i in 0..count {
            let d = self.nvml.device_by_index(i).map_err(|e| e.to_string())?;
            let mem = d.memory_info().map_err(|e| e.to_string())?;
            out.push(GpuState {
                index: i,
                uuid: d.uuid().unwrap_or_else(|_| format!("GPU-{i}")),
                name: d.name().unwrap_or_else(|_| "unknown".into()),
                total_mib: mem.total / (1 << 20),
                free_mib: mem.free / (1 << 20),
                utilization: d.utilization_rates().map(|u| u.gpu).unwrap_or(0),
            });
        }
        Ok(out)
    }
}

/// Only the GPUs this sweep may use.
struct Selected {
    inner: Box<dyn Gpus>,
    allowed: Option<Vec<u32>>,
}

impl Gpus for Selected {
    fn snapshot(&self) -> Result<Vec<GpuState>, String> {
        let mut gpus = self.inner.snapshot()?;
        if let Some(allowed) = &self.allowed {
            gpus.retain(|g| allowed.contains(&g.index));
        }
        Ok(gpus)
    }
}

/// Indices in `CUDA_VISIBLE_DEVICES`, when it is a list of indices (UUIDs are not narrowed).
fn visible_devices() -> Option<Vec<u32>> {
    let text = std::env::var("CUDA_VISIBLE_DEVICES").ok()?;
    let ids: Vec<u32> = text
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    (ids.len() == text.split(',').count() || text.trim().is_empty()).then_some(ids)
}

/// The GPUs a sweep may use: `SWEEP_SIM_GPUS` (tests), else NVML, narrowed to `--gpus` and
/// `CUDA_VISIBLE_DEVICES`. `None` with a one-line notice when there are none.
pub fn open(gpus_flag: Option<&[u32]>) -> (Option<Box<dyn Gpus>>, Option<String>) {
    let inner: Box<dyn Gpus> = match std::env::var("SWEEP_SIM_GPUS")
        .ok()
        .and_then(|s| SimGpus::parse(&s))
    {
        Some(sim) => Box::new(sim),
        None => match Nvml::init() {
            Ok(nvml) => Box::new(NvmlGpus { nvml }),
            Err(_) => {
                return (
                    None,
                    Some("no NVML library (no GPU driver): running on the CPU".into()),
                )
            }
        },
    };
    let allowed = match (gpus_flag, visible_devices()) {
        (Some(f), Some(v)) => Some(f.iter().copied().filter(|i| v.contains(i)).collect()),
        (Some(f), None) => Some(f.to_vec()),
        (None, v) => v,
    };
    let selected = Selected { inner, allowed };
    match selected.snapshot() {
        Ok(g) if !g.is_empty() => (Some(Box::new(selected)), None),
        Ok(_) => (None, Some("no GPU found: running on the CPU".into())),
        Err(e) => (None, Some(format!("NVML failed ({e}): running on the CPU"))),
    }
}
