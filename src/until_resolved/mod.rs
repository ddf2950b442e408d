//! Seeds added to a sweep to settle its claims (`sweep run --until-resolved`).
//!
//! An added seed is an ordinary job of an existing row: the row's config with another
//! `train.seed`, its id from the same hash. The sweep directory records which (row, seed)
//! pairs were added in `until_resolved.json` (written atomically, before the jobs start), and
//! every expansion of the sweep — `run`, `resume`, a rebuilt `plan.json` — adds them to the
//! spec's own jobs, so `status`, the tables and the report count them like any seed. Each
//! added job also gets a `seed_added` line in `events.jsonl`.

pub mod select;

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::expand::{expand, expand_seeds, Job, JobMeta};
use crate::journal::{read_tolerant, set_aside, write_json, JournalError, Read, SweepDir};
use crate::spec::{Spec, SpecErrors};

/// The record's file in the sweep directory.
pub const FILE: &str = "until_resolved.json";

/// Seeds per row at which `--until-resolved` stops when `--max-seeds` is not given.
pub const DEFAULT_MAX_SEEDS: usize = 10;

/// `until_resolved.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The seeds-per-row budget the loop last ran with; None when it never ran here (the
    /// record was rebuilt from job directories). `sweep resume` goes on with it.
    #[serde(default)]
    pub max_seeds: Option<usize>,
    /// Every seed added, in the order it was added.
    #[serde(default)]
    pub added: Vec<Added>,
}

/// One row given one more seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    /// The row's label, as in `plan.json` (variant, plus the grid point when there is one).
    pub row: String,
    pub seed: u64,
    /// The loop's round that added it (1 = after the spec's own seeds); 0 when rebuilt.
    pub round: u32,
}

impl Record {
    /// The sweep's record: none yet is an empty one; a damaged one is moved aside and rebuilt
    /// from the job directories (each `job.json` whose seed the spec does not list and whose id
    /// is what the spec gives that row with that seed). Returns what to tell the user.
    pub fn load(sweep: &SweepDir, spec: &Spec) -> Result<(Record, Option<String>), JournalError> {
        let path = sweep.root.join(FILE);
        match read_tolerant::<Record>(&path) {
            Read::Ok(r) => Ok((r, None)),
            Read::Missing => Ok((Record::default(), None)),
            Read::Damaged(why) => {
                let aside = set_aside(&path)?;
                let record = Record::rebuild(sweep, spec);
                write_json(&path, &record)?;
                let note = format!(
                    "{} was damaged ({why}; kept as {}); rebuilt from the job directories: {} added seeds",
                    path.display(),
                    aside.display(),
                    record.added.len()
                );
                Ok((record, Some(note)))
            }
        }
    }

    pub fn write(&self, sweep: &SweepDir) -> Result<(), JournalError> {
        write_json(&sweep.root.join(FILE), self)
    }

    fn rebuild(sweep: &SweepDir, spec: &Spec) -> Record {
        let mut metas: Vec<JobMeta> = std::fs::read_dir(sweep.root.join("jobs"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                crate::journal::read_json(&e.path().join("job.json"))
                    .ok()
                    .flatten()
            })
            .filter(|m: &JobMeta| !spec.seeds.contains(&m.seed))
            .collect();
        metas.sort_by(|a, b| (a.seed, &a.row).cmp(&(b.seed, &b.row)));
        let mut added = Vec::new();
        for m in metas {
            let same = expand_seeds(spec, &[m.seed])
                .map(|jobs| jobs.iter().any(|j| j.row == m.row && j.id == m.id))
                .unwrap_or(false);
            if same {
                added.push(Added {
                    row: m.row,
                    seed: m.seed,
                    round: 0,
                });
            }
        }
        Record {
            max_seeds: None,
            added,
        }
    }

    /// The spec's jobs and the added ones (each with the jobs it starts from, `init_from`),
    /// and a note for each added seed whose row the spec no longer has.
    pub fn expand(&self, spec: &Spec) -> Result<(Vec<Job>, Vec<String>), SpecErrors> {
        let mut jobs = expand(spec)?;
        let mut have: HashSet<(String, u64)> =
            jobs.iter().map(|j| (j.row.clone(), j.seed)).collect();
        let mut notes = Vec::new();
        let seeds: BTreeSet<u64> = self.added.iter().map(|a| a.seed).collect();
        for seed in seeds {
            let wanted: Vec<&str> = self
                .added
                .iter()
                .filter(|a| a.seed == seed && !have.contains(&(a.row.clone(), seed)))
                .map(|a| a.row.as_str())
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let all = expand_seeds(spec, &[seed])?;
            let mut take: Vec<&Job> = Vec::new();
            for row in wanted {
                match all.iter().find(|j| j.row == row) {
                    Some(j) => take.push(j),
                    None => notes.push(format!(
                        "seed {seed} added to row `{row}` is left out: the spec has no such row now"
                    )),
                }
            }
            // The jobs an added job starts from, with the same seed.
            let mut i = 0;
            while i < take.len() {
                if let Some(parent) = &take[i].config.train.init_from {
                    if let Some(p) = all.iter().find(|j| &j.id == parent) {
                        if !take.iter().any(|t| t.id == p.id) {
                            take.push(p);
                        }
                    }
                }
                i += 1;
            }
            // Parents before children, each (row, seed) once.
            take.reverse();
            for j in take {
                if have.insert((j.row.clone(), seed)) {
                    jobs.push(j.clone());
                }
            }
        }
        Ok((jobs, notes))
    }
}

#[cfg(test)]
mod tests;
