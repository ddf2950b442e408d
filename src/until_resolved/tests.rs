use std::path::Path;

use super::*;

fn spec(text: &str) -> Spec {
    crate::spec::parse(Path::new("t.yaml"), text.into(), None, &[]).expect("valid spec")
}

fn added(row: &str, seed: u64) -> Added {
    Added {
        row: row.into(),
        seed,
        round: 1,
    }
}

#[test]
fn added_seeds_are_ordinary_jobs_of_their_rows() {
    let s = spec(
        "name: t\nvariants:\n  - {name: a}\n  - {name: b, set: {train.lr: 0.02}}\n  - {name: c, init_from: a}\nseeds: [0, 1]\n",
    );
    let record = Record {
        max_seeds: Some(5),
        added: vec![
            added("b", 2),
            added("c", 2),
            added("gone", 3),
            added("a", 1),
        ],
    };
    let (jobs, notes) = record.expand(&s).unwrap();
    let base = expand(&s).unwrap();
    let ids = |js: &[Job]| js.iter().map(|j| j.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&jobs[..base.len()]),
        ids(&base),
        "the spec's jobs first, unchanged"
    );
    let extra: Vec<(&str, u64)> = jobs[base.len()..]
        .iter()
        .map(|j| (j.row.as_str(), j.seed))
        .collect();
    // `c` starts from `a`'s job of the same seed, which comes along (before it); seed 1 of `a`
    // is the spec's own and is not added twice.
    assert_eq!(extra, [("a", 2), ("c", 2), ("b", 2)]);
    let same_seed = expand_seeds(&s, &[2]).unwrap();
    for j in &jobs[base.len()..] {
        let want = same_seed.iter().find(|k| k.row == j.row).unwrap();
        assert_eq!(j.id, want.id, "the id comes from the same hash");
        assert_eq!(j.config.train.seed, 2);
    }
    let c = jobs.iter().find(|j| j.row == "c" && j.seed == 2).unwrap();
    let a = jobs.iter().find(|j| j.row == "a" && j.seed == 2).unwrap();
    assert_eq!(c.config.train.init_from.as_deref(), Some(a.id.as_str()));
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("`gone`"), "{notes:?}");
    // A plan can be built from them: no dangling dependency.
    crate::plan::Plan::new(jobs).unwrap();
}

#[test]
fn a_damaged_record_is_rebuilt_from_the_job_directories() {
    let s = spec(
        "name: t\nvariants:\n  - {name: a}\n  - {name: b, set: {train.lr: 0.02}}\nseeds: [0]\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let sweep = SweepDir::new(dir.path());
    sweep.create().unwrap();
    let record = Record {
        max_seeds: Some(4),
        added: vec![added("a", 1), added("b", 1)],
    };
    let (jobs, _) = record.expand(&s).unwrap();
    // Job directories as a run leaves them: the spec's seed 0, the added seed 1, and one
    // directory of an older config of `a` with seed 1 (another id: not this sweep's seed).
    for j in &jobs {
        crate::journal::JobDir::new(sweep.job_dir(&j.id))
            .prepare("x: 1\n", &j.meta(&s))
            .unwrap();
    }
    let mut stale = jobs
        .iter()
        .find(|j| j.row == "a" && j.seed == 1)
        .unwrap()
        .meta(&s);
    stale.id = "0123456789ab".into();
    crate::journal::JobDir::new(sweep.job_dir(&stale.id))
        .prepare("x: 1\n", &stale)
        .unwrap();
    std::fs::write(dir.path().join(FILE), b"{\"added\": [{\"row\": ").unwrap();
    let (rebuilt, note) = Record::load(&sweep, &s).unwrap();
    assert!(note
        .unwrap()
        .contains("rebuilt from the job directories: 2 added seeds"));
    let rows: Vec<(&str, u64)> = rebuilt
        .added
        .iter()
        .map(|a| (a.row.as_str(), a.seed))
        .collect();
    assert_eq!(rows, [("a", 1), ("b", 1)]);
    assert_eq!(rebuilt.max_seeds, None);
    // Written back, and the damaged file kept beside it.
    let (again, note) = Record::load(&sweep, &s).unwrap();
    assert_eq!((again, note), (rebuilt, None));
    let kept = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("until_resolved.json.damaged-")
        });
    assert!(kept);
}
