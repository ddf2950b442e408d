//! Checkpoints, the loss curves and atomic file writes inside a job directory.
//!
//! A checkpoint is one libtorch `.ot` archive (`Tensor::save_multi`) holding the model's
//! variables under their `nn::Path` names, the SGD momentum buffers (`sgd.momentum.<name>`) and
//! the iteration (`meta.iteration`, an int64 scalar), plus a `latest.json` describing it. tch
//! writes in place, so both are first written as `checkpoint/.tmp-<iter>.{ot,json}`, fsynced,
//! renamed over `latest.ot` then `latest.json`, and the directory is fsynced. The `.ot` is the
//! truth: a crash between the two renames leaves a stale `latest.json`, which [`load`] ignores
//! because the iteration inside the archive wins. Leftover `checkpoint/.tmp-*` files (and our
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

fn torch_err(path: &Path) -> impl FnOnce(tch::TchError) -> TrainError + '_ {
    move |e| TrainError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(e.to_string()),
    }
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
    let meta = serde_json::json!({ "iteration": iteration, "tensors": tensors.len(), "file": "latest.ot" });
    let mut f = File::create(&tmp_json).map_err(io_err(&tmp_json))?;
    f.write_all(format!("{meta:#}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io_err(&tmp_json))?;
    let (ot, json) = (dir.join("latest.ot"), dir.join("latest.json"));
    fs::rename(&tmp_ot, &ot).map_err(io_err(&ot))?;
    fs::rename(&tmp_json, &json).map_err(io_err(&json))?;
    sync_dir(&dir)
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
    let path = dir.join("latest.ot");
    if !path.exists() {
        return Ok(None);
    }
    let tensors: HashMap<String, Tensor> = Tensor::load_multi_with_device(&path, device)
        .map_err(torch_err(&path))?
        .into_iter()
        .collect();
    let iteration = tensors
        .get(META_ITERATION)
        .map(|t| t.int64_value(&[]) as u64)
        .ok_or_else(|| TrainError::Io {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, "no meta.iteration tensor"),
        })?;
    Ok(Some(Loaded {
        iteration,
        tensors,
        path,
    }))
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
            for line in old.lines().skip(1) {
                match line.split(',').next().and_then(|v| v.parse::<u64>().ok()) {
                    Some(it) if it <= at => text.push_str(&format!("{line}\n")),
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
