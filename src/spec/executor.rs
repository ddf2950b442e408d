//! The spec's `executor:` section: where jobs run and what one Slurm job asks for, with the
//! checks sbatch would otherwise make too late.

use serde::{Deserialize, Serialize};

use super::Value;

/// Where the jobs run, and what a Slurm job asks for (`executor:`). The command line's
/// `--executor`, `--partition`, ... override these; none of it is part of a job's id, so the
/// same spec finishes on a laptop what it started on a cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    /// `local` (child processes, the default) or `slurm` (one sbatch per job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ExecutorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Slurm's time limit of one job (`--time`): minutes, `H:MM:SS`, `D-HH:MM`, ...
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// GPUs of one job (`--gres=gpu:N`); 0 runs the jobs on CPUs. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_job: Option<u32>,
    /// CPUs of one job (`--cpus-per-task`, and the worker's threads). Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_job: Option<u32>,
    /// Host memory of one job (`--mem`, e.g. `16G`); default: the cluster's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub mem: Option<String>,
    /// Passed to sbatch as they are, after sweep's own options (so they win).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    Local,
    Slurm,
}

impl ExecutorSpec {
    /// These settings with every one that `over` gives replaced (its sbatch args added
    /// after these, so they win in sbatch too).
    pub fn overridden_by(&self, over: &ExecutorSpec) -> ExecutorSpec {
        ExecutorSpec {
            kind: over.kind.or(self.kind),
            partition: over.partition.clone().or_else(|| self.partition.clone()),
            account: over.account.clone().or_else(|| self.account.clone()),
            time: over.time.clone().or_else(|| self.time.clone()),
            qos: over.qos.clone().or_else(|| self.qos.clone()),
            gpus_per_job: over.gpus_per_job.or(self.gpus_per_job),
            cpus_per_job: over.cpus_per_job.or(self.cpus_per_job),
            mem: over.mem.clone().or_else(|| self.mem.clone()),
            sbatch_args: self
                .sbatch_args
                .iter()
                .chain(&over.sbatch_args)
                .cloned()
                .collect(),
        }
    }

    /// The checks `load` makes on the spec's section, for settings from elsewhere.
    pub fn check(&self) -> Result<(), String> {
        if let Some(t) = self.time.as_deref().filter(|t| !is_slurm_time(t)) {
            return Err(format!("--time {t} is not a Slurm time; allowed: minutes, MM:SS, H:MM:SS, D-H, D-H:MM, D-H:MM:SS or unlimited"));
        }
        if let Some(m) = self.mem.as_deref().filter(|m| !is_slurm_memory(m)) {
            return Err(format!("--mem {m} is not a Slurm memory size; allowed: a whole number with an optional K, M, G or T suffix, e.g. 16G"));
        }
        Ok(())
    }
}

/// `time: 90` and `time: "1:30:00"` are both Slurm times; keep either as text.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, found {other:?}"
        ))),
    }
}

/// Whether sbatch takes `text` as `--time`: minutes, minutes:seconds, hours:minutes:seconds,
/// days-hours, days-hours:minutes, days-hours:minutes:seconds, or unlimited.
pub fn is_slurm_time(text: &str) -> bool {
    let number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if text.eq_ignore_ascii_case("unlimited") || text.eq_ignore_ascii_case("infinite") {
        return true;
    }
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, text),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(number) && parts.len() <= 3 && parts.iter().all(|p| number(p))
}

/// Whether sbatch takes `text` as `--mem`: a whole number with an optional K, M, G or T.
pub fn is_slurm_memory(text: &str) -> bool {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    !digits.is_empty()
        && text.len() - digits.len() <= 1
        && digits.bytes().all(|b| b.is_ascii_digit())
}
