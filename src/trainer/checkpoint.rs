//! Checkpoints, the loss curves and atomic file writes inside a job directory.
//!
//! A checkpoint is one libtorch `.ot` archive (`Tensor::save_multi`) holding the model's
//! variables under their `nn::Path` names, the SGD momentum buffers (`sgd.momentum.<name>`) and
//! the iteration (`meta.iteration`, an int64 scalar), plus a `latest.json` describing it. tch
//! writes in place, so both are first written as `checkpoint/.tmp-<iter>.{ot,json}`, fsynced,
//! renamed over `latest.ot` then `latest.json`, and the directory is fsynced. The `.ot` is the
//! truth: a crash between the two renames leaves a stale `latest.json`, which [`load`] ignores
//! because the iteration inside the archive wins. The checkpoint it replaces is kept as
//! `previous.ot`, so a `latest.ot` that does not load (torn, foreign) costs one interval, not
//! the run ([`resume`]). Leftover `checkpoint/.tmp-*` files (and our
//! `.trainer-tmp-*` files in the job directory) are removed on the next save or load. Nothing else (data order, RNG) needs saving: see `data.rs`.

use super::TrainError;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

pub const DIR: &str = "checkpoint";
const META_ITERATION: &str = "meta.iteration";

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A libtorch error as one line naming the file; the whole text (with libtorch's C++
/// backtrace) goes to stderr, which the worker keeps in `stderr.log`.
fn torch_err(path: &Path) -> impl FnOnce(tch::TchError) -> TrainError + '_ {
    move |e| {
        let text = e.to_string();
        eprintln!("libtorch error on {}: {text}", path.display());
        TrainError::Io {
            path: path.to_path_buf(),
            source: io::Error::other(first_line(&text)),
        }
    }
}

/// The first non-empty line of a (libtorch) message.
pub fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown error")
        .to_string()
}

fn sync_dir(dir: &Path) -> Result<(), TrainError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(io_err(path))?;
    sync_dir(dir)
}

/// Prefix of [`write_atomic`]'s temp files in the job directory (distinct from the worker's own
/// temp files, which [`remove_stale`] must not touch).
pub const TMP_PREFIX: &str = ".trainer-tmp-";

/// Removes the leftovers of an interrupted save: files starting with `prefix` in `dir`.
pub fn remove_stale(dir: &Path, prefix: &str) -> Result<(), TrainError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            fs::remove_file(e.path()).map_err(io_err(&e.path()))?;
        }
    }
    Ok(())
}

/// Saves `tensors` as the checkpoint of `iteration` in `job_dir/checkpoint/`.
pub fn save(
    job_dir: &Path,
    iteration: u64,
    tensors: &[(String, Tensor)],
) -> Result<(), TrainError> {
    let dir = job_dir.join(DIR);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    remove_stale(&dir, ".tmp-")?;
    let (tmp_ot, tmp_json) = (
        dir.join(format!(".tmp-{iteration}.ot")),
        dir.join(format!(".tmp-{iteration}.json")),
    );
    let mut named: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let it = Tensor::from(iteration as i64);
    named.push((META_ITERATION, &it));
    Tensor::save_multi(&named, &tmp_ot).map_err(torch_err(&tmp_ot))?;
    File::open(&tmp_ot)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&tmp_ot))?;
    let sha256 = file_sha256(&tmp_ot)?;
    let meta = serde_json::json!({ "iteration": iteration, "tensors": tensors.len(), "file": "latest.ot", "sha256": sha256 });
    let mut f = File::create(&tmp_json).map_err(io_err(&tmp_json))?;
    f.write_all(format!("{meta:#}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io_err(&tmp_json))?;
    let (ot, json) = (dir.join(LATEST), dir.join("latest.json"));
    // The last good checkpoint stays, as `previous`, until the new one is in place: a crash
    // between these renames leaves `previous` (and the temp files, removed on load).
    if ot.exists() {
        let prev = dir.join(PREVIOUS);
        fs::rename(&ot, &prev).map_err(io_err(&prev))?;
        let prev_json = dir.join("previous.json");
        if json.exists() {
            fs::rename(&json, &prev_json).map_err(io_err(&prev_json))?;
        }
    }
    fs::rename(&tmp_ot, &ot).map_err(io_err(&ot))?;
    fs::rename(&tmp_json, &json).map_err(io_err(&json))?;
    sync_dir(&dir)
}

const LATEST: &str = "latest.ot";
const PREVIOUS: &str = "previous.ot";

/// Where a resumed run starts, and the line that says so when a checkpoint was passed over.
#[derive(Debug)]
pub struct Resume {
    /// The iteration of the checkpoint restored; `None`: a fresh start.
    pub iteration: Option<u64>,
    /// Whether a checkpoint was partly restored before it failed: the session must be made
    /// again for a fresh start.
    pub tainted: bool,
    /// Set when a checkpoint did not load: what was skipped and where the run starts.
    pub note: Option<String>,
}

/// Restores the newest checkpoint that loads and that `restore` accepts (keys, shapes):
/// `latest.ot`, else `previous.ot`, else none. A checkpoint that fails is moved aside (as
/// `<name>.damaged-<timestamp>`) so that it never replaces a good one later.
pub fn resume(
    job_dir: &Path,
    device: Device,
    restore: &mut dyn FnMut(&Loaded) -> Result<(), TrainError>,
) -> Result<Resume, TrainError> {
    let dir = job_dir.join(DIR);
    remove_stale(&dir, ".tmp-")?;
    remove_stale(job_dir, TMP_PREFIX)?;
    let mut skipped: Vec<String> = Vec::new();
    let mut tainted = false;
    for name in [LATEST, PREVIOUS] {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let attempt = load_file(&path, device).and_then(|ck| {
            tainted = true;
            restore(&ck).map(|_| ck.iteration)
        });
        let why = match attempt {
            Ok(iteration) => {
                let note = (!skipped.is_empty()).then(|| {
                    format!(
                        "{}; resumed from {}/{name} (iteration {iteration})",
                        skipped.join("; "),
                        DIR
                    )
                });
                return Ok(Resume {
                    iteration: Some(iteration),
                    tainted,
                    note,
                });
            }
            Err(e) => e,
        };
        let reason = match why {
            TrainError::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        let aside = crate::journal::set_aside(&path)
            .map(|p| format!(", moved to {}", p.display()))
            .unwrap_or_default();
        skipped.push(format!("{DIR}/{name} does not load ({reason}{aside})"));
        let json = path.with_extension("json");
        let _ = crate::journal::set_aside(&json);
    }
    let note = (!skipped.is_empty()).then(|| format!("{}; starting afresh", skipped.join("; ")));
    Ok(Resume {
        iteration: None,
        tainted,
        note,
    })
}

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Loaded {
    pub iteration: u64,
    pub tensors: HashMap<String, Tensor>,
    pub path: PathBuf,
}

/// The checkpoint in `job_dir`, if any, with its tensors on `device`.
pub fn load(job_dir: &Path, device: Device) -> Result<Option<Loaded>, TrainError> {
    let dir = job_dir.join(DIR);
    remove_stale(&dir, ".tmp-")?;
    remove_stale(job_dir, TMP_PREFIX)?;
    let path = dir.join(LATEST);
    if !path.exists() {
        return Ok(None);
    }
    load_file(&path, device).map(Some)
}

/// The hex SHA-256 of a file's bytes: recorded beside each checkpoint, since libtorch may load
/// an archive whose tensor bytes were garbled.
fn file_sha256(path: &Path) -> Result<String, TrainError> {
    use sha2::{Digest, Sha256};
    let bytes = fs::read(path).map_err(io_err(path))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The checksum recorded beside `path` (`<stem>.json`) for the save of `iteration`; `None` when
/// there is none for that save (a crash between the renames leaves another save's record).
fn recorded_sha256(path: &Path, iteration: u64) -> Option<String> {
    let text = fs::read(path.with_extension("json")).ok()?;
    let meta: serde_json::Value = serde_json::from_slice(&text).ok()?;
    (meta["iteration"].as_u64() == Some(iteration))
        .then(|| meta["sha256"].as_str().map(String::from))
        .flatten()
}

/// One checkpoint archive.
fn load_file(path: &Path, device: Device) -> Result<Loaded, TrainError> {
    let loaded = load_archive(path, device)?;
    if let Some(want) = recorded_sha256(path, loaded.iteration) {
        if file_sha256(path)? != want {
            return Err(TrainError::Io {
                path: path.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    "its bytes differ from those saved (garbled)",
                ),
            });
        }
    }
    Ok(loaded)
}

fn load_archive(path: &Path, device: Device) -> Result<Loaded, TrainError> {
    let tensors = Tensor::load_multi_with_device(path, device).map_err(torch_err(path))?;
    loaded(path, tensors)
}

/// A finished job's last checkpoint, for `sweep predict --job`: its recorded checksum checked
/// before libtorch reads it, and a libtorch failure as one line naming the file (the person
/// running the command sees no C++ backtrace).
pub fn load_final(path: &Path, device: Device) -> Result<Loaded, TrainError> {
    let bad = |detail: String| TrainError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, detail),
    };
    let recorded = fs::read(path.with_extension("json"))
        .ok()
        .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
        .and_then(|m| m["sha256"].as_str().map(String::from));
    if let Some(want) = recorded {
        if file_sha256(path)? != want {
            return Err(bad("its bytes differ from those saved (garbled)".into()));
        }
    }
    let tensors = Tensor::load_multi_with_device(path, device)
        .map_err(|e| bad(format!("not a checkpoint: {}", first_line(&e.to_string()))))?;
    loaded(path, tensors)
}

fn loaded(path: &Path, tensors: Vec<(String, Tensor)>) -> Result<Loaded, TrainError> {
    let path = path.to_path_buf();
    let tensors: HashMap<String, Tensor> = tensors.into_iter().collect();
    let iteration = tensors
        .get(META_ITERATION)
        .map(|t| t.int64_value(&[]) as u64)
        .ok_or_else(|| TrainError::Io {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, "no meta.iteration tensor"),
        })?;
    Ok(Loaded {
        iteration,
        tensors,
        path,
    })
}

/// `curves.csv`: one row per log step, `iteration,lr,<losses...>,images_per_sec`.
#[derive(Debug)]
pub struct Curves {
    path: PathBuf,
}

impl Curves {
    /// Starts the file (header only), or on resume keeps the header and the rows up to
    /// `resume_at` so that the continued run appends no duplicate rows.
    pub fn open(
        job_dir: &Path,
        header: &str,
        resume_at: Option<u64>,
    ) -> Result<Curves, TrainError> {
        let path = job_dir.join("curves.csv");
        let mut text = format!("{header}\n");
        if let (Some(at), Ok(old)) = (resume_at, fs::read_to_string(&path)) {
            // Whole rows only: a row cut by a crash, or garbled, is dropped, not continued.
            let fields = header.split(',').count();
            for line in old.lines().skip(1) {
                let values: Vec<&str> = line.split(',').collect();
                let whole =
                    values.len() == fields && values.iter().all(|v| v.parse::<f64>().is_ok());
                match values[0].parse::<u64>() {
                    Ok(it) if whole && it <= at => text.push_str(&format!("{line}\n")),
                    _ => {}
                }
            }
        }
        write_atomic(&path, text.as_bytes())?;
        Ok(Curves { path })
    }

    pub fn append(&self, iteration: u64, values: &[f64]) -> Result<(), TrainError> {
        let mut line = iteration.to_string();
        for v in values {
            line.push_str(&format!(",{v}"));
        }
        line.push('\n');
        let mut f = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err(&self.path))?;
        f.write_all(line.as_bytes()).map_err(io_err(&self.path))
    }
}

/// What a training session saves: its variables in name order (frozen ones included), the
/// optimizer's momentum buffers and the task weights' state.
pub fn training_state(
    vs: &tch::nn::VarStore,
    opt: &super::optim::Sgd,
    weighting: &super::alwa::Weighting,
) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.extend(opt.state());
    v.extend(weighting.state());
    v
}

/// Copies a checkpoint into a session's variables, optimizer and task weights; a missing or
/// mis-shaped tensor is an error naming the checkpoint file.
pub fn restore_training(
    ck: &Loaded,
    vs: &tch::nn::VarStore,
    opt: &mut super::optim::Sgd,
    weighting: &mut super::alwa::Weighting,
    device: Device,
) -> Result<(), TrainError> {
    let missing = |name: String| TrainError::Io {
        path: ck.path.clone(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("checkpoint has no tensor {name}"),
        ),
    };
    for (name, mut var) in vs.variables() {
        let src = ck.tensors.get(&name).ok_or_else(|| missing(name.clone()))?;
        if src.size() != var.size() {
            return Err(missing(format!("{name} of shape {:?}", var.size())));
        }
        tch::no_grad(|| var.copy_(src));
    }
    opt.load_state(&ck.tensors).map_err(&missing)?;
    weighting.load_state(&ck.tensors, device).map_err(missing)
}
