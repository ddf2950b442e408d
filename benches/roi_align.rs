//! Faster R-CNN's RoI pooling, ours against torchvision's in the same run: MultiScaleRoIAlign
//! over FPN levels '0'..'3' of a 512 × 512 batch of 2 (maps 128² ... 16², 256 channels), 512
//! proposals per image, 7 × 7 output, sampling ratio 2; forward alone and forward + backward of
//! a fixed weighted sum.
//!
//! `cargo bench --bench roi_align` (after `source scripts/libtorch-env.sh`) writes the features,
//! boxes and cotangent to a temporary directory, runs `benches/roi_align.py` (torchvision 0.26.0
//! in the project's venv, same threads) on them, alternating rounds with ours, and prints both
//! medians, their ratio and the largest difference between the two outputs and level-0
//! gradients (the same computation, up to summation order).
//!
//! Environment: `SWEEP_BENCH_THREADS` (default 2) intra-op threads, one inter-op thread on both
//! sides; `SWEEP_BENCH_STEPS` (default 5) timed steps per round, after 2 untimed ones;
//! `SWEEP_BENCH_ROUNDS` (default 3).

// The trainer is compiled into the programs that train (sweep-worker, the trainer benches),
// not into the library. (A bench is built with cfg(test) but without the test harness, so the
// trainer's test modules compile here without their tests.)
#[allow(dead_code, unused_imports)]
#[path = "../src/trainer/mod.rs"]
mod trainer;

#[allow(dead_code)] // each bench uses some of them
#[path = "support/mod.rs"]
mod support;
use support::{env, median, python};
#[allow(unused_imports)]
use sweep::{eval, journal, spec};

use std::process::Command;
use std::time::Instant;
use tch::{Device, Kind, Tensor};
use trainer::roi::pooler::MultiScaleRoIAlign;

const SIZE: i64 = 512;
const BATCH: i64 = 2;
const CHANNELS: i64 = 256;
const PROPOSALS: i64 = 512;

/// Proposals as an RPN leaves them: sides log-uniform in 8 ... 512 px, aspect ratios around
/// 1:2 ... 2:1, clipped to the image.
fn proposals() -> Tensor {
    let opts = (Kind::Float, Device::Cpu);
    let side = (Tensor::rand([PROPOSALS], opts) * (64f64).ln()).exp() * 8.0;
    let aspect = (Tensor::randn([PROPOSALS], opts) * 0.5).exp();
    let (w, h) = (&side * aspect.sqrt(), &side / aspect.sqrt());
    let cx = Tensor::rand([PROPOSALS], opts) * SIZE as f64;
    let cy = Tensor::rand([PROPOSALS], opts) * SIZE as f64;
    let b = Tensor::stack(&[&cx - &w / 2, &cy - &h / 2, &cx + &w / 2, &cy + &h / 2], 1);
    b.clamp(0.0, SIZE as f64)
}

fn main() {
    let threads = env("SWEEP_BENCH_THREADS", 2);
    let steps = env("SWEEP_BENCH_STEPS", 5);
    let rounds = env("SWEEP_BENCH_ROUNDS", 3);
    tch::set_num_interop_threads(1);
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);
    let feats: Vec<Tensor> = (0..4)
        .map(|l| {
            let s = SIZE / (4 << l);
            Tensor::randn([BATCH, CHANNELS, s, s], (Kind::Float, Device::Cpu))
        })
        .collect();
    let boxes: Vec<Tensor> = (0..BATCH).map(|_| proposals()).collect();
    let sizes = vec![(SIZE, SIZE); BATCH as usize];
    let weight = Tensor::randn(
        [BATCH * PROPOSALS, CHANNELS, 7, 7],
        (Kind::Float, Device::Cpu),
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut named: Vec<(String, Tensor)> = feats
        .iter()
        .enumerate()
        .map(|(l, f)| (format!("feat{l}"), f.shallow_clone()))
        .collect();
    named.extend(
        boxes
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("boxes{i}"), b.shallow_clone())),
    );
    named.push(("weight".into(), weight.shallow_clone()));
    Tensor::write_safetensors(&named, dir.path().join("inputs.safetensors"))
        .expect("the inputs save");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/roi_align.py");
    let eager_round = || -> (Vec<f64>, Vec<f64>) {
        let out = Command::new(python())
            .arg(script)
            .arg(dir.path())
            .args([threads.to_string(), steps.to_string()])
            .output()
            .expect("python starts (source scripts/libtorch-env.sh)");
        if !out.status.success() {
            panic!("{script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |key: &str| -> Vec<f64> {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no `{key}` in the script's output:\n{text}"))
                .split_whitespace()
                .map(|v| v.parse().expect("a number"))
                .collect()
        };
        (field("forward_seconds "), field("step_seconds "))
    };

    let (mut ours_fwd, mut ours_step, mut tv_fwd, mut tv_step) = (vec![], vec![], vec![], vec![]);
    let mut first = None;
    for _ in 0..rounds {
        for it in 0..steps + 2 {
            // A fresh pooler each step, like the script (scales inferred on the first call).
            let pooler = MultiScaleRoIAlign::new(7, 2);
            let xs: Vec<Tensor> = feats
                .iter()
                .map(|f| f.copy().set_requires_grad(true))
                .collect();
            let t0 = Instant::now();
            let out = pooler.forward(&xs, &boxes, &sizes);
            let t1 = Instant::now();
            (&out * &weight).sum(Kind::Float).backward();
            let t2 = Instant::now();
            if first.is_none() {
                first = Some((out.detach(), xs[0].grad()));
            }
            if it >= 2 {
                ours_fwd.push((t1 - t0).as_secs_f64());
                ours_step.push((t2 - t0).as_secs_f64());
            }
        }
        let (f, s) = eager_round();
        tv_fwd.extend(f);
        tv_step.extend(s);
    }
    let (out, grad) = first.expect("at least one step");
    let tv: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.path().join("torchvision.safetensors"))
            .expect("the script writes its output")
            .into_iter()
            .collect();
    let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
    let (ours_fwd, ours_step) = (median(ours_fwd), median(ours_step));
    let (tv_fwd, tv_step) = (median(tv_fwd), median(tv_step));
    println!(
        "MultiScaleRoIAlign, {BATCH} x {PROPOSALS} boxes, {CHANNELS} channels, 4 levels of {SIZE} px, 7x7, sampling 2, {threads} threads, CPU, median of {rounds} x {steps}:"
    );
    println!("                     forward   forward+backward");
    println!(
        "  torchvision 0.26   {:7.1} ms   {:7.1} ms",
        tv_fwd * 1e3,
        tv_step * 1e3
    );
    println!(
        "  ours (tch)         {:7.1} ms   {:7.1} ms",
        ours_fwd * 1e3,
        ours_step * 1e3
    );
    println!(
        "  ours / torchvision {:7.2}x     {:7.2}x",
        ours_fwd / tv_fwd,
        ours_step / tv_step
    );
    println!(
        "  largest difference: output {:.2e}, level-0 gradient {:.2e}",
        diff(&out, &tv["out"]),
        diff(&grad, &tv["grad0"])
    );
}
