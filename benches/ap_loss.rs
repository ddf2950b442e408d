//! AP-loss, fast form vs the paper's Algorithm 1, and the cost of a UGS training step.
//!
//! `cargo bench --bench ap_loss` (after `source scripts/libtorch-env.sh`) prints:
//! 1. the AP-loss update for |P| = 200 positives and |N| = 100,000 negatives, both
//!    implementations side by side (median of several calls), their speed ratio, and the
//!    largest difference between their updates and losses: once with every negative
//!    non-trivial (early training, Algorithm 1's worst case) and once with about 1 % of them
//!    non-trivial (a trained detector); then the whole classification loss call (logits tensor
//!    in, surrogate and 1 − AP out) with the fast form;
//! 2. a training step (forward, loss, backward, SGD) of the default config (128 px, batch 8,
//!    FCOS, TinyResnet width 32) with L2, with UGS without refinement (`L_CE + λ·L_UM`) and with
//!    full UGS (γ = 0.1, ρ = 0.5): median step time over 35 steps, the three modes interleaved
//!    step by step (a shared machine's load then slows them alike), and the peak resident
//!    memory (`VmHWM`) of a child process per mode running 10 steps, and its part above the
//!    memory after set-up (model, data, libtorch), compared with L2's.
//!
//! Environment: `SWEEP_BENCH_THREADS` (default 2) intra-op threads; `SWEEP_BENCH_DEVICE=cuda`
//! times the steps on the first GPU (then memory is the process's host RSS, not GPU memory).

// The trainer is compiled into the programs that train (sweep-worker, the trainer benches),
// not into the library. (A bench is built with cfg(test) but without the test harness, so the
// trainer's test modules compile here without their tests.)
#[allow(dead_code, unused_imports)]
#[path = "../src/trainer/mod.rs"]
mod trainer;
#[allow(unused_imports)]
use sweep::{eval, journal, spec};

use std::process::Command;
use std::time::Instant;
use sweep::spec::config::{JobConfig, RegLossSpec, UgsSpec};
use trainer::losses::ap::{algorithm1, fast, ApLoss};
use trainer::losses::ranking::{IGNORED, NEG, POS};
use trainer::losses::{ClsBatch, ClsLoss};
use trainer::run::Session;
use trainer::synth::Rng;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f();
    let times = (0..reps)
        .map(|_| {
            let t = Instant::now();
            out = f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    (median(times), out)
}

/// Scores and labels: 200 positives ~ N(1, 1), 100,000 negatives ~ N(−shift, 1), a few
/// ignored; rounded to 1/64 so that many scores tie.
fn samples(shift: f64) -> (Vec<f64>, Vec<i8>) {
    let mut rng = Rng::new(42);
    let mut normal = || {
        let (u, v) = (rng.unit().max(1e-7) as f64, rng.unit() as f64);
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    let (mut s, mut l) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        s.push(((1.0 + normal()) * 64.0).round() / 64.0);
        l.push(POS);
    }
    for k in 0..100_000 {
        s.push(((normal() - shift) * 64.0).round() / 64.0);
        l.push(if k % 1000 == 0 { IGNORED } else { NEG });
    }
    (s, l)
}

fn ap_case(name: &str, shift: f64) {
    let (s, l) = samples(shift);
    let s_min = (0..200).map(|i| s[i]).fold(f64::INFINITY, f64::min);
    let nontrivial = (200..s.len())
        .filter(|&j| l[j] == NEG && s[j] > s_min - 1.0)
        .count();
    let (t_ref, a) = time(3, || algorithm1(&s, &l, 1.0, true));
    let (t_fast, b) = time(15, || fast(&s, &l, 1.0, true));
    let dg = a
        .grad
        .iter()
        .zip(&b.grad)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    println!(
        "ap-loss {name}: |P| 200, |N| 100000 ({nontrivial} non-trivial): Algorithm 1 {:.2} ms, \
         fast {:.3} ms, {:.0}x; max |Δg| {dg:.1e}, |Δloss| {:.1e} (1 − AP = {:.4})",
        t_ref * 1e3,
        t_fast * 1e3,
        t_ref / t_fast,
        (a.loss - b.loss).abs(),
        b.loss
    );
}

fn ap_loss_call() {
    // 25,050 priors × 4 classes ≈ 100,200 samples, 200 of them positive.
    let (n, c) = (25_050i64, 4i64);
    let mut rng = Rng::new(7);
    let x: Vec<f32> = (0..n * c).map(|_| rng.unit() * 4.0 - 2.0).collect();
    let labels: Vec<i64> = (0..n)
        .map(|i| if i % 125 == 0 { 1 + i % 4 } else { 0 })
        .collect();
    let logits = tch::Tensor::from_slice(&x)
        .view([n, c])
        .set_requires_grad(true);
    let labels = tch::Tensor::from_slice(&labels);
    let loss = ApLoss {
        delta: 1.0,
        interpolate: true,
        minibatch: true,
    };
    let (t, _) = time(15, || {
        let out = loss.loss(&ClsBatch {
            logits: &logits,
            labels: &labels,
            num_pos: 200.0,
            images: 8,
        });
        out.backprop.backward();
        out.value.double_value(&[])
    });
    println!(
        "ap-loss call (logits [{n}, {c}] in, surrogate backward): {:.3} ms",
        t * 1e3
    );
}

fn config(mode: &str) -> JobConfig {
    let mut cfg = JobConfig::default();
    cfg.loss.reg = match mode {
        "l2" => RegLossSpec::l2(),
        "ugs_no_ur" => RegLossSpec::Ugs(UgsSpec {
            in_labels: true,
            lambda: 0.5,
            ..Default::default()
        }),
        _ => RegLossSpec::Ugs(UgsSpec {
            in_labels: true,
            lambda: 0.5,
            gamma: 0.1,
            rho: 0.5,
            ..Default::default()
        }),
    };
    cfg
}

/// `VmHWM` (peak) or `VmRSS` (current) of this process, MiB.
fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn threads_and_device() -> tch::Device {
    let threads: i32 = std::env::var("SWEEP_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    tch::set_num_threads(threads);
    match std::env::var("SWEEP_BENCH_DEVICE").as_deref() {
        Ok("cuda") => tch::Device::Cuda(0),
        _ => tch::Device::Cpu,
    }
}

const MODES: [&str; 3] = ["l2", "ugs_no_ur", "ugs_full"];

/// The child: a few training steps of one mode, then print the peak RSS in MiB.
fn child(mode: &str) {
    let device = threads_and_device();
    let mut s = Session::new(&config(mode), device).expect("a valid config");
    let setup = rss_mib("VmRSS:");
    for it in 0..10 {
        let _ = s.step(it, 0.01)[0].double_value(&[]);
    }
    let peak = rss_mib("VmHWM:");
    println!("{peak} {}", peak - setup);
}

/// Step times, interleaved: one step of each mode in turn, so that a change in the machine's
/// load hits every mode alike; the median of each. Peak memory from one child process per mode.
fn steps() {
    let device = threads_and_device();
    let mut sessions: Vec<Session> = MODES
        .iter()
        .map(|m| Session::new(&config(m), device).expect("a valid config"))
        .collect();
    let mut times = vec![Vec::new(); MODES.len()];
    for it in 0..40 {
        for (k, s) in sessions.iter_mut().enumerate() {
            let t = Instant::now();
            let _ = s.step(it, 0.01)[0].double_value(&[]); // synchronise
            if it >= 5 {
                times[k].push(t.elapsed().as_secs_f64());
            }
        }
    }
    let exe = std::env::current_exe().expect("the bench binary");
    let mut base = (0.0, 0.0, 0.0);
    for (k, mode) in MODES.iter().enumerate() {
        let out = Command::new(&exe)
            .env("SWEEP_BENCH_CHILD", mode)
            .output()
            .expect("child runs");
        let mem: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(f64::NAN))
            .chain([f64::NAN, f64::NAN])
            .take(2)
            .collect();
        let t = median(times[k].clone());
        if k == 0 {
            base = (t, mem[0], mem[1]);
        }
        println!(
            "step {mode:10}: {:.1} ms ({:+.0}% vs L2); peak RSS {:.0} MiB ({:+.0}%), \
             of which training {:.0} MiB ({:+.0}% vs L2)",
            t * 1e3,
            (t / base.0 - 1.0) * 100.0,
            mem[0],
            (mem[0] / base.1 - 1.0) * 100.0,
            mem[1],
            (mem[1] / base.2 - 1.0) * 100.0
        );
    }
}

fn main() {
    if let Ok(mode) = std::env::var("SWEEP_BENCH_CHILD") {
        return child(&mode);
    }
    ap_case("all negatives non-trivial", 0.0);
    ap_case("few negatives non-trivial", 5.0);
    ap_loss_call();
    steps();
}
