//! The command line: thin wrappers that call one stage each, one file per command family.
//! The only user of anyhow. Nothing here links libtorch: `train` starts `sweep-worker`.

mod page;
mod plan;
mod run;
mod specs;
mod status;
mod tables;
mod train;
mod until_resolved;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use crate::spec;

/// Exit codes: 0 every job done (or diverged), 1 a job failed, 2 bad input, 130 interrupted.
pub mod code {
    pub const OK: u8 = 0;
    pub const JOB_FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser, Debug)]
#[command(
    name = "sweep",
    version,
    about = "Reproduce and extend the ablation tables of object-detection loss papers",
    after_help = "Example:\n  sweep run sweeps/ablation_ugs.yaml      # train every row, print the table\n  sweep table results/ablation_ugs        # the table again, as Markdown"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug, Clone, Default)]
struct SpecArgs {
    /// Override a spec key for every job, before hashing (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Pick one of the spec's `scales:` (default: quick, when the spec has it)
    #[arg(long)]
    scale: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
struct ExecArgs {
    /// Extra starts of a job after a crash or a timeout (with doubling back-off)
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Stop a job that runs longer than this many seconds (then retried as a timeout)
    #[arg(long, value_name = "SECONDS")]
    job_timeout: Option<f64>,
    /// Use only these GPUs (indices, e.g. 0,2); CUDA_VISIBLE_DEVICES is honoured too
    #[arg(long, value_delimiter = ',')]
    gpus: Option<Vec<u32>>,
    /// At most this many jobs on one GPU
    #[arg(long, default_value_t = 4)]
    max_per_gpu: usize,
    /// Where jobs run: child processes here, or one Slurm job each (default: the spec's
    /// executor.kind; `resume`: what the sweep last ran with; else local)
    #[arg(long, value_enum)]
    executor: Option<ExecutorArg>,
    /// Slurm partition of every job
    #[arg(long, help_heading = "Slurm")]
    partition: Option<String>,
    /// Slurm account to charge
    #[arg(long, help_heading = "Slurm")]
    account: Option<String>,
    /// Time limit of one job, as sbatch takes it (e.g. 90, 4:00:00, 1-12:00)
    #[arg(long, help_heading = "Slurm")]
    time: Option<String>,
    /// Slurm quality of service
    #[arg(long, help_heading = "Slurm")]
    qos: Option<String>,
    /// GPUs of one job (--gres=gpu:N; 0 runs the jobs on CPUs) [default: 1]
    #[arg(long, help_heading = "Slurm")]
    gpus_per_job: Option<u32>,
    /// CPUs of one job (--cpus-per-task, and the worker's threads) [default: 4]
    #[arg(long, help_heading = "Slurm")]
    cpus_per_job: Option<u32>,
    /// Memory of one job (--mem, e.g. 16G) [default: the cluster's]
    #[arg(long, help_heading = "Slurm")]
    mem: Option<String>,
    /// Give sbatch this argument as it is, after sweep's own (repeatable), e.g. --sbatch-arg=--constraint=a100
    #[arg(
        long = "sbatch-arg",
        value_name = "ARG",
        allow_hyphen_values = true,
        help_heading = "Slurm"
    )]
    sbatch_arg: Vec<String>,
    /// Submit what is ready (in order, by Slurm dependencies) and exit; follow later with
    /// `sweep status` and `sweep resume`
    #[arg(long, help_heading = "Slurm")]
    detach: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ExecutorArg {
    Local,
    Slurm,
}

impl ExecArgs {
    /// The executor settings given on the command line (they win over the spec's).
    fn executor_overrides(&self) -> spec::ExecutorSpec {
        spec::ExecutorSpec {
            kind: self.executor.map(|e| match e {
                ExecutorArg::Local => spec::ExecutorKind::Local,
                ExecutorArg::Slurm => spec::ExecutorKind::Slurm,
            }),
            partition: self.partition.clone(),
            account: self.account.clone(),
            time: self.time.clone(),
            qos: self.qos.clone(),
            gpus_per_job: self.gpus_per_job,
            cpus_per_job: self.cpus_per_job,
            mem: self.mem.clone(),
            sbatch_args: self.sbatch_arg.clone(),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Expand a spec into jobs, train those not done yet, and render its table
    #[command(
        after_help = "Examples:\n  sweep run sweeps/ablation_ugs.yaml\n  sweep run ablation_ugs.yaml --set train.iterations=50 --out /tmp/try\n\nA bare name that is not a file here is looked up in sweeps/. Running the same command\nagain finishes an interrupted sweep without redoing finished jobs."
    )]
    Run {
        /// The sweep spec (YAML)
        spec: PathBuf,
        /// Sweep directory (default: results/<spec name>/)
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        args: SpecArgs,
        #[command(flatten)]
        exec: ExecArgs,
        #[command(flatten)]
        until: until_resolved::UntilArgs,
    },
    /// Finish an interrupted sweep from its directory
    #[command(after_help = "Example:\n  sweep resume results/ablation_ugs")]
    Resume {
        dir: PathBuf,
        #[command(flatten)]
        exec: ExecArgs,
        #[command(flatten)]
        until: until_resolved::UntilArgs,
    },
    /// Show the state of every job of a sweep
    #[command(
        after_help = "Examples:\n  sweep status results/ablation_ugs\n  sweep status results/ablation_ugs --json | jq '.jobs[] | select(.state == \"failed\")'"
    )]
    Status {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Dry run: the expanded jobs, their ids and placement
    #[command(
        after_help = "Examples:\n  sweep plan sweeps/ablation_ugs.yaml\n  sweep plan ablation_ugs.yaml --json --set train.iterations=50"
    )]
    Plan {
        spec: PathBuf,
        #[command(flatten)]
        args: SpecArgs,
        #[arg(long)]
        json: bool,
        /// Use only these GPUs (indices)
        #[arg(long, value_delimiter = ',')]
        gpus: Option<Vec<u32>>,
        /// The sweep directory whose results the power line and the measured GPU memory come
        /// from (default: results/<spec name>/)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Render a sweep's table (also written to DIR/tables/)
    #[command(
        after_help = "Examples:\n  sweep table results/ablation_ugs\n  sweep table results/ablation_ugs --format tex > table.tex"
    )]
    Table {
        dir: PathBuf,
        #[arg(long, value_enum, default_value_t = FormatArg::Md)]
        format: FormatArg,
        /// Only this table (a spec may have several; default: all)
        #[arg(long)]
        name: Option<String>,
    },
    /// Draw a sweep's figures into DIR/plots/ (PNG and SVG): training curves per row, loss
    /// weights over iterations, metric vs each swept hyperparameter with seed error bars
    #[command(after_help = "Example:\n  sweep plot results/alwa")]
    Plot { dir: PathBuf },
    /// Train one config (no sweep) into a job directory
    #[command(after_help = "Example:\n  sweep train my_config.yaml --out runs/try1 --threads 2")]
    Train {
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Intra-op threads (default: all cores)
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
        device: DeviceArg,
    },
    /// Write one self-contained HTML page of a sweep (state, provenance, tables with the
    /// paper's numbers and claims, figures, every job): DIR/report.html unless --out says
    #[command(
        after_help = "Examples:\n  sweep report results/ablation_ugs\n  sweep report results/ablation_ugs --out ablation.html\n\n`sweep run` writes DIR/report.html too, and rewrites it as jobs finish."
    )]
    Report {
        dir: PathBuf,
        /// Where to write the page (links to the sweep's files stay relative to it)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Run a torchvision-layout RetinaNet from a weights file on images; write COCO results
    /// (`sweep predict --help` lists the options)
    #[command(disable_help_flag = true)]
    Predict {
        /// Passed to the trainer's `predict` (see `sweep predict --help`)
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "OPTIONS"
        )]
        args: Vec<std::ffi::OsString>,
    },
    /// The sweeps shipped with sweep: their tables, job counts and quick-scale times
    #[command(
        after_help = "Example:\n  sweep list\n  sweep run ablation_ugs     # any of them, from any directory"
    )]
    List,
    /// Evaluate COCO-format detections against COCO-format ground truth
    #[command(
        after_help = "Examples:\n  sweep eval --gt instances_val.json --dt detections.json\n  sweep eval --gt gt.json --dt dt.json --json\n  sweep eval --gt gt.json --dt dt.json --protocol voc07"
    )]
    Eval {
        #[arg(long)]
        gt: PathBuf,
        #[arg(long)]
        dt: PathBuf,
        #[arg(long, value_enum, default_value_t = ProtocolArg::Coco)]
        protocol: ProtocolArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    Md,
    Csv,
    Tex,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ProtocolArg {
    Coco,
    Voc07,
    Voc,
}

/// A bad-input error: printed, exit code 2.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(BadInput(e.to_string()))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `sweep status | head` should end quietly. (Workers, a separate program, keep SIGPIPE
    // ignored: a vanished orchestrator must not kill a training run whose files are the truth.)
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Bad input and a sweep that could not run at all (disk, lock) both exit 2.
            eprintln!("sweep: error: {}", error_text(&e));
            ExitCode::from(code::BAD_INPUT)
        }
    }
}

/// An error and its causes, each said once: many errors quote their cause in their own
/// message ("cannot write X: No space left on device"), so a cause whose text is already
/// there is left out instead of repeated.
pub(super) fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(part.trim()) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run {
            spec,
            out,
            args,
            exec,
            until,
        } => run::run(&spec, out, &args, &exec, &until),
        Command::Resume { dir, exec, until } => run::resume(&dir, &exec, &until),
        Command::Status { dir, json } => status::status(&dir, json),
        Command::Plot { dir } => tables::plot(&dir),
        Command::Plan {
            spec,
            args,
            json,
            gpus,
            out,
        } => plan::plan(&spec, &args, json, gpus.as_deref(), out.as_deref()),
        Command::Table { dir, format, name } => tables::table(&dir, format, name.as_deref()),
        Command::Train {
            config,
            out,
            threads,
            device,
        } => train::train(&config, &out, threads.unwrap_or_else(cores), device),
        Command::Report { dir, out } => page::command(&dir, out.as_deref()),
        Command::Predict { args } => train::predict(&args),
        Command::List => specs::list(),
        Command::Eval {
            gt,
            dt,
            protocol,
            json,
        } => train::eval(&gt, &dt, protocol, json),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_quoting_its_cause_is_said_once() {
        let io = std::io::Error::from_raw_os_error(28);
        let e = anyhow::Error::new(crate::journal::JournalError::Io {
            action: "write",
            path: "dir/state.json".into(),
            source: io,
        })
        .context("stopped the sweep in dir");
        let text = error_text(&e);
        assert_eq!(
            text,
            "stopped the sweep in dir: cannot write dir/state.json: No space left on device (os error 28)"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&plain), "outer: inner");
    }
}
