//! A training step of the quick-scale FCOS, ours against the same model in PyTorch eager.
//!
//! `cargo bench --bench train_step` (after `source scripts/libtorch-env.sh`) builds the default
//! config (synthetic data at 128 px, batch 8, FCOS on TinyResnet width 32, FPN 64, two head
//! convs, focal + GIoU + center-ness, SGD with momentum, weight decay and gradient clipping),
//! times our step (forward, losses, backward, SGD) on one fixed batch and its targets, then
//! writes the initial weights, the batch and its targets to a temporary directory and runs
//! `benches/train_step_eager.py` with the project's `python`: the same network written in plain
//! PyTorch (`torch.nn` modules, `torch.optim.SGD`, `clip_grad_norm_`), the same weights, input
//! and targets, the same threads. It prints both median step times, their ratio, and both
//! first-step losses (equal when the two models are the same model).
//!
//! The two sides alternate over `SWEEP_BENCH_ROUNDS` (default 3) rounds of `SWEEP_BENCH_STEPS`
//! (default 10) timed steps each (after 3 untimed ones), and the medians are over all rounds,
//! so that the load of a shared machine weighs on both alike.
//!
//! Environment: also `SWEEP_BENCH_THREADS` (default 2) intra-op threads, one inter-op thread on
//! both sides.

// The trainer is compiled into the programs that train (sweep-worker, the trainer benches),
// not into the library. (A bench is built with cfg(test) but without the test harness, so the
// trainer's test modules compile here without their tests.)
#[allow(dead_code, unused_imports)]
#[path = "../src/trainer/mod.rs"]
mod trainer;

#[allow(dead_code)] // each bench uses some of them
#[path = "support/mod.rs"]
mod support;
use support::{env, median};
#[allow(unused_imports)]
use sweep::{eval, journal, spec};

use std::process::Command;
use std::time::Instant;
use sweep::spec::config::JobConfig;
use tch::{Device, Tensor};
use trainer::data::{to_tensor, Split};
use trainer::run::Session;
use trainer::synth::{Image, Object};

fn main() {
    let threads = env("SWEEP_BENCH_THREADS", 2);
    let steps = env("SWEEP_BENCH_STEPS", 10);
    let rounds = env("SWEEP_BENCH_ROUNDS", 3);
    tch::set_num_interop_threads(1);
    tch::set_num_threads(threads as i32);
    let cfg = JobConfig::default();
    let mut s = Session::new(&cfg, Device::Cpu).expect("the synthetic set opens");
    let batch = cfg.train.batch_size as usize;
    let images: Vec<Image> = (0..batch).map(|i| s.data.image(Split::Train, i)).collect();

    let dir = tempfile::tempdir().expect("a temporary directory");
    s.vs.save(dir.path().join("weights.safetensors"))
        .expect("the weights save");
    let objects: Vec<&[Object]> = images.iter().map(|i| i.objects.as_slice()).collect();
    let a = s.layout.assign(&objects);
    let priors = s.layout.priors_tensor(Device::Cpu);
    let t = a.to_device(&priors, Device::Cpu);
    let x = to_tensor(&images, Device::Cpu);
    let batch_tensors = [
        ("images", x.shallow_clone()),
        ("labels", Tensor::from_slice(&a.labels)),
        ("pos", Tensor::from_slice(&a.pos)),
        ("priors", t.priors.shallow_clone()),
        ("boxes", t.boxes.shallow_clone()),
        ("weight", t.weight.shallow_clone()),
        (
            "centerness",
            t.centerness
                .as_ref()
                .expect("fcos with center-ness")
                .shallow_clone(),
        ),
    ];
    Tensor::write_safetensors(&batch_tensors, dir.path().join("batch.safetensors"))
        .expect("the batch saves");

    let lr = cfg.train.lr;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/train_step_eager.py");
    let eager_round = || -> (Vec<f64>, Vec<f64>) {
        let out = Command::new(std::env::var("SWEEP_PYTHON").unwrap_or_else(|_| "python".into()))
            .arg(script)
            .arg(dir.path())
            .args([threads.to_string(), steps.to_string(), lr.to_string()])
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
        (field("step_seconds "), field("first_losses "))
    };
    let (mut first, mut eager_first) = (None, Vec::new());
    let (mut ours, mut eager) = (Vec::new(), Vec::new());
    // Rounds alternate the two sides, so that a shared machine's changing load falls on both.
    for round in 0..rounds {
        let warm = if round == 0 { 3 } else { 0 };
        for it in 0..steps + warm {
            let t0 = Instant::now();
            let terms = s.objective.terms(&s.model, &s.layout, &x, &t);
            let ctr = terms.ctr.as_ref().expect("center-ness");
            let total = &terms.cls_backprop + &terms.reg + ctr;
            s.opt.zero_grad();
            total.backward();
            s.opt.step(lr);
            if first.is_none() {
                first = Some([&terms.cls, &terms.reg, ctr].map(|t| t.double_value(&[])));
            }
            if it >= warm {
                ours.push(t0.elapsed().as_secs_f64());
            }
        }
        let (times, losses) = eager_round();
        eager.extend(times);
        eager_first = losses;
    }
    let first = first.expect("at least one step");
    let (ours, eager) = (median(ours), median(eager));
    println!(
        "training step, quick FCOS (128 px, batch {batch}, TinyResnet width 32), {threads} threads, median of {rounds} x {steps}:"
    );
    println!("  ours (tch)       {:8.1} ms", ours * 1e3);
    println!("  PyTorch eager    {:8.1} ms", eager * 1e3);
    println!("  eager / ours     {:8.2}x", eager / ours);
    println!(
        "  first-step losses cls, reg, ctr: ours {:.6} {:.6} {:.6}; eager {:.6} {:.6} {:.6}",
        first[0], first[1], first[2], eager_first[0], eager_first[1], eager_first[2]
    );
}
