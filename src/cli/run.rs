//! `sweep run` and `sweep resume`: expand, plan, check the tables, then hand the plan to the
//! scheduler with the executor the settings ask for, and render the tables when it returns.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::specs::{find_spec, load_spec, read_sweep, reload};
use super::until_resolved::{self as until, UntilArgs};
use super::{bad, code, cores, ExecArgs, SpecArgs};
use crate::execute::slurm::{SlurmExecutor, SlurmOptions};
use crate::execute::{local::LocalExecutor, Executor};
use crate::journal::{read_tolerant, write_atomic, write_json, JobDir, Read, SweepDir};
use crate::plan::{Plan, PlanFile};
use crate::report;
use crate::schedule::{self, place, Hardware, RunOptions, Summary};
use crate::spec::{ExecutorKind, ExecutorSpec, ReferenceFile, Spec};

pub(super) fn run(
    spec: &Path,
    out: Option<PathBuf>,
    args: &SpecArgs,
    exec: &ExecArgs,
    until: &UntilArgs,
) -> Result<u8> {
    let path = find_spec(spec)?;
    let spec = load_spec(&path, args)?;
    let reference = spec.read_reference().map_err(bad)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&spec.name));
    run_sweep(spec, reference, &SweepDir::new(dir), exec, true, until)
}

pub(super) fn resume(dir: &Path, exec: &ExecArgs, until: &UntilArgs) -> Result<u8> {
    let sweep = SweepDir::new(dir);
    let (spec, reference) = reload(&sweep)?;
    run_sweep(spec, reference, &sweep, exec, false, until)
}

/// Where jobs run: Slurm when the settings say so, else the GPUs found (or the CPU cores).
/// Returns a notice worth printing (e.g. why no GPU was found).
pub(super) fn hardware(
    settings: &ExecutorSpec,
    gpus: Option<&[u32]>,
    policy: place::Policy,
    plan: &Plan,
) -> (Hardware, Option<String>) {
    if settings.kind == Some(ExecutorKind::Slurm) {
        let o = SlurmOptions::from_spec(settings);
        let hw = Hardware::Slurm {
            gpus: o.gpus,
            threads: o.cpus as usize,
            describe: o.describe(),
        };
        return (hw, None);
    }
    // Every distinct job counts, done ones included, so the CPU split (and with it each
    // job's thread count) is the same on every rerun of the sweep.
    Hardware::detect(gpus, policy, cores(), plan.distinct_jobs())
}

fn run_sweep(
    spec: Spec,
    reference: Option<ReferenceFile>,
    sweep: &SweepDir,
    exec: &ExecArgs,
    fresh: bool,
    until: &UntilArgs,
) -> Result<u8> {
    let jobs = crate::expand::expand(&spec).map_err(bad)?;
    let spec_plan = Plan::new(jobs).map_err(bad)?;
    report::check_spec_tables(&spec, &spec_plan, reference.as_ref()).map_err(bad)?;
    sweep.create()?;
    let _lock = sweep.lock()?;
    // The spec's jobs and the seeds `--until-resolved` added (with its budget, if it goes on).
    let (mut added, budget) = until::start(sweep, &spec, until, fresh)?;
    let plan = until::plan(&spec, &added)?;
    // `run` takes the spec's executor section; `resume` what the sweep last ran with. The
    // command line wins over both.
    let executor_json = sweep.root.join("executor.json");
    for note in sweep.repair()? {
        eprintln!("sweep: {note}");
    }
    let earlier = match read_tolerant::<ExecutorSpec>(&executor_json) {
        _ if fresh => None,
        Read::Ok(e) => Some(e),
        Read::Missing => None,
        Read::Damaged(why) => {
            eprintln!("sweep: {} is not valid ({why}); the spec's executor settings apply, then the command line's", executor_json.display());
            None
        }
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
    let on_slurm = settings.kind == Some(ExecutorKind::Slurm);
    if on_slurm {
        crate::execute::slurm::fit::check(&SlurmOptions::from_spec(&settings)).map_err(bad)?;
        let root = std::path::absolute(&sweep.root)?;
        if let Some(why) = crate::execute::slurm::unrepresentable(&[&root]) {
            return Err(bad(why));
        }
    }
    if exec.detach && budget.is_some() {
        return Err(bad(
            "--until-resolved follows every round to its end: drop --detach",
        ));
    }
    if exec.detach && !on_slurm {
        return Err(bad("--detach needs the Slurm executor (--executor slurm, or executor: {kind: slurm} in the spec)"));
    }
    if !on_slurm {
        refuse_local_while_on_slurm(sweep, &plan)?;
    }
    write_json(&executor_json, &settings)?;
    let policy = place::Policy {
        max_per_gpu: exec.max_per_gpu,
        ..place::Policy::default()
    };
    // The spec's own jobs set the CPU split: seeds added later do not change it.
    let (hardware, notice) = hardware(&settings, exec.gpus.as_deref(), policy, &spec_plan);
    if let Some(n) = notice {
        eprintln!("sweep: {n}");
    }
    let file = PlanFile::new(&plan, &spec, &hardware.preview(&plan.ids()));
    // A new build may give the same rows new ids (its trainer schema changed): say so on
    // `resume` too, so a rerun of every job is not a surprise.
    report_changes(sweep, &file)?;
    if fresh {
        write_atomic(&sweep.spec_path(), spec.source.as_bytes())
            .with_context(|| format!("writing {}", sweep.spec_path().display()))?;
        if let Some(r) = &reference {
            let text = serde_json::to_string_pretty(r)?;
            write_atomic(&sweep.root.join("reference.yaml"), text.as_bytes())?;
        }
    }
    write_json(&sweep.plan_path(), &file)?;
    super::page::record_run(sweep, &hardware.describe());
    eprintln!(
        "sweep: {} jobs ({} distinct) in {}, {}",
        file.jobs.len(),
        plan.distinct_jobs(),
        sweep.root.display(),
        hardware.describe()
    );
    let worker = crate::launch::worker_program().map_err(bad)?;
    let executor: Box<dyn Executor> = if on_slurm {
        Box::new(SlurmExecutor::new(
            worker,
            SlurmOptions::from_spec(&settings),
        ))
    } else {
        Box::new(LocalExecutor::new(worker))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut live = super::page::Live::default();
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
    // Rounds of --until-resolved add jobs: plan.json grows with them before they start (and
    // is not written again when nothing changed: a full disk is then reported once, below).
    let mut written: Vec<String> = file.jobs.iter().map(|j| j.id.clone()).collect();
    let mut round = |plan: &Plan| -> Result<Summary> {
        let file = PlanFile::new(plan, &spec, &hardware.preview(&plan.ids()));
        let ids: Vec<String> = file.jobs.iter().map(|j| j.id.clone()).collect();
        if ids != written {
            write_json(&sweep.plan_path(), &file)?;
            written = ids;
        }
        let display = schedule::Display::for_stderr();
        runtime
            .block_on(schedule::run(sweep, &spec, plan, &hardware, executor.as_ref(), &opts, display, &mut refresh))
            .with_context(|| format!("stopped the sweep in {0} (nothing finished is lost; `sweep resume {0}` goes on once this is fixed)", sweep.root.display()))
    };
    let summary = match budget {
        None => round(&plan)?,
        Some(n) => until::drive(sweep, &spec, reference.as_ref(), &mut added, n, &mut round)?,
    };
    let record = read_sweep(sweep)?;
    let tables = report::write_tables(sweep, &record, &spec, reference.as_ref())?;
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
    match super::page::write(sweep, &record, &spec, tables, Some(false), None) {
        Ok(path) => eprintln!("sweep: report in {}", path.display()),
        Err(e) => eprintln!(
            "sweep: warning: could not write the report: {}",
            super::error_text(&e)
        ),
    }
    Ok(finish(sweep, summary))
}

/// The closing lines and the exit code of a run.
fn finish(sweep: &SweepDir, summary: Summary) -> u8 {
    let Summary {
        already_done,
        done,
        diverged,
        failed,
        interrupted,
        detached,
    } = summary;
    eprintln!("sweep: {done} done, {already_done} already done, {diverged} diverged, {failed} failed; tables in {}", sweep.tables_dir().display());
    if detached > 0 {
        eprintln!("sweep: {detached} jobs queued or running in Slurm; `sweep status {0}` shows them, `sweep resume {0}` follows them to the end", sweep.root.display());
    }
    if interrupted {
        code::INTERRUPTED
    } else if failed > 0 {
        code::JOB_FAILED
    } else {
        code::OK
    }
}

/// A local run must not start jobs that Slurm may still be running (two writers in a job dir).
fn refuse_local_while_on_slurm(sweep: &SweepDir, plan: &Plan) -> Result<()> {
    let unfinished: Vec<(String, PathBuf)> = plan
        .ids()
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
    let Read::Ok(old) = sweep.read_plan_file() else {
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
