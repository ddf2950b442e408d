//! Before anything is submitted: can some node of the cluster (of the partition, when one is
//! named) run one job as requested? A request larger than every node would wait in the queue
//! for ever (reason `PartitionConfig`); said at once instead, naming the setting to change.

use std::time::Duration;

use super::command;
use super::SlurmOptions;

/// What one node offers, as `sinfo` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSize {
    pub cpus: u32,
    pub mem_mib: u64,
    pub gpus: u32,
}

/// Parses `sinfo --noheader -N -o "%c %m %G"`: CPUs, memory (MiB) and generic resources per
/// node (`gpu:2`, `gpu:a100:4(S:0-1)`, `(null)`).
pub fn parse_sinfo(text: &str) -> Vec<NodeSize> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let cpus = f.next()?.trim_end_matches('+').parse().ok()?;
            let mem_mib = f.next()?.trim_end_matches('+').parse().ok()?;
            let gpus = f.next().map_or(0, gpu_count);
            Some(NodeSize {
                cpus,
                mem_mib,
                gpus,
            })
        })
        .collect()
}

/// GPUs in a gres list such as `gpu:2,shard:8` or `gpu:a100:4(S:0-1)`.
fn gpu_count(gres: &str) -> u32 {
    gres.split(',')
        .filter(|g| g.starts_with("gpu:"))
        .filter_map(|g| {
            let g = g.split('(').next().unwrap_or(g);
            g.rsplit(':').next()?.parse::<u32>().ok()
        })
        .sum()
}

/// `--mem` in MiB (`100M`, `16G`, `1T`, or plain megabytes as sbatch reads it).
pub fn mem_mib(mem: &str) -> Option<u64> {
    let mem = mem.trim();
    let (digits, unit) = match mem.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => mem.split_at(i),
        None => (mem, "M"),
    };
    let n: u64 = digits.parse().ok()?;
    match unit.to_ascii_uppercase().as_str() {
        "K" => Some(n / 1024),
        "M" | "MB" => Some(n),
        "G" | "GB" => Some(n * 1024),
        "T" | "TB" => Some(n * 1024 * 1024),
        _ => None,
    }
}

/// Why no node fits the request, naming the setting to change; `None` when one does.
pub fn misfit(opts: &SlurmOptions, nodes: &[NodeSize]) -> Option<String> {
    if nodes.is_empty() {
        return None;
    }
    let mem = opts.mem.as_deref().and_then(mem_mib);
    let fits = |n: &NodeSize| {
        n.cpus >= opts.cpus && n.gpus >= opts.gpus && mem.is_none_or(|m| n.mem_mib >= m)
    };
    if nodes.iter().any(fits) {
        return None;
    }
    let max_cpus = nodes.iter().map(|n| n.cpus).max().unwrap_or(0);
    let max_gpus = nodes.iter().map(|n| n.gpus).max().unwrap_or(0);
    let max_mem = nodes.iter().map(|n| n.mem_mib).max().unwrap_or(0);
    let mut wrong = Vec::new();
    if opts.cpus > max_cpus {
        wrong.push(format!(
            "{} CPUs per job, but the largest node has {max_cpus}: lower --cpus-per-job (executor.cpus_per_job)",
            opts.cpus
        ));
    }
    if opts.gpus > max_gpus {
        wrong.push(format!(
            "{} GPUs per job, but the most a node has is {max_gpus}: lower --gpus-per-job (executor.gpus_per_job; 0 runs on CPUs)",
            opts.gpus
        ));
    }
    if let Some(m) = mem.filter(|m| *m > max_mem) {
        wrong.push(format!(
            "{m} MiB of memory per job, but the largest node has {max_mem} MiB: lower --mem (executor.mem)"
        ));
    }
    if wrong.is_empty() {
        wrong.push(format!(
            "{} CPUs, {} GPUs and {} together, which no single node has: lower --cpus-per-job, --gpus-per-job or --mem",
            opts.cpus,
            opts.gpus,
            opts.mem.as_deref().unwrap_or("the default memory")
        ));
    }
    let place = opts
        .partition
        .as_deref()
        .map(|p| format!("partition {p}"))
        .unwrap_or_else(|| "the cluster".into());
    Some(format!(
        "no node of {place} can run a job as requested ({}); nothing was submitted",
        wrong.join("; ")
    ))
}

/// Asks `sinfo` for the nodes' sizes and checks the request against them. Slurm not
/// answering is no verdict: sbatch then says what is wrong.
pub fn check(opts: &SlurmOptions) -> Result<(), String> {
    let mut args: Vec<String> = ["--noheader", "-N", "-o", "%c %m %G"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(p) = &opts.partition {
        args.push(format!("--partition={p}"));
    }
    let Ok(text) = command::run("sinfo", &args, Duration::from_secs(30)) else {
        return Ok(());
    };
    match misfit(opts, &parse_sinfo(&text)) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(cpus: u32, gpus: u32, mem: Option<&str>) -> SlurmOptions {
        let mut o = SlurmOptions::from_spec(&crate::spec::ExecutorSpec::default());
        (o.cpus, o.gpus, o.mem) = (cpus, gpus, mem.map(String::from));
        o
    }

    #[test]
    fn node_sizes_are_read_from_sinfo() {
        let nodes = parse_sinfo("2 3900 (null)\n8 64000+ gpu:a100:4(S:0-1),shard:8\n");
        assert_eq!(
            nodes,
            vec![
                NodeSize {
                    cpus: 2,
                    mem_mib: 3900,
                    gpus: 0
                },
                NodeSize {
                    cpus: 8,
                    mem_mib: 64000,
                    gpus: 4
                }
            ]
        );
        assert_eq!(mem_mib("16G"), Some(16384));
        assert_eq!(mem_mib("100M"), Some(100));
        assert_eq!(mem_mib("2000"), Some(2000));
    }

    #[test]
    fn a_request_no_node_can_serve_names_the_setting() {
        let nodes = parse_sinfo("2 4000 gpu:2\n2 4000 gpu:2\n");
        assert_eq!(misfit(&opts(2, 1, Some("1G")), &nodes), None);
        let why = misfit(&opts(4, 1, None), &nodes).unwrap();
        assert!(
            why.contains("4 CPUs per job, but the largest node has 2: lower --cpus-per-job"),
            "{why}"
        );
        let why = misfit(&opts(1, 3, Some("8G")), &nodes).unwrap();
        assert!(
            why.contains("--gpus-per-job") && why.contains("--mem"),
            "{why}"
        );
        assert!(!why.contains("--cpus-per-job"), "{why}");
        let mixed = parse_sinfo("8 4000 (null)\n2 4000 gpu:2\n");
        let why = misfit(&opts(4, 1, None), &mixed).unwrap();
        assert!(why.contains("which no single node has"), "{why}");
    }
}
