//! Reading a job directory without trusting it: a torn, garbled or foreign file is that job's
//! problem, never the sweep's. [`JobDir::inspect`] says what a job directory holds and which of
//! its files are damaged (and why); [`JobDir::repair`] moves each damaged file aside as
//! `<name>.damaged-<timestamp>` (kept for inspection) and removes what the redo replaces.
//!
//! What a damaged file costs the job:
//! - `config.yaml`, `job.json`, `state.json`: derived from the spec or bookkeeping only; rebuilt,
//!   and a finished job keeps its result (its id is the hash of its config).
//! - `result.json`, `detections.json`: the result cannot be trusted; the job runs again from its
//!   checkpoint (which only re-evaluates a finished run).
//! - `curves.csv`: the training history is lost; the job runs again from the start.
//! - a checkpoint (`checkpoint/*`): an unfinished job resumes from the previous checkpoint or
//!   starts afresh; a finished job keeps its result.

use std::fs;
use std::path::{Path, PathBuf};

use super::{io, JobDir, JobResult, JobState, JournalError, SweepDir};

/// One damaged file of a job directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    /// Path relative to the job directory (`result.json`, `checkpoint/latest.ot`).
    pub file: String,
    pub why: String,
    pub redo: Redo,
}

/// What a damaged file costs the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Redo {
    /// Rebuilt from the spec (or not needed): the job's result stands.
    Rebuild,
    /// The job runs again from its checkpoint.
    Resume,
    /// The job runs again from the start.
    Restart,
}

impl Damage {
    /// Whether the job's result (if any) can no longer be shown.
    pub fn voids_result(&self) -> bool {
        self.redo != Redo::Rebuild
    }
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.why)
    }
}

/// What a job directory holds, read without failing.
#[derive(Debug, Clone, Default)]
pub struct JobRecord {
    /// The job's result, unless it is missing or void (a damage below voids it).
    pub result: Option<JobResult>,
    pub state: Option<JobState>,
    /// Every damaged file, the worst first.
    pub damage: Vec<Damage>,
}

impl JobRecord {
    /// The damage that voids the result, if any: what a table shows instead of a number.
    pub fn voiding_damage(&self) -> Option<&Damage> {
        self.damage.iter().find(|d| d.voids_result())
    }
}

/// The outcome of reading one file that may be missing or damaged.
#[derive(Debug)]
pub enum Read<T> {
    Missing,
    Ok(T),
    Damaged(String),
}

/// Reads a JSON file; a read error other than "not found" counts as damage (the file is there
/// and cannot be used).
pub fn read_tolerant<T: serde::de::DeserializeOwned>(path: &Path) -> Read<T> {
    match fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(v) => Read::Ok(v),
            Err(e) => Read::Damaged(json_problem(&bytes, &e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Read::Missing,
        Err(e) => Read::Damaged(format!("cannot be read ({e})")),
    }
}

/// A JSON parse error in words: "truncated" when the text just stops.
fn json_problem(bytes: &[u8], e: &serde_json::Error) -> String {
    if bytes.is_empty() {
        "empty".into()
    } else if e.is_eof() {
        format!("truncated ({e})")
    } else {
        format!("not valid JSON ({e})")
    }
}

/// Checks a JSON file's syntax without building it (detections may be large).
fn check_json(path: &Path) -> Option<String> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
            .err()
            .map(|e| json_problem(&bytes, &e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(format!("cannot be read ({e})")),
    }
}

/// Checks `curves.csv`: a header, then rows of as many numbers, iterations rising; a finished
/// run's last row is its last iteration.
fn check_curves(path: &Path, last_iteration: Option<u64>) -> Option<String> {
    let text = match fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => return Some("not UTF-8 text".into()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(format!("cannot be read ({e})")),
    };
    let mut lines = text.split('\n');
    let header = lines.next().unwrap_or("");
    if header.is_empty() || !header.starts_with("iteration,") {
        return Some("no header line".into());
    }
    if !text.ends_with('\n') {
        return Some("truncated (the last line is cut)".into());
    }
    let fields = header.split(',').count();
    let mut previous: Option<u64> = None;
    for (i, line) in lines.filter(|l| !l.is_empty()).enumerate() {
        let values: Vec<&str> = line.split(',').collect();
        let bad = values.len() != fields
            || values.iter().any(|v| v.parse::<f64>().is_err())
            || values[0].parse::<u64>().is_err();
        if bad {
            return Some(format!(
                "line {} is not {fields} numbers starting with an iteration",
                i + 2
            ));
        }
        let it: u64 = values[0].parse().expect("checked just above");
        if previous.is_some_and(|p| p >= it) {
            return Some(format!("line {}: iterations do not rise", i + 2));
        }
        previous = Some(it);
    }
    match (last_iteration, previous) {
        (Some(want), Some(got)) if got != want => Some(format!(
            "truncated (ends at iteration {got}, the run ended at {want})"
        )),
        (Some(want), None) if want > 0 => Some("truncated (no rows)".into()),
        _ => None,
    }
}

/// Checks a libtorch archive (`.ot`, a zip file): a truncated one has no end-of-archive record.
/// Reads only its first bytes and its tail (checkpoints may be large).
fn check_archive(path: &Path) -> Option<String> {
    use std::io::{Read as _, Seek, SeekFrom};
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(format!("cannot be read ({e})")),
    };
    let len = f.metadata().map_or(0, |m| m.len());
    if len == 0 {
        return Some("empty".into());
    }
    // The end-of-central-directory record (PK\x05\x06) sits within the last 64 KiB + 22 bytes.
    let tail_len = len.min(65_557);
    let mut head = [0u8; 2];
    let mut tail = vec![0u8; tail_len as usize];
    let read = f
        .read_exact(&mut head)
        .and_then(|_| f.seek(SeekFrom::Start(len - tail_len)))
        .and_then(|_| f.read_exact(&mut tail));
    if let Err(e) = read {
        return Some(format!("cannot be read ({e})"));
    }
    let found = tail.windows(4).any(|w| w == b"PK\x05\x06");
    (!found || &head != b"PK").then(|| "truncated or not a libtorch archive".into())
}

impl JobDir {
    /// What this job directory holds, and every damaged file in it. `expected_config` is the
    /// `config.yaml` the spec gives this job (a differing one is damaged); `None` skips that check.
    pub fn inspect(&self, expected_config: Option<&str>) -> JobRecord {
        let mut found = Vec::new();
        let mut damage = |file: &str, why: String, redo| {
            found.push(Damage {
                file: file.into(),
                why,
                redo,
            })
        };
        let mut result = match read_tolerant::<JobResult>(&self.result_path()) {
            Read::Ok(r) => Some(r),
            Read::Missing => None,
            Read::Damaged(why) => {
                damage("result.json", why, Redo::Resume);
                None
            }
        };
        if let Some(why) = check_json(&self.path.join("detections.json")) {
            damage("detections.json", why, Redo::Resume);
        }
        // An unfinished job's curves may be mid-append; its next start rewrites them.
        if let Some(r) = &result {
            let last = (r.status == "done").then_some(r.iterations);
            if let Some(why) = check_curves(&self.path.join("curves.csv"), last) {
                damage("curves.csv", why, Redo::Restart);
            }
        }
        if let Some(want) = expected_config {
            match fs::read(self.config_path()) {
                Ok(have) if have != want.as_bytes() => damage(
                    "config.yaml",
                    "differs from this job's config in the spec".into(),
                    Redo::Rebuild,
                ),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => damage(
                    "config.yaml",
                    format!("cannot be read ({e})"),
                    Redo::Rebuild,
                ),
            }
        }
        if let Read::Damaged(why) = read_tolerant::<serde_json::Value>(&self.meta_path()) {
            damage("job.json", why, Redo::Rebuild);
        }
        let state = match read_tolerant::<JobState>(&self.state_path()) {
            Read::Ok(s) => Some(s),
            Read::Missing => None,
            Read::Damaged(why) => {
                damage("state.json", why, Redo::Rebuild);
                None
            }
        };
        for name in ["latest.json", "previous.json", "fake.json"] {
            let file = format!("{}/{name}", CHECKPOINT);
            if let Read::Damaged(why) = read_tolerant::<serde_json::Value>(&self.path.join(&file)) {
                damage(&file, why, Redo::Rebuild);
            }
        }
        for name in ["latest.ot", "previous.ot"] {
            let file = format!("{}/{name}", CHECKPOINT);
            if let Some(why) = check_archive(&self.path.join(&file)) {
                damage(&file, why, Redo::Rebuild);
            }
        }
        found.sort_by_key(|d| std::cmp::Reverse(d.redo));
        if found.iter().any(Damage::voids_result) {
            result = None;
        }
        JobRecord {
            result,
            state,
            damage: found,
        }
    }

    /// Moves every damaged file aside and removes what the job's redo replaces, so the next
    /// start of the job does the right thing. Returns what was damaged, each with the name it
    /// was moved to. Fails only when the directory cannot be changed.
    pub fn repair(
        &self,
        expected_config: Option<&str>,
    ) -> Result<Vec<(Damage, PathBuf)>, JournalError> {
        let record = self.inspect(expected_config);
        if record.damage.is_empty() {
            return Ok(Vec::new());
        }
        let mut moved = Vec::new();
        for d in &record.damage {
            let to = set_aside(&self.path.join(&d.file))?;
            moved.push((d.clone(), to));
        }
        let worst = record.damage[0].redo;
        let remove = |p: PathBuf| match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &p)(e)),
        };
        if worst >= Redo::Resume {
            remove(self.result_path())?;
            remove(self.path.join("detections.json"))?;
        }
        if worst == Redo::Restart {
            // From the start: the checkpoint's history no longer matches any curves.
            let ck = self.path.join(CHECKPOINT);
            match fs::remove_dir_all(&ck) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("remove", &ck)(e)),
            }
        }
        Ok(moved)
    }
}

impl SweepDir {
    /// Moves aside the sweep-level files that are damaged (`plan.json`, `executor.json`,
    /// `reference.yaml`: all written again from the spec or the command line) and drops the
    /// unreadable lines of `events.jsonl`. Returns one line per repair, for the user.
    pub fn repair(&self) -> Result<Vec<String>, JournalError> {
        let mut notes = Vec::new();
        for (name, then) in [
            ("plan.json", "written again from the spec"),
            (
                "executor.json",
                "the spec's executor settings apply, then the command line's",
            ),
            (
                "reference.yaml",
                "the tables leave out the paper's numbers until `sweep run`",
            ),
        ] {
            let path = self.root.join(name);
            if let Read::Damaged(why) = read_tolerant::<serde_json::Value>(&path) {
                let to = set_aside(&path)?;
                notes.push(format!(
                    "{} is damaged ({why}); moved to {}; {then}",
                    path.display(),
                    to.display()
                ));
            }
        }
        if let Some((dropped, to)) = self.repair_events()? {
            notes.push(format!(
                "{}: {dropped} damaged line(s) dropped (the old file is {})",
                self.events_path().display(),
                to.display()
            ));
        }
        Ok(notes)
    }
}

/// The checkpoint directory of a job (the trainer's and the fake kind's).
const CHECKPOINT: &str = "checkpoint";

/// Renames `path` to `<name>.damaged-<timestamp>` beside it (a new name if that one is taken);
/// returns the new path.
pub fn set_aside(path: &Path) -> Result<PathBuf, JournalError> {
    let stamp = timestamp();
    let name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let mut n = 0;
    let to = loop {
        let mut candidate = name.clone();
        candidate.push(format!(".damaged-{stamp}"));
        if n > 0 {
            candidate.push(format!("-{n}"));
        }
        let to = path.with_file_name(candidate);
        if !to.exists() {
            break to;
        }
        n += 1;
    };
    fs::rename(path, &to).map_err(io("move aside", path))?;
    Ok(to)
}

/// UTC time as `YYYYMMDDTHHMMSSZ` (sortable, no characters a shell or a file system minds).
fn timestamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_sort_as_text_and_name_files_plainly() {
        let t = timestamp();
        assert_eq!(t.len(), 16, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[8] == b'T', "{t}");
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()), "{t}");
    }

    #[test]
    fn curves_checks_find_cut_and_garbled_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("curves.csv");
        let good = "iteration,lr,total\n10,0.1,2.5\n20,0.1,2.0\n";
        fs::write(&p, good).unwrap();
        assert_eq!(check_curves(&p, Some(20)), None);
        assert!(check_curves(&p, Some(30)).unwrap().contains("truncated"));
        fs::write(&p, &good[..good.len() - 3]).unwrap();
        assert!(check_curves(&p, None).unwrap().contains("truncated"));
        fs::write(&p, "iteration,lr,total\n10,0.1,2.5\n2x,0.1,2.0\n").unwrap();
        assert!(check_curves(&p, None).unwrap().contains("line 3"));
    }

    #[test]
    fn a_damaged_result_is_moved_aside_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let job = JobDir::new(dir.path());
        fs::write(job.result_path(), "{\"id\": \"x\", \"sta").unwrap();
        fs::write(job.config_path(), "a: 1\n").unwrap();
        let record = job.inspect(Some("a: 1\n"));
        assert!(record.result.is_none());
        assert_eq!(record.damage.len(), 1);
        assert_eq!(record.damage[0].file, "result.json");
        assert!(
            record.damage[0].why.starts_with("truncated"),
            "{:?}",
            record.damage
        );
        let moved = job.repair(Some("a: 1\n")).unwrap();
        assert_eq!(moved.len(), 1);
        assert!(!job.result_path().exists());
        let aside = moved[0]
            .1
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(aside.starts_with("result.json.damaged-"), "{aside}");
        assert_eq!(fs::read(job.config_path()).unwrap(), b"a: 1\n");
        assert!(job.inspect(Some("a: 1\n")).damage.is_empty());
    }
}
