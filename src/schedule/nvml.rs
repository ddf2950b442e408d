//! GPUs found through NVML: the only file that names nvml-wrapper. No driver library, or no
//! device, means "no GPU" (the CPU placer takes over), never an error.

use nvml_wrapper::Nvml;

use super::place::{GpuState, Gpus};

pub struct NvmlGpus {
    nvml: Nvml,
}

impl NvmlGpus {
    /// `None` when NVML cannot be loaded or initialised (no driver): the caller falls back to CPU.
    pub fn init() -> Option<NvmlGpus> {
        Nvml::init().ok().map(|nvml| NvmlGpus { nvml })
    }
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

/// The GPUs this sweep may use: `SWEEP_SIM_GPUS` (tests), else NVML, else none. Honours
/// `CUDA_VISIBLE_DEVICES` when it lists indices.
pub fn discover() -> (Vec<GpuState>, Option<String>) {
    let found = if let Some(sim) = std::env::var("SWEEP_SIM_GPUS").ok().and_then(|s| super::place::SimGpus::parse(&s)) {
        sim.snapshot()
    } else {
        match NvmlGpus::init() {
            Some(n) => n.snapshot(),
            None => return (Vec::new(), Some("no NVML library (no GPU driver): running on the CPU".into())),
        }
    };
    let mut gpus = match found {
        Ok(g) => g,
        Err(e) => return (Vec::new(), Some(format!("NVML failed ({e}): running on the CPU"))),
    };
    if let Ok(visible) = std::env::var("CUDA_VISIBLE_DEVICES") {
        let allowed: Vec<u32> = visible.split(',').filter_map(|s| s.trim().parse().ok()).collect();
        if !visible.trim().is_empty() && allowed.len() == visible.split(',').count() {
            gpus.retain(|g| allowed.contains(&g.index));
        }
    }
    let notice = gpus.is_empty().then(|| "no GPU found: running on the CPU".to_string());
    (gpus, notice)
}
