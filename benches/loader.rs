//! The data loader alone against the trainer's need: images per second.
//!
//! `cargo bench --bench loader` (harness = false). Writes a COCO-format fixture of JPEG images
//! (default 96 images of 640 × 480, COCO's usual size; `SWEEP_BENCH_IMAGE=2000x1500` for
//! VisDrone's) into a temporary directory, then measures
//! 1. one image's decode and resize + pad (best of 5, one thread);
//! 2. the loader alone ([`trainer::datasets::Loader`]: decode, resize, flip, pad, in its
//!    background threads) for 1, 2, 4, ... threads up to the machine's cores, batches of 8;
//! 3. the trainer on the same data (`trainer::train`, default model, batch 8, the
//!    loader running beside it), whose images/s is what the loader must sustain.
//!
//! Input side `SWEEP_BENCH_SIZE` (default 512), training device `SWEEP_BENCH_DEVICE` (`cpu`,
//! default, or `cuda`), training iterations `SWEEP_BENCH_ITERATIONS` (default 6 on the CPU,
//! 60 on a GPU). The loader keeps the trainer fed when (2) at the job's thread count exceeds (3).

// The trainer is compiled into the programs that train (sweep-worker, the trainer benches),
// not into the library. (A bench is built with cfg(test) but without the test harness, so the
// trainer's test modules compile here without their tests.)
#[allow(dead_code, unused_imports)]
#[path = "../src/trainer/mod.rs"]
mod trainer;
#[allow(unused_imports)]
use sweep::{eval, journal, spec};

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use sweep::spec::config::{DatasetSpec, JobConfig};
use trainer::datasets::fixture::{scene, write_coco};
use trainer::datasets::transform::{decode, Placement};
use trainer::datasets::{Dataset, Loader};
use trainer::{train, DeviceChoice, Progress, TrainOptions};

const BATCH: usize = 8;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn best_of<R>(n: usize, mut f: impl FnMut() -> R) -> f64 {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let (w, h) = std::env::var("SWEEP_BENCH_IMAGE")
        .ok()
        .and_then(|s| {
            let (a, b) = s.split_once('x')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((640u32, 480u32));
    let size: u32 = env("SWEEP_BENCH_SIZE").unwrap_or(512);
    let images: u64 = env("SWEEP_BENCH_IMAGES").unwrap_or(96);
    let cuda = std::env::var("SWEEP_BENCH_DEVICE").is_ok_and(|d| d == "cuda");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = std::env::temp_dir().join(format!("sweep-bench-loader-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let t = Instant::now();
    let side = (w.min(h) / 4).max(24);
    let scenes: Vec<_> = (0..images)
        .map(|i| scene(1, i, (w, h), 4, 8, (side / 6, side)))
        .collect();
    let spec = write_coco(&dir, &scenes, &scenes[..8], "jpg", 4, size);
    let bytes: u64 = std::fs::read_dir(&spec.images)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!(
        "fixture: {images} JPEG images of {w}x{h} ({:.0} KiB each), input {size}x{size}, batch {BATCH}, {cores} cores (written in {:.1}s)",
        bytes as f64 / images as f64 / 1024.0,
        t.elapsed().as_secs_f64()
    );

    let first = spec.images.join(format!("{}.jpg", scenes[0].name));
    let img = decode(&first, "bench").expect("decode the fixture");
    let p = Placement::new(w, h, size as f64, true);
    let t_decode = best_of(5, || decode(&first, "bench").expect("decode"));
    let t_place = best_of(5, || p.render(&img, size as usize));
    println!(
        "one image, one thread: decode {:.2} ms, resize + flip + pad {:.2} ms",
        t_decode * 1e3,
        t_place * 1e3
    );

    let data = Arc::new(Dataset::open(&DatasetSpec::Coco(spec.clone())).expect("open the fixture"));
    let iterations = (2 * images as usize / BATCH).max(4) as u64;
    let mut threads = 1;
    while threads <= cores {
        let mut loader = Loader::new(data.clone(), 0, BATCH, threads).expect("start the loader");
        let t = Instant::now();
        for it in 0..iterations {
            loader.batch(it).expect("a batch");
        }
        let ips = (iterations as usize * BATCH) as f64 / t.elapsed().as_secs_f64();
        println!("loader alone, {threads:>2} threads: {ips:>7.1} images/s");
        threads *= 2;
    }

    let mut cfg = JobConfig {
        dataset: DatasetSpec::Coco(spec),
        ..Default::default()
    };
    cfg.train.batch_size = BATCH as u32;
    cfg.train.iterations = env("SWEEP_BENCH_ITERATIONS").unwrap_or(if cuda { 60 } else { 6 });
    cfg.train.log_every = cfg.train.iterations.div_ceil(3).max(1);
    cfg.train.checkpoint_every = 1_000_000;
    let job = dir.join("job");
    std::fs::create_dir_all(&job).expect("create the job dir");
    let opts = TrainOptions {
        threads: cores,
        device: if cuda {
            DeviceChoice::Cuda(0)
        } else {
            DeviceChoice::Cpu
        },
        stop: Arc::new(AtomicBool::new(false)),
        notes: None,
    };
    let mut last = 0.0;
    let out = train(&cfg, &job, &opts, &mut |p: &Progress| {
        last = p.images_per_sec
    });
    match out {
        // The last window: past libtorch's warm-up.
        Ok(o) => println!(
            "trainer on {} ({} threads), default model: {last:.1} images/s over its last log window",
            o.device, o.threads
        ),
        Err(e) => println!("trainer: {e}"),
    }
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
