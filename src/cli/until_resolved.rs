//! `sweep run SPEC --until-resolved [--max-seeds N]`: after the spec's seeds, one more seed per
//! round for the rows of each claim still unresolved, until every claim is settled or its rows
//! reach the budget; and the power line of `sweep plan`.
//!
//! Each round is an ordinary run of the sweep (plan.json rewritten with the added jobs first,
//! then the scheduler), so an interrupted loop loses nothing: the seeds it added are in
//! `until_resolved.json` before their jobs start, and the same command, or `sweep resume`,
//! runs what is missing and goes on deciding.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;

use super::bad;
use crate::journal::{read_tolerant, Event, JobStatus, Read, SweepDir, SweepRecord};
use crate::plan::{Plan, PlanFile};
use crate::report::{self, Claim, Verdict};
use crate::schedule::Summary;
use crate::spec::{ReferenceFile, Spec};
use crate::until_resolved::select::{self, ClaimState, Step};
use crate::until_resolved::{Added, Record, DEFAULT_MAX_SEEDS, FILE};

#[derive(clap::Args, Debug, Clone, Default)]
pub(super) struct UntilArgs {
    /// After the spec's seeds, add one seed at a time to the rows of the claims still
    /// unresolved, until every claim is settled or a row reaches --max-seeds
    #[arg(long)]
    until_resolved: bool,
    /// With --until-resolved: at most this many seeds per row [default: 10; `resume`: the
    /// budget the sweep last ran with]
    #[arg(long, value_name = "N", requires = "until_resolved")]
    max_seeds: Option<usize>,
}

/// The seeds added so far and the loop's budget for this run (None: no loop). `fresh`: a
/// `run` (the command line decides) rather than a `resume` (which goes on with the recorded
/// budget unless told otherwise).
pub(super) fn start(
    sweep: &SweepDir,
    spec: &Spec,
    args: &UntilArgs,
    fresh: bool,
) -> Result<(Record, Option<usize>)> {
    let (mut record, note) = Record::load(sweep, spec)?;
    if let Some(n) = note {
        eprintln!("sweep: {n}");
    }
    let budget = if args.until_resolved {
        let n = args
            .max_seeds
            .or(if fresh { None } else { record.max_seeds })
            .unwrap_or(DEFAULT_MAX_SEEDS);
        if n < 2 {
            return Err(bad(format!(
                "--max-seeds {n}: a claim needs at least 2 seeds a row; allowed: >= 2"
            )));
        }
        Some(n)
    } else if !fresh {
        record.max_seeds
    } else {
        None
    };
    if budget.is_some() && !spec.tables.iter().any(|t| !t.claims.is_empty()) {
        return Err(bad(format!(
            "--until-resolved: {} has no claims to settle (a table's `claims:`)",
            spec.path.display()
        )));
    }
    match budget {
        Some(n) if record.max_seeds != Some(n) => {
            record.max_seeds = Some(n);
            record.write(sweep)?;
        }
        None if !record.added.is_empty() => eprintln!(
            "sweep: {} seeds added earlier by --until-resolved are part of this sweep (add --until-resolved to go on settling its claims)",
            record.added.len()
        ),
        _ => {}
    }
    Ok((record, budget))
}

/// The sweep's plan: the spec's jobs and the added ones (a note for each that is left out).
pub(super) fn plan(spec: &Spec, record: &Record) -> Result<Plan> {
    let (jobs, notes) = record.expand(spec).map_err(bad)?;
    for n in notes {
        eprintln!("sweep: {n}");
    }
    Plan::new(jobs).map_err(bad)
}

/// The plan of a sweep directory from its spec and recorded seeds, read only (a damaged
/// record is left for `run` or `resume` to repair, and its seeds out until then).
pub(super) fn plan_on_disk(sweep: &SweepDir, spec: &Spec) -> Result<Plan> {
    let record = match read_tolerant::<Record>(&sweep.root.join(FILE)) {
        Read::Ok(r) => r,
        Read::Missing | Read::Damaged(_) => Record::default(),
    };
    let (jobs, _) = record.expand(spec).map_err(bad)?;
    Plan::new(jobs).map_err(bad)
}

/// Rounds until every claim is settled, the budget is spent, a job fails or the user stops
/// it. `round` runs one plan to its end (the same as a plain `sweep run`).
pub(super) fn drive(
    sweep: &SweepDir,
    spec: &Spec,
    reference: Option<&ReferenceFile>,
    record: &mut Record,
    max_seeds: usize,
    round: &mut dyn FnMut(&Plan) -> Result<Summary>,
) -> Result<Summary> {
    // A Ctrl-C between two rounds (the scheduler hears those during one) stops the loop too.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let mut total: Option<Summary> = None;
    let mut number = record.added.iter().map(|a| a.round).max().unwrap_or(0);
    loop {
        let ran = round(&plan(spec, record)?)?;
        let total = merge(&mut total, &ran);
        if ran.interrupted || stop.load(Ordering::SeqCst) {
            total.interrupted = true;
            eprintln!("sweep: until resolved: interrupted; the same command, or `sweep resume {}`, goes on from here", sweep.root.display());
            return Ok(total.clone());
        }
        if ran.failed > 0 || ran.detached > 0 {
            eprintln!("sweep: until resolved: stopped, no seeds added: {} jobs failed (fix the cause, then rerun)", ran.failed);
            return Ok(total.clone());
        }
        let now = super::specs::read_sweep(sweep)?;
        let claims = claims(spec, reference, &now);
        let mut seeds = row_seeds(&now.plan);
        let states: Vec<ClaimState> = claims.iter().map(|c| c.state.clone()).collect();
        let before = seeds.clone();
        let steps = select::next_round(&states, &mut seeds, max_seeds);
        eprintln!("sweep: until resolved, after round {number} (at most {max_seeds} seeds a row):");
        for (c, step) in claims.iter().zip(&steps) {
            eprintln!("  {}", line(c, step, &before));
        }
        let added: Vec<Added> = steps
            .iter()
            .flat_map(|s| match s {
                Step::Add { seed, rows } => rows.clone().into_iter().map(|r| (r, *seed)).collect(),
                _ => Vec::new(),
            })
            .collect::<BTreeSet<(String, u64)>>()
            .into_iter()
            .map(|(row, seed)| Added {
                row,
                seed,
                round: number + 1,
            })
            .collect();
        if added.is_empty() {
            eprintln!("sweep: until resolved: {}", closing(&steps, max_seeds));
            return Ok(total.clone());
        }
        number += 1;
        record.added.extend(added.iter().cloned());
        record.write(sweep)?;
        log_added(sweep, spec, record, &added)?;
    }
}

/// The summary of every round: the first round's "already done", everyone's counts.
fn merge<'a>(total: &'a mut Option<Summary>, ran: &Summary) -> &'a mut Summary {
    match total {
        None => *total = Some(ran.clone()),
        Some(t) => {
            t.done += ran.done;
            t.diverged += ran.diverged;
            t.failed += ran.failed;
            t.detached = ran.detached;
            t.interrupted |= ran.interrupted;
        }
    }
    total.as_mut().expect("set above")
}

/// One `seed_added` event per added job, in `events.jsonl`.
fn log_added(sweep: &SweepDir, spec: &Spec, record: &Record, added: &[Added]) -> Result<()> {
    let (jobs, _) = record.expand(spec).map_err(bad)?;
    let events = sweep.events()?;
    for a in added {
        if let Some(j) = jobs.iter().find(|j| j.row == a.row && j.seed == a.seed) {
            events.append(&Event {
                at: crate::journal::records_now(),
                job: j.id.clone(),
                status: JobStatus::SeedAdded {
                    row: a.row.clone(),
                    seed: a.seed,
                    round: a.round,
                },
            })?;
        }
    }
    events.close()?;
    Ok(())
}

/// A claim as the loop sees it.
struct ClaimView {
    table: String,
    claim: Claim,
    /// The text a percent table prints a raw difference with.
    scale: f64,
    state: ClaimState,
}

/// Every claim of every table, with the rows whose jobs enter it.
fn claims(spec: &Spec, reference: Option<&ReferenceFile>, now: &SweepRecord) -> Vec<ClaimView> {
    let mut out = Vec::new();
    for ts in &spec.tables {
        let name = ts.name.clone().unwrap_or_else(|| spec.name.clone());
        let table_ref = reference.and_then(|r| r.table(&name));
        let table = report::build(&now.plan, ts, table_ref.as_ref(), &now.jobs, &spec.name);
        let cells = report::claim_jobs(&now.plan, ts);
        for (claim, cell) in table.claims.into_iter().zip(cells) {
            let mut rows: Vec<String> = Vec::new();
            for j in cell.iter().flatten().flatten() {
                if !rows.contains(&j.row) {
                    rows.push(j.row.clone());
                }
            }
            let settled = matches!(claim.verdict, Verdict::Reproduced | Verdict::Contradicted);
            // No cell, or a side with no value after every job ran: seeds cannot help.
            let growable =
                cell.is_some() && !matches!(claim.verdict, Verdict::Pending | Verdict::NoSuchCell);
            out.push(ClaimView {
                table: name.clone(),
                claim,
                scale: table.delta_scale,
                state: ClaimState {
                    settled,
                    growable,
                    rows,
                },
            });
        }
    }
    out
}

/// The planned seeds of each row.
fn row_seeds(plan: &PlanFile) -> BTreeMap<String, BTreeSet<u64>> {
    let mut seeds: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for j in &plan.jobs {
        seeds.entry(j.row.clone()).or_default().insert(j.seed);
    }
    seeds
}

/// "A > B on AP (L1) [Batch Size]".
fn what(c: &Claim) -> String {
    let mut s = format!("{} > {} on {}", c.row, c.than, c.metric);
    if let Some(col) = &c.column {
        s = format!("{s} ({col})");
    }
    if let Some(sec) = &c.section {
        s = format!("{s} [{sec}]");
    }
    s
}

/// One claim's line after a round.
fn line(c: &ClaimView, step: &Step, seeds: &BTreeMap<String, BTreeSet<u64>>) -> String {
    let per_row: Vec<String> = c
        .state
        .rows
        .iter()
        .map(|r| format!("{r} {}", seeds.get(r).map_or(0, BTreeSet::len)))
        .collect();
    let holm = c
        .claim
        .holm_p
        .map(|p| format!(", Holm p {}", p_text(p)))
        .unwrap_or_default();
    let verdict = match c.claim.verdict {
        Verdict::Reproduced => "reproduced",
        Verdict::Contradicted => "contradicted",
        Verdict::Unresolved => "unresolved",
        Verdict::UnresolvedOneSeed => "unresolved (one seed)",
        Verdict::Pending => "no results",
        Verdict::NoSuchCell => "no such cell",
    };
    let what_next = match step {
        Step::Settled => "settled".to_string(),
        Step::Add { seed, rows } => {
            format!("still unresolved: seed {seed} added to {}", rows.join(", "))
        }
        Step::OutOfBudget => "still unresolved: its rows have the budget's seeds".into(),
        Step::Stuck => "cannot be settled by more seeds".into(),
    };
    let power = format!(
        "; the paper's difference needs {}",
        c.claim.seeds_needed.text(c.scale)
    );
    format!(
        "{}: {}: {what_next} ({verdict}{holm}; seeds a row: {}){power}",
        c.table,
        what(&c.claim),
        per_row.join(", ")
    )
}

fn p_text(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("= {p:.3}")
    }
}

/// The loop's last line.
fn closing(steps: &[Step], max_seeds: usize) -> String {
    let count = |f: fn(&Step) -> bool| steps.iter().filter(|s| f(s)).count();
    let budget = count(|s| matches!(s, Step::OutOfBudget));
    let stuck = count(|s| matches!(s, Step::Stuck));
    match (budget, stuck) {
        (0, 0) => format!("every claim is settled ({} claims)", steps.len()),
        (b, 0) => format!("the budget of {max_seeds} seeds a row is spent with {b} claims still unresolved (raise --max-seeds to go on)"),
        (0, s) => format!("{s} claims cannot be settled by more seeds (no such cell, or no results); the others are settled"),
        (b, s) => format!("the budget of {max_seeds} seeds a row is spent with {b} claims still unresolved; {s} cannot be settled by more seeds"),
    }
}

/// `sweep plan`'s power line: for each claim, the seeds a row that would settle a difference
/// of the paper's size at the spread the sweep directory's results show so far, or why that
/// cannot be known yet.
pub(super) fn print_power(
    spec: &Spec,
    reference: Option<&ReferenceFile>,
    dir: &Path,
) -> Result<()> {
    if spec.tables.iter().all(|t| t.claims.is_empty()) {
        return Ok(());
    }
    let sweep = SweepDir::new(dir);
    let plan = plan_on_disk(&sweep, spec)?;
    let file = PlanFile::new(&plan, spec, &std::collections::HashMap::new());
    let now = sweep.read_with(file);
    let seeds = row_seeds(&now.plan);
    let finished = now
        .jobs
        .values()
        .filter(|v| matches!(v, crate::journal::JobView::Result(_)))
        .count();
    println!(
        "\nSeeds a row to settle each claim, for a difference of the paper's size at the spread measured in {} ({finished} finished jobs of this plan):",
        dir.display()
    );
    for c in claims(spec, reference, &now) {
        let per_row: Vec<String> = c
            .state
            .rows
            .iter()
            .map(|r| format!("{r} {}", seeds.get(r).map_or(0, BTreeSet::len)))
            .collect();
        println!(
            "  {}: {}: {} (planned seeds a row: {})",
            c.table,
            what(&c.claim),
            c.claim.seeds_needed.text(c.scale),
            per_row.join(", ")
        );
    }
    Ok(())
}
