//! `sweep plan`: the dry run. The expanded jobs, their ids, dependencies and placement, with the
//! tables checked against them, exactly as `sweep run` would start them.

use std::path::Path;

use anyhow::Result;

use super::specs::{find_spec, load_spec};
use super::{bad, code, SpecArgs};
use crate::plan::{Plan, PlanFile};
use crate::report;
use crate::schedule::{peaks, place, Hardware};

pub(super) fn plan(
    spec: &Path,
    args: &SpecArgs,
    json: bool,
    gpus: Option<&[u32]>,
    out: Option<&Path>,
) -> Result<u8> {
    let path = find_spec(spec)?;
    let spec = load_spec(&path, args)?;
    let reference = spec.read_reference().map_err(bad)?;
    let plan = Plan::new(crate::expand::expand(&spec).map_err(bad)?).map_err(bad)?;
    report::check_spec_tables(&spec, &plan, reference.as_ref()).map_err(bad)?;
    let (hardware, notice) =
        super::run::hardware(&spec.executor, gpus, place::Policy::default(), &plan);
    let file = PlanFile::new(&plan, &spec, &hardware.preview(&plan.ids()));
    if let Some(n) = notice {
        eprintln!("sweep: {n}");
    }
    // What each shape's jobs reserve on a GPU: measured by the sweep's finished jobs (in its
    // directory, `results/<name>` unless --out says), else the spec's estimate.
    let dir = out.map_or_else(|| Path::new("results").join(&spec.name), Path::to_path_buf);
    let memory = peaks::of_plan(
        &crate::journal::SweepDir::new(dir.clone()),
        &file.jobs,
        spec.resources.gpu_memory_mib,
    );
    if json {
        let mut doc = serde_json::to_value(&file)?;
        doc["gpu_memory"] = peaks::to_json(&memory);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_plan(&file, &plan);
        if matches!(hardware, Hardware::Gpu { .. }) || peaks::any_known(&memory) {
            for line in peaks::describe_lines(&memory) {
                println!("{line}");
            }
        }
        super::until_resolved::print_power(&spec, reference.as_ref(), &dir)?;
    }
    Ok(code::OK)
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
        let after = if j.depends_on.is_empty() {
            String::new()
        } else {
            format!("  after {}", j.depends_on.join(", "))
        };
        println!(
            "  {}  {:<40} seed {:<3} {}{after}",
            j.id, j.row, j.seed, j.placement
        );
    }
}
