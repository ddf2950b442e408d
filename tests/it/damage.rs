//! Fault injection on real sweep directories: each kind of file of a finished sweep is
//! truncated or garbled, one at a time, in a copy of the sweep. Each time `status` and `table`
//! still work and name the damage, `run` or `resume` moves the file aside and redoes what it
//! must, every other job's files stay byte for byte, and the final table equals a clean run's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::{run, sweep, temp_dir, write};

const SPEC: &str = "name: dmg\nbase: {fake: {iterations: 12, millis_per_iteration: 1}}\nvariants:\n  - {name: a}\n  - {name: b, set: {fake.memory_mib: 7}}\n  - {name: c, set: {fake.memory_mib: 9}}\nseeds: [0, 1]\ntable: {metrics: [AP], decimals: 4}\n";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir` (relative path -> bytes), leaving out what changes on every run.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[derive(Clone, Copy, Debug)]
enum Harm {
    /// Cut to half its length (a torn write, a bad copy).
    Truncate,
    /// Bytes in the middle overwritten with junk.
    Garble,
}

fn harm(path: &Path, how: Harm) {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match how {
        Harm::Truncate => bytes.truncate(bytes.len() / 2),
        Harm::Garble => {
            let at = bytes.len() / 2;
            let junk = b"\x00\xff}{ junk";
            for (i, b) in junk.iter().enumerate() {
                if at + i < bytes.len() {
                    bytes[at + i] = *b;
                }
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn table_csv(out: &Path) -> String {
    let (code, csv, err) = run(sweep().arg("table").arg(out).args(["--format", "csv"]));
    assert_eq!(code, 0, "table: {err}");
    csv
}

fn job_ids(out: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(out.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// One case: `file` (relative to the victim job's directory, or to the sweep with `sweep/`)
/// is harmed; `voids` says whether the victim's result can no longer be shown.
/// The clean sweep every case starts from.
struct Clean {
    reference: PathBuf,
    spec: PathBuf,
    /// Its table, as CSV.
    want: String,
    work: PathBuf,
}

fn case(clean: &Clean, file: &str, how: Harm, voids: bool, with_run: bool) {
    let Clean {
        reference,
        spec,
        want,
        work,
    } = clean;
    let want = want.as_str();
    let label = format!("{file} {how:?}");
    let out = work.join(format!("{}-{how:?}", file.replace('/', "_")));
    copy_dir(reference, &out);
    let victim = job_ids(&out)[0].clone();
    let (path, in_job) = match file.strip_prefix("sweep/") {
        Some(name) => (out.join(name), false),
        None => (out.join("jobs").join(&victim).join(file), true),
    };
    harm(&path, how);
    let before = files(&out);

    // status: the sweep is readable; the damaged job says which file and why.
    let (code, text, err) = run(sweep().arg("status").arg(&out));
    assert_eq!(code, 0, "{label}: status failed: {err}");
    if in_job {
        let line = text
            .lines()
            .find(|l| l.contains(&victim))
            .unwrap_or_else(|| panic!("{label}: no status line for {victim}:\n{text}"));
        assert!(line.contains("damaged"), "{label}: {line}");
        assert!(
            line.contains(&format!("damaged: {file}: ")),
            "{label}: {line}"
        );
    }
    for l in text.lines().skip(1).filter(|l| !l.contains(&victim)) {
        assert!(
            l.contains(" done "),
            "{label}: another job is not done: {l}"
        );
    }

    // table: the victim's cell says damaged, never a number; the rest is the clean table.
    let csv = table_csv(&out);
    if voids {
        assert!(csv.contains("damaged"), "{label}: table:\n{csv}");
        assert_ne!(csv, want, "{label}");
    } else {
        assert_eq!(
            csv, want,
            "{label}: a damage that keeps the result changed the table"
        );
    }

    // run / resume: the file is moved aside, the job redone, the others untouched.
    let (code, _, err) = if with_run {
        run(sweep().arg("run").arg(spec).arg("--out").arg(&out))
    } else {
        run(sweep().arg("resume").arg(&out))
    };
    assert_eq!(code, 0, "{label}: {err}");
    assert!(err.contains("damaged"), "{label}: nothing said:\n{err}");
    let said: Vec<&str> = err.lines().filter(|l| l.contains("damaged")).collect();
    let unique: std::collections::BTreeSet<&&str> = said.iter().collect();
    assert_eq!(
        unique.len(),
        said.len(),
        "{label}: a line said twice:\n{err}"
    );
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let aside: Vec<PathBuf> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}.damaged-"))
        })
        .collect();
    assert_eq!(
        aside.len(),
        1,
        "{label}: the damaged file is kept aside once"
    );
    let after = files(&out);
    for (rel, bytes) in &before {
        let other_job = rel.starts_with("jobs/") && !rel.starts_with(&format!("jobs/{victim}/"));
        if other_job {
            assert_eq!(after.get(rel), Some(bytes), "{label}: {rel} changed");
        }
    }
    if in_job {
        let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
        assert!(
            events
                .lines()
                .any(|l| l.contains("\"damaged\"") && l.contains(&victim) && l.contains(file)),
            "{label}: no damaged event"
        );
    }
    assert_eq!(table_csv(&out), want, "{label}: final table");
    let (_, text, _) = run(sweep().arg("status").arg(&out));
    assert!(!text.contains("damaged"), "{label}: still damaged:\n{text}");
}

#[test]
fn each_damaged_file_costs_only_its_job() {
    let dir = temp_dir("damage");
    let spec = write(&dir, "dmg.yaml", SPEC);
    let reference = dir.join("reference");
    let (code, _, err) = run(sweep().arg("run").arg(&spec).arg("--out").arg(&reference));
    assert_eq!(code, 0, "{err}");
    let want = table_csv(&reference);
    assert!(!want.contains("damaged"));
    let cases: &[(&str, bool)] = &[
        ("result.json", true),
        ("detections.json", true),
        ("curves.csv", true),
        ("state.json", false),
        ("job.json", false),
        ("config.yaml", false),
        ("checkpoint/fake.json", false),
        ("sweep/plan.json", false),
        ("sweep/events.jsonl", false),
        ("sweep/executor.json", false),
    ];
    let clean = Clean {
        reference,
        spec,
        want,
        work: dir,
    };
    let mut with_run = false;
    for &(file, voids) in cases {
        for how in [Harm::Truncate, Harm::Garble] {
            with_run = !with_run;
            case(&clean, file, how, voids, with_run);
        }
    }
}
