//! Which jobs enter a claim: the plan entries of its two cells (row and `than`, in its
//! sub-table and column group), found the way [`super::build`] finds them, so seeds added to
//! settle a claim land exactly where its test reads them.

use super::build::{layout, place};
use crate::plan::{PlanFile, PlannedJob};
use crate::spec::TableSpec;

/// Each claim of `spec`, in order: the plan entries of its row's cell and of its `than` cell
/// (None: the claim names a cell the table does not have).
pub fn claim_jobs<'a>(
    plan: &'a PlanFile,
    spec: &TableSpec,
) -> Vec<Option<[Vec<&'a PlannedJob>; 2]>> {
    let placed = place(plan, spec);
    let (layouts, groups) = layout(spec, &placed);
    spec.claims
        .iter()
        .map(|cl| {
            // The first column group with the metric, unless the claim names one (as build
            // picks the claim's column); every group has every metric.
            let group = match &cl.column {
                None => groups.first()?.clone(),
                Some(c) => groups
                    .iter()
                    .find(|g| g.as_deref() == Some(c.as_str()))?
                    .clone(),
            };
            if !spec.metrics.contains(&cl.metric) {
                return None;
            }
            let cell = |row: &str| -> Option<Vec<&'a PlannedJob>> {
                let (lay_key, key) = layouts.iter().find_map(|l| {
                    if cl
                        .section
                        .as_deref()
                        .is_some_and(|s| l.header.as_deref() != Some(s))
                    {
                        return None;
                    }
                    let (k, _) = l.rows.iter().find(|(k, s)| k == row || s == row)?;
                    Some((l.key.clone(), k.clone()))
                })?;
                let mut jobs: Vec<&PlannedJob> = Vec::new();
                for p in &placed {
                    if p.section == lay_key
                        && p.row == key
                        && p.group == group
                        && !jobs.iter().any(|j| j.id == p.job.id)
                    {
                        jobs.push(p.job);
                    }
                }
                Some(jobs)
            };
            Some([cell(&cl.row)?, cell(&cl.than)?])
        })
        .collect()
}
