//! The command line: thin wrappers that call one stage each. The only user of anyhow.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::journal::{read_json, JobDir, JobStatus, SweepDir};
use crate::plan::{Plan, PlanFile};
use crate::report::{self, Format, JobView};
use crate::schedule::{self, place, Hardware, RunOptions, Summary};
use crate::spec::{self, Override, Spec};

mod page;

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
    },
    /// Finish an interrupted sweep from its directory
    #[command(after_help = "Example:\n  sweep resume results/ablation_ugs")]
    Resume {
        dir: PathBuf,
        #[command(flatten)]
        exec: ExecArgs,
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
    /// Run one job (started by the executors)
    #[command(hide = true)]
    Worker {
        dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
        device: DeviceArg,
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

impl From<DeviceArg> for crate::trainer::DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => crate::trainer::DeviceChoice::Auto,
            DeviceArg::Cpu => crate::trainer::DeviceChoice::Cpu,
            DeviceArg::Cuda => crate::trainer::DeviceChoice::Cuda(0),
        }
    }
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
    if !matches!(cli.command, Command::Worker { .. }) {
        // `sweep status | head` should end quietly. Workers keep SIGPIPE ignored: a vanished
        // orchestrator must not kill a training run whose files are the truth.
        // SAFETY: restoring the default disposition of one signal before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Bad input and a sweep that could not run at all (disk, lock) both exit 2.
            eprintln!("sweep: error: {e:#}");
            ExitCode::from(code::BAD_INPUT)
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run {
            spec,
            out,
            args,
            exec,
        } => {
            let path = find_spec(&spec)?;
            let spec = load_spec(&path, &args)?;
            let reference = spec.read_reference().map_err(bad)?;
            let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&spec.name));
            run_sweep(spec, reference, &SweepDir::new(dir), &exec, true)
        }
        Command::Resume { dir, exec } => {
            let sweep = SweepDir::new(&dir);
            let (spec, reference) = reload(&sweep)?;
            run_sweep(spec, reference, &sweep, &exec, false)
        }
        Command::Status { dir, json } => status(&SweepDir::new(dir), json),
        Command::Report { dir, out } => page::command(&dir, out.as_deref()),
        Command::Plot { dir } => {
            let sweep = SweepDir::new(&dir);
            if !sweep.plan_path().exists() {
                return Err(bad(crate::journal::JournalError::NotASweep { dir }));
            }
            let written = crate::plot::write_plots(&sweep.root).map_err(bad)?;
            for path in written {
                println!("{}", path.display());
            }
            Ok(code::OK)
        }
        Command::Plan {
            spec,
            args,
            json,
            gpus,
        } => {
            let path = find_spec(&spec)?;
            let spec = load_spec(&path, &args)?;
            let reference = spec.read_reference().map_err(bad)?;
            let plan = Plan::new(crate::expand::expand(&spec).map_err(bad)?).map_err(bad)?;
            check_tables(&spec, &plan, reference.as_ref())?;
            let (hardware, notice) = match spec.executor.kind {
                Some(spec::ExecutorKind::Slurm) => {
                    let o = crate::execute::slurm::SlurmOptions::from_spec(&spec.executor);
                    (
                        Hardware::Slurm {
                            gpus: o.gpus,
                            threads: o.cpus as usize,
                            describe: o.describe(),
                        },
                        None,
                    )
                }
                _ => Hardware::detect(
                    gpus.as_deref(),
                    place::Policy::default(),
                    cores(),
                    runnable_jobs(&plan),
                ),
            };
            let file = PlanFile::new(&plan, &spec, &hardware.preview(&plan_ids(&plan)));
            if let Some(n) = notice {
                eprintln!("sweep: {n}");
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&file)?);
            } else {
                print_plan(&file, &plan);
            }
            Ok(code::OK)
        }
        Command::Table { dir, format, name } => {
            let sweep = SweepDir::new(&dir);
            let format = match format {
                FormatArg::Md => Format::Markdown,
                FormatArg::Csv => Format::Csv,
                FormatArg::Tex => Format::Latex,
            };
            let (spec, reference) = reload(&sweep)?;
            let tables = write_tables(&sweep, &spec, reference.as_ref())?;
            let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
            if let Some(n) = &name {
                if !names.contains(&n.as_str()) {
                    return Err(bad(format!(
                        "{} has no table `{n}` (its tables: {})",
                        sweep.root.display(),
                        names.join(", ")
                    )));
                }
            }
            let chosen: Vec<&report::Table> = tables
                .iter()
                .filter(|t| name.as_ref().is_none_or(|n| &t.name == n))
                .collect();
            for (i, t) in chosen.iter().enumerate() {
                // CSV tables differ in columns: one blank line between them keeps them apart.
                if i > 0 {
                    println!();
                }
                print!("{}", format.render(t));
            }
            Ok(code::OK)
        }
        Command::Train {
            config,
            out,
            threads,
            device,
        } => {
            let cfg = spec::read_config(&config).map_err(bad)?;
            let job = JobDir::new(&out);
            let id = crate::expand::job_id(&cfg);
            let meta = crate::expand::JobMeta {
                id,
                row: config.display().to_string(),
                variant: String::new(),
                seed: cfg.train.seed,
                scale: None,
                overrides: Vec::new(),
            };
            job.prepare(&spec::config_to_yaml(&cfg), &meta)?;
            crate::worker::check_supported(&cfg).map_err(bad)?;
            let rc =
                crate::worker::run_interactive(&out, threads.unwrap_or_else(cores), device.into());
            if let Some(result) = job.read_result()? {
                println!("{}", serde_json::to_string_pretty(&result.metrics)?);
            }
            Ok(match rc {
                0 | 3 => code::OK,
                130 => code::INTERRUPTED,
                4 => code::BAD_INPUT,
                _ => code::JOB_FAILED,
            })
        }
        Command::Eval {
            gt,
            dt,
            protocol,
            json,
        } => {
            let protocol = match protocol {
                ProtocolArg::Coco => crate::eval::Protocol::Coco,
                ProtocolArg::Voc07 => crate::eval::Protocol::Voc07,
                ProtocolArg::Voc => crate::eval::Protocol::Voc,
            };
            let text = crate::eval::command(&gt, &dt, protocol, json).map_err(bad)?;
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(code::OK)
        }
        Command::Worker {
            dir,
            threads,
            device,
        } => {
            let rc = crate::worker::run(&dir, threads, device.into());
            Ok(u8::try_from(rc).unwrap_or(1))
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A spec path as given, or a bare name looked up in `sweeps/` (with or without `.yaml`).
fn find_spec(given: &Path) -> Result<PathBuf> {
    if given.is_file() {
        return Ok(given.to_path_buf());
    }
    if given.components().count() == 1 {
        for candidate in [
            Path::new("sweeps").join(given),
            Path::new("sweeps").join(given).with_extension("yaml"),
        ] {
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(bad(format!(
        "{}: no such spec file (also looked in sweeps/)",
        given.display()
    )))
}

fn load_spec(path: &Path, args: &SpecArgs) -> Result<Spec> {
    let overrides: Vec<Override> = args
        .set
        .iter()
        .map(|s| Override::parse(s))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    spec::load(path, args.scale.as_deref(), &overrides).map_err(bad)
}

/// The spec, overrides and scale a sweep directory was run with. Job directories are the
/// truth: without `plan.json` the scale and overrides come from any job's `job.json`.
fn reload(sweep: &SweepDir) -> Result<(Spec, Option<spec::ReferenceFile>)> {
    let (scale, overrides) = match read_json::<PlanFile>(&sweep.plan_path())? {
        Some(plan) => (plan.scale, plan.overrides),
        None => {
            let meta = first_job_meta(sweep).ok_or_else(|| {
                bad(crate::journal::JournalError::NotASweep {
                    dir: sweep.root.clone(),
                })
            })?;
            eprintln!(
                "sweep: {} is missing; rebuilding it from the job directories",
                sweep.plan_path().display()
            );
            (meta.scale, meta.overrides)
        }
    };
    if !sweep.spec_path().exists() {
        return Err(bad(crate::journal::JournalError::NotASweep {
            dir: sweep.root.clone(),
        }));
    }
    let plan = PlanFile {
        spec: String::new(),
        scale,
        overrides,
        jobs: Vec::new(),
    };
    let overrides: Vec<Override> = plan
        .overrides
        .iter()
        .map(|s| Override::parse(s))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    let spec = spec::load(&sweep.spec_path(), plan.scale.as_deref(), &overrides).map_err(bad)?;
    let ref_path = sweep.root.join("reference.yaml");
    let reference = if ref_path.exists() {
        Some(spec::read_reference(&ref_path).map_err(bad)?)
    } else {
        None
    };
    Ok((spec, reference))
}

fn first_job_meta(sweep: &SweepDir) -> Option<crate::expand::JobMeta> {
    let entries = std::fs::read_dir(sweep.root.join("jobs")).ok()?;
    entries
        .filter_map(|e| e.ok())
        .find_map(|e| read_json(&e.path().join("job.json")).ok().flatten())
}

/// Distinct jobs the trainer can run (done ones included, so the CPU split, and with it each
/// job's thread count, is the same on every rerun of the sweep).
fn runnable_jobs(plan: &Plan) -> usize {
    let order = plan.order().expect("checked when the plan was built");
    order
        .iter()
        .filter(|j| crate::worker::check_supported(&j.config).is_ok())
        .count()
}

fn plan_ids(plan: &Plan) -> Vec<String> {
    plan.order()
        .expect("checked when the plan was built")
        .iter()
        .map(|j| j.id.clone())
        .collect()
}

fn print_plan(file: &PlanFile, plan: &Plan) {
    println!(
        "{} jobs ({} distinct) for `{}`{}",
        file.jobs.len(),
        plan.distinct_jobs(),
        file.spec,
        file.scale
            .as_ref()
            .map(|s| format!(", scale {s}"))
            .unwrap_or_default()
    );
    for j in &file.jobs {
        let supported = crate::worker::check_supported(&j.config)
            .err()
            .map(|r| format!("  [not run: {r}]"))
            .unwrap_or_default();
        let after = if j.depends_on.is_empty() {
            String::new()
        } else {
            format!("  after {}", j.depends_on.join(", "))
        };
        println!(
            "  {}  {:<40} seed {:<3} {}{after}{}",
            j.id, j.row, j.seed, j.placement, supported
        );
    }
}

fn run_sweep(
    spec: Spec,
    reference: Option<spec::ReferenceFile>,
    sweep: &SweepDir,
    exec: &ExecArgs,
    fresh: bool,
) -> Result<u8> {
    let jobs = crate::expand::expand(&spec).map_err(bad)?;
    let plan = Plan::new(jobs).map_err(bad)?;
    check_tables(&spec, &plan, reference.as_ref())?;
    sweep.create()?;
    let _lock = sweep.lock()?;
    // `run` takes the spec's executor section; `resume` what the sweep last ran with. The
    // command line wins over both.
    let executor_json = sweep.root.join("executor.json");
    let earlier = if fresh {
        None
    } else {
        read_json::<spec::ExecutorSpec>(&executor_json)?
    };
    let settings = earlier
        .unwrap_or_else(|| spec.executor.clone())
        .overridden_by(&exec.executor_overrides());
    settings.check().map_err(|e| {
        bad(format!(
            "{e} (from the command line or {})",
            executor_json.display()
        ))
    })?;
    let slurm = (settings.kind == Some(spec::ExecutorKind::Slurm))
        .then(|| crate::execute::slurm::SlurmOptions::from_spec(&settings));
    if exec.detach && slurm.is_none() {
        return Err(bad("--detach needs the Slurm executor (--executor slurm, or executor: {kind: slurm} in the spec)"));
    }
    if slurm.is_none() {
        refuse_local_while_on_slurm(sweep, &plan)?;
    }
    crate::journal::write_json(&executor_json, &settings)?;
    let policy = place::Policy {
        max_per_gpu: exec.max_per_gpu,
        ..place::Policy::default()
    };
    let (hardware, notice) = match &slurm {
        Some(o) => (
            Hardware::Slurm {
                gpus: o.gpus,
                threads: o.cpus as usize,
                describe: o.describe(),
            },
            None,
        ),
        None => Hardware::detect(exec.gpus.as_deref(), policy, cores(), runnable_jobs(&plan)),
    };
    if let Some(n) = notice {
        eprintln!("sweep: {n}");
    }
    let file = PlanFile::new(&plan, &spec, &hardware.preview(&plan_ids(&plan)));
    if fresh {
        report_changes(sweep, &file)?;
        crate::journal::write_atomic(&sweep.spec_path(), spec.source.as_bytes())
            .with_context(|| format!("writing {}", sweep.spec_path().display()))?;
        if let Some(r) = &reference {
            let text = serde_json::to_string_pretty(r)?;
            crate::journal::write_atomic(&sweep.root.join("reference.yaml"), text.as_bytes())?;
        }
    }
    crate::journal::write_json(&sweep.plan_path(), &file)?;
    page::record_run(sweep, &hardware.describe());
    eprintln!(
        "sweep: {} jobs ({} distinct) in {}, {}",
        file.jobs.len(),
        plan.distinct_jobs(),
        sweep.root.display(),
        hardware.describe()
    );
    let exe = std::env::current_exe().context("finding the sweep binary to start workers")?;
    let executor: Box<dyn crate::execute::Executor> = match slurm {
        Some(opts) => Box::new(crate::execute::slurm::SlurmExecutor::new(exe, opts)),
        None => Box::new(crate::execute::local::LocalExecutor::new(exe)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut live = page::Live::default();
    let mut refresh = || live.refresh(sweep, &spec, reference.as_ref());
    // The page exists from the start, so that reloading it follows the run.
    refresh();
    let opts = RunOptions {
        retries: exec.retries,
        job_timeout: exec.job_timeout.map(std::time::Duration::from_secs_f64),
        gpu_memory_mib: spec.resources.gpu_memory_mib,
        detach: exec.detach,
        ..RunOptions::default()
    };
    let summary = runtime
        .block_on(schedule::run(sweep, &spec, &plan, &hardware, executor.as_ref(), &opts, schedule::Display::for_stderr(), &crate::worker::check_supported, &mut refresh))
        .with_context(|| format!("stopped the sweep in {0} (nothing finished is lost; `sweep resume {0}` goes on once this is fixed)", sweep.root.display()))?;
    let tables = write_tables(sweep, &spec, reference.as_ref())?;
    let Summary {
        already_done,
        done,
        diverged,
        failed,
        unsupported,
        interrupted,
        detached,
    } = summary;
    for table in &tables {
        println!("{}", report::markdown(table));
    }
    match crate::plot::write_plots(&sweep.root) {
        Ok(files) if !files.is_empty() => eprintln!(
            "sweep: {} figures in {}",
            files.len() / 2,
            sweep.root.join("plots").display()
        ),
        Ok(_) => {}
        Err(e) => eprintln!("sweep: warning: could not draw the figures: {e}"),
    }
    match page::write(sweep, &spec, tables, Some(false), None) {
        Ok(path) => eprintln!("sweep: report in {}", path.display()),
        Err(e) => eprintln!("sweep: warning: could not write the report: {e:#}"),
    }
    eprintln!("sweep: {done} done, {already_done} already done, {diverged} diverged, {failed} failed, {unsupported} not run (not implemented); tables in {}", sweep.tables_dir().display());
    if detached > 0 {
        eprintln!("sweep: {detached} jobs queued or running in Slurm; `sweep status {0}` shows them, `sweep resume {0}` follows them to the end", sweep.root.display());
    }
    Ok(if interrupted {
        code::INTERRUPTED
    } else if failed > 0 {
        code::JOB_FAILED
    } else {
        code::OK
    })
}

/// A local run must not start jobs that Slurm may still be running (two writers in a job dir).
fn refuse_local_while_on_slurm(sweep: &SweepDir, plan: &Plan) -> Result<()> {
    let unfinished: Vec<(String, PathBuf)> = plan_ids(plan)
        .into_iter()
        .map(|id| (id.clone(), sweep.job_dir(&id)))
        .filter(|(_, dir)| !JobDir::new(dir).result_path().exists())
        .collect();
    let active = crate::execute::slurm::unsettled(&unfinished);
    if let Some((job, slurm_id)) = active.first() {
        let id = slurm_id.as_deref().unwrap_or("not recorded");
        return Err(bad(format!(
            "{} unfinished jobs of this sweep were submitted to Slurm and may still run there (job {job}: slurm job {id}); continue with --executor slurm, or scancel them and delete their slurm.json",
            active.len()
        )));
    }
    Ok(())
}

/// On a rerun with a changed spec: which jobs are reused, new, or no longer in the spec.
fn report_changes(sweep: &SweepDir, file: &PlanFile) -> Result<()> {
    let Some(old) = read_json::<PlanFile>(&sweep.plan_path())? else {
        return Ok(());
    };
    let old_ids: std::collections::HashSet<&str> = old.jobs.iter().map(|j| j.id.as_str()).collect();
    let new_ids: std::collections::HashSet<&str> =
        file.jobs.iter().map(|j| j.id.as_str()).collect();
    let (reused, added) = (
        new_ids.intersection(&old_ids).count(),
        new_ids.difference(&old_ids).count(),
    );
    let orphaned: Vec<&&str> = old_ids.difference(&new_ids).collect();
    if added > 0 || !orphaned.is_empty() {
        eprintln!("sweep: the spec changed: {reused} jobs reused, {added} new, {} no longer in the spec (kept in jobs/)", orphaned.len());
    }
    Ok(())
}

fn job_views(sweep: &SweepDir, file: &PlanFile) -> Result<BTreeMap<String, JobView>> {
    let mut views = BTreeMap::new();
    for j in &file.jobs {
        let dir = JobDir::new(sweep.job_dir(&j.id));
        if let Some(r) = dir.read_result()? {
            views.insert(j.id.clone(), JobView::Result(r));
        } else if let Some(s) = dir.read_state()? {
            views.insert(j.id.clone(), JobView::Status(s.status));
        }
    }
    Ok(views)
}

/// Renders every table of the spec into `DIR/tables/<name>.{md,csv,tex}` (atomically).
fn write_tables(
    sweep: &SweepDir,
    spec: &Spec,
    reference: Option<&spec::ReferenceFile>,
) -> Result<Vec<report::Table>> {
    let file: PlanFile = read_json(&sweep.plan_path())?.ok_or_else(|| {
        bad(crate::journal::JournalError::NotASweep {
            dir: sweep.root.clone(),
        })
    })?;
    let views = job_views(sweep, &file)?;
    std::fs::create_dir_all(sweep.tables_dir())?;
    let mut tables = Vec::new();
    for table_spec in &spec.tables {
        let name = table_spec.name.clone().unwrap_or_else(|| spec.name.clone());
        let table_ref = reference.and_then(|r| r.table(&name));
        let table = report::build(&file, table_spec, table_ref.as_ref(), &views, &spec.name);
        for f in [Format::Markdown, Format::Csv, Format::Latex] {
            let path = sweep
                .tables_dir()
                .join(format!("{}.{}", table.name, f.extension()));
            crate::journal::write_atomic(&path, f.render(&table).as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        tables.push(table);
    }
    Ok(tables)
}

/// Every table's rows, baselines and claims against the expanded jobs, before anything runs.
fn check_tables(spec: &Spec, plan: &Plan, reference: Option<&spec::ReferenceFile>) -> Result<()> {
    let file = PlanFile::new(plan, spec, &HashMap::new());
    let mut errors = Vec::new();
    for (i, t) in spec.tables.iter().enumerate() {
        let name = t.name.clone().unwrap_or_else(|| spec.name.clone());
        let table_ref = reference.and_then(|r| r.table(&name));
        for (key, problem, allowed) in report::check(&file, t, table_ref.as_ref()) {
            errors.push(spec.table_error(i, &key, problem, allowed));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(bad(spec::SpecErrors(errors)))
    }
}

fn status(sweep: &SweepDir, json: bool) -> Result<u8> {
    let file: PlanFile = read_json(&sweep.plan_path())?.ok_or_else(|| {
        bad(crate::journal::JournalError::NotASweep {
            dir: sweep.root.clone(),
        })
    })?;
    let views = job_views(sweep, &file)?;
    let slurm = slurm_views(sweep, &file, &views);
    let mut rows = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for j in &file.jobs {
        if !seen.insert(j.id.clone()) {
            continue;
        }
        let on_slurm = slurm
            .get(&j.id)
            .filter(|_| !matches!(views.get(&j.id), Some(JobView::Result(_))));
        let (state, place, metrics) = match views.get(&j.id) {
            Some(JobView::Result(r)) => (r.status.clone(), None, Some(r.metrics.clone())),
            _ if on_slurm.is_some_and(|v| v.stage() != "gone") => {
                let v = on_slurm.expect("checked just above");
                let place = match v.stage() {
                    "queued" => format!("slurm job {} ({})", v.slurm_id, v.reason),
                    "running" => format!("slurm job {} on {}", v.slurm_id, v.node),
                    _ => format!(
                        "slurm job {}: {} ({}); `sweep resume` handles it",
                        v.slurm_id, v.state, v.reason
                    ),
                };
                (v.stage().to_string(), Some(place), None)
            }
            Some(JobView::Status(JobStatus::Running {
                pid,
                started,
                placement,
            })) => {
                let live = *started != None && crate::journal::process_start(*pid) == *started;
                (
                    if live { "running" } else { "interrupted" }.to_string(),
                    Some(placement.clone()),
                    None,
                )
            }
            Some(JobView::Status(s)) => (state_name(s), None, None),
            None => ("pending".to_string(), None, None),
        };
        let progress = last_progress(&JobDir::new(sweep.job_dir(&j.id)));
        *counts.entry(state.clone()).or_default() += 1;
        let (iteration, iterations, elapsed) = progress.unwrap_or((0, 0, 0.0));
        let eta = (iteration > 0 && state == "running")
            .then(|| elapsed / iteration as f64 * (iterations.saturating_sub(iteration)) as f64);
        let slurm = on_slurm.map(|v| serde_json::json!({"id": v.slurm_id, "state": v.state, "reason": v.reason, "node": v.node}));
        rows.push(serde_json::json!({"id": j.id, "row": j.row, "seed": j.seed, "state": state, "place": place,
            "iteration": iteration, "iterations": iterations, "elapsed": elapsed, "eta": eta, "metrics": metrics, "slurm": slurm}));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"spec": file.spec, "counts": counts, "jobs": rows})
            )?
        );
        return Ok(code::OK);
    }
    println!(
        "{}: {}",
        file.spec,
        counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for r in &rows {
        let ap = r["metrics"]["AP"]
            .as_f64()
            .map(|v| format!("AP {:.1}", v * 100.0))
            .unwrap_or_default();
        let it = match r["iterations"].as_u64() {
            Some(n) if n > 0 && ap.is_empty() => format!(
                "it {}/{n}  {:.0} s",
                r["iteration"],
                r["elapsed"].as_f64().unwrap_or(0.0)
            ),
            _ => String::new(),
        };
        let eta = r["eta"]
            .as_f64()
            .map(|e| format!("  eta {e:.0} s"))
            .unwrap_or_default();
        let place = r["place"]
            .as_str()
            .map(|p| format!("  on {p}"))
            .unwrap_or_default();
        println!(
            "  {}  {:<12} {:<40} seed {:<3} {ap}{it}{eta}{place}",
            r["id"].as_str().unwrap_or(""),
            r["state"].as_str().unwrap_or(""),
            r["row"].as_str().unwrap_or(""),
            r["seed"]
        );
    }
    Ok(code::OK)
}

/// What Slurm says of the unfinished jobs of a sweep that ran there (none for a local sweep).
/// Slurm not answering is a warning: the job directories still tell most of the story.
fn slurm_views(
    sweep: &SweepDir,
    file: &PlanFile,
    views: &BTreeMap<String, JobView>,
) -> BTreeMap<String, crate::execute::slurm::SlurmView> {
    let unfinished: Vec<(String, PathBuf)> = file
        .jobs
        .iter()
        .filter(|j| !matches!(views.get(&j.id), Some(JobView::Result(_))))
        .map(|j| (j.id.clone(), sweep.job_dir(&j.id)))
        .filter(|(_, dir)| crate::execute::slurm::has_record(dir))
        .collect();
    if unfinished.is_empty() {
        return BTreeMap::new();
    }
    crate::execute::slurm::survey(&unfinished).unwrap_or_else(|e| {
        eprintln!("sweep: warning: cannot ask Slurm about this sweep's jobs ({e}); showing the job directories only");
        BTreeMap::new()
    })
}

/// The last progress line of a job's log: (iteration, iterations, elapsed seconds).
fn last_progress(job: &JobDir) -> Option<(u64, u64, f64)> {
    let text = std::fs::read_to_string(job.log_path()).ok()?;
    text.lines()
        .rev()
        .find_map(|line| match serde_json::from_str(line).ok()? {
            crate::worker::protocol::WorkerMessage::Progress {
                iteration,
                iterations,
                elapsed,
                ..
            } => Some((iteration, iterations, elapsed)),
            _ => None,
        })
}

fn state_name(s: &JobStatus) -> String {
    match s {
        JobStatus::Pending => "pending",
        JobStatus::Running { .. } => "running",
        JobStatus::Done => "done",
        JobStatus::Diverged { .. } => "diverged",
        JobStatus::Failed { .. } => "failed",
        JobStatus::Unsupported { .. } => "unsupported",
    }
    .into()
}
