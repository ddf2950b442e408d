//! The worker's peak GPU memory: its own process as NVML lists it
//! ([`crate::schedule::nvml_process`]), sampled at each logged iteration and after the
//! evaluation, the largest kept. libtorch's caching allocator keeps what it took until the
//! process ends, so a sample after the evaluation also sees the evaluation's peak.
//!
//! A job on the CPU has no figure (absent from `result.json`, not 0); so has a GPU job whose
//! process NVML does not list.

use sweep::schedule::nvml_process::ProcessMemory;

const MIB: u64 = 1 << 20;

pub struct GpuPeak {
    nvml: Option<ProcessMemory>,
    pid: u32,
    peak_bytes: Option<u64>,
}

impl GpuPeak {
    /// Measures only when the job runs on a GPU.
    pub fn new(on_gpu: bool) -> GpuPeak {
        GpuPeak {
            nvml: on_gpu.then(ProcessMemory::open).flatten(),
            pid: std::process::id(),
            peak_bytes: None,
        }
    }

    /// Whether NVML is there to measure this process.
    pub fn measuring(&self) -> bool {
        self.nvml.is_some()
    }

    /// Samples the process's GPU memory now; returns the peak so far.
    pub fn sample(&mut self) -> Option<u64> {
        if let Some(now) = self.nvml.as_ref().and_then(|n| n.used_bytes(self.pid)) {
            self.observe(now);
        }
        self.peak_bytes
    }

    /// Counts a figure from elsewhere (a `fake` job's scripted memory when NVML has none).
    pub fn observe(&mut self, bytes: u64) {
        self.peak_bytes = Some(self.peak_bytes.map_or(bytes, |p| p.max(bytes)));
    }

    pub fn peak_bytes(&self) -> Option<u64> {
        self.peak_bytes
    }

    /// The peak in MiB, rounded up (the unit of the progress lines).
    pub fn peak_mib(&self) -> Option<u64> {
        self.peak_bytes.map(|b| b.div_ceil(MIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_job_has_no_peak_and_the_largest_figure_is_kept() {
        let mut p = GpuPeak::new(false);
        assert!(!p.measuring());
        assert_eq!(p.sample(), None);
        p.observe(3 * MIB);
        p.observe(MIB);
        assert_eq!((p.peak_bytes(), p.peak_mib()), (Some(3 * MIB), Some(3)));
        p.observe(3 * MIB + 1);
        assert_eq!(p.peak_mib(), Some(4));
    }
}
