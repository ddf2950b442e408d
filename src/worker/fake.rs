//! The `fake` job kind: a scripted worker for scheduler, resume and chaos tests, and for the
//! scheduler's benchmarks. It trains nothing; it exercises every path a real job can take
//! (progress, checkpoint, resume, crash, OOM, signal, divergence, hang) in milliseconds.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::journal::{read_json, write_json};
use crate::spec::config::{FakeMetric, FakeOutcome, FakeSpec};

/// What the fake keeps across restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FakeCheckpoint {
    iteration: u64,
    checksum: u64,
}

pub enum FakeEnd {
    Done {
        checksum: u64,
        iterations: u64,
        seconds: f64,
    },
    Diverged {
        iteration: u64,
    },
    Interrupted {
        iteration: u64,
    },
    Crash(String),
    OutOfMemory,
}

/// `mean + sd · z`, z standard normal (Box–Muller) from SplitMix64 seeded by the job's seed
/// and the two numbers: the same value on every run and every resume.
pub fn drawn(m: &FakeMetric, seed: u64) -> f64 {
    let key = seed ^ m.mean.to_bits().rotate_left(17) ^ m.sd.to_bits().rotate_left(41);
    let mut g = sweep::stats::SplitMix64::new(key);
    // Uniforms in (0, 1]: 53 random bits, never 0 (ln 0).
    let mut uniform = || ((g.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let (u1, u2) = (uniform(), uniform());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    m.mean + m.sd * z
}

/// One step of the checksum: any skipped or repeated iteration changes the final value.
fn mix(checksum: u64, iteration: u64, seed: u64) -> u64 {
    (checksum ^ iteration.wrapping_add(seed))
        .wrapping_mul(0x0100_0000_01b3)
        .rotate_left(7)
}

pub fn run(
    spec: &FakeSpec,
    seed: u64,
    dir: &Path,
    init_from: Option<&Path>,
    attempt: u32,
    stop: &AtomicBool,
    on_progress: &mut dyn FnMut(u64, u64, f64),
) -> FakeEnd {
    let started = Instant::now();
    let ckpt_dir = dir.join("checkpoint");
    let ckpt_path = ckpt_dir.join("fake.json");
    // A job that starts from another (init_from) carries its parent's checksum on.
    let init = init_from.and_then(|p| {
        read_json::<FakeCheckpoint>(&p.join("checkpoint").join("fake.json"))
            .ok()
            .flatten()
    });
    let fresh = FakeCheckpoint {
        iteration: 0,
        checksum: init.map_or(0, |c| c.checksum),
    };
    let mut state: FakeCheckpoint = read_json(&ckpt_path).ok().flatten().unwrap_or(fresh);
    let fails = spec.outcome != FakeOutcome::Ok
        && (spec.fail_attempts == 0 || attempt <= spec.fail_attempts);
    if let Err(e) = std::fs::create_dir_all(&ckpt_dir) {
        return FakeEnd::Crash(format!("cannot create {}: {e}", ckpt_dir.display()));
    }
    // Like the trainer: `curves.csv` keeps the rows up to the checkpoint, one row per
    // iteration is appended, and `detections.json` is written at the end.
    let curves = dir.join("curves.csv");
    if let Err(e) = open_curves(&curves, state.iteration) {
        return FakeEnd::Crash(format!("cannot write {}: {e}", curves.display()));
    }
    while state.iteration < spec.iterations {
        if stop.load(Ordering::SeqCst) {
            return FakeEnd::Interrupted {
                iteration: state.iteration,
            };
        }
        if fails && state.iteration == spec.at_iteration {
            match spec.outcome {
                FakeOutcome::Ok => {}
                FakeOutcome::Crash => {
                    return FakeEnd::Crash(format!(
                        "scripted crash at iteration {}",
                        state.iteration
                    ))
                }
                FakeOutcome::Oom => return FakeEnd::OutOfMemory,
                FakeOutcome::Diverge => {
                    return FakeEnd::Diverged {
                        iteration: state.iteration,
                    }
                }
                FakeOutcome::Signal => {
                    // SAFETY: raising SIGKILL on ourselves; the process ends here.
                    unsafe {
                        libc::raise(libc::SIGKILL);
                    }
                }
                FakeOutcome::Hang => loop {
                    if stop.load(Ordering::SeqCst) {
                        return FakeEnd::Interrupted {
                            iteration: state.iteration,
                        };
                    }
                    std::thread::sleep(Duration::from_millis(20));
                },
            }
        }
        std::thread::sleep(Duration::from_millis(spec.millis_per_iteration));
        state.iteration += 1;
        state.checksum = mix(state.checksum, state.iteration, seed);
        let loss = (state.checksum % 1000) as f64 / 1000.0;
        if let Err(e) = append_line(&curves, &format!("{},{loss}\n", state.iteration)) {
            return FakeEnd::Crash(format!("cannot write {}: {e}", curves.display()));
        }
        if let Err(e) = write_json(&ckpt_path, &state) {
            return FakeEnd::Crash(e.to_string());
        }
        on_progress(
            state.iteration,
            spec.iterations,
            (state.checksum % 1000) as f64 / 1000.0,
        );
    }
    let detections = serde_json::json!([{"image_id": 1, "category_id": 1,
        "bbox": [0.0, 0.0, 1.0, 1.0], "score": (state.checksum % 1000) as f64 / 1000.0}]);
    let path = dir.join("detections.json");
    if let Err(e) = crate::journal::write_atomic(&path, detections.to_string().as_bytes()) {
        return FakeEnd::Crash(format!("cannot write {}: {e}", path.display()));
    }
    FakeEnd::Done {
        checksum: state.checksum,
        iterations: state.iteration,
        seconds: started.elapsed().as_secs_f64(),
    }
}

const CURVES_HEADER: &str = "iteration,total";

/// Rewrites `curves.csv` with its header and the whole rows up to iteration `at`.
fn open_curves(path: &Path, at: u64) -> std::io::Result<()> {
    let mut text = format!("{CURVES_HEADER}\n");
    if let Ok(old) = std::fs::read_to_string(path) {
        for line in old.lines().skip(1) {
            let mut fields = line.split(',');
            let it = fields.next().and_then(|v| v.parse::<u64>().ok());
            let whole =
                fields.next().is_some_and(|v| v.parse::<f64>().is_ok()) && fields.next().is_none();
            if whole && it.is_some_and(|it| it <= at) {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    crate::journal::write_atomic(path, text.as_bytes())
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)?
        .write_all(line.as_bytes())
}
