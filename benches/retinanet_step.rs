//! A training step of RetinaNet R-50-FPN (512 px, batch 2): ours against torchvision's in
//! PyTorch 2.11 eager (`benches/retinanet_step.py`, run with the project's venv), same model,
//! same input, same intra-op threads; prints both medians and the ratio.
//!
//! `cargo bench --bench retinanet_step` (after `source scripts/libtorch-env.sh`).
//! Environment: `SWEEP_BENCH_THREADS` (default 2), `SWEEP_BENCH_STEPS` (default 3),
//! `SWEEP_PYTHON` (default: the venv's python next to `SWEEP_TORCH_LIB`).

// The trainer is compiled into the programs that train (sweep-worker, the trainer benches),
// not into the library. (A bench is built with cfg(test) but without the test harness, so the
// trainer's test modules compile here without their tests.)
#[allow(dead_code, unused_imports)]
#[path = "../src/trainer/mod.rs"]
mod trainer;

#[allow(dead_code)] // each bench uses some of them
#[path = "support/mod.rs"]
mod support;
use support::{eager_median, env, median};
#[allow(unused_imports)]
use sweep::{eval, journal, spec};

use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};
use trainer::detectors::retinanet::{RetinaNet, RetinaNetConfig, Target};
use trainer::losses::{focal::Focal, l1::L1, Reg};
use trainer::objective::{Normalise, Objective};
use trainer::optim::Sgd;
use trainer::transform::Transform;

const SIZE: u32 = 512;
const BATCH: usize = 2;

fn ours(steps: usize) -> f64 {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let model = RetinaNet::new(&vs.root(), &RetinaNetConfig::torchvision(50, 91));
    let mut opt = Sgd::new(&vs, 0.9, 1e-4, None);
    // torchvision's RetinaNet objective: focal (α 0.25, γ 2) + L1, normalised per image.
    let focal = Focal {
        alpha: 0.25,
        gamma: 2.0,
    };
    let objective = Objective::of_parts(
        Box::new(focal),
        Reg::Plain(Box::new(L1)),
        None,
        Normalise::PER_IMAGE,
    );
    let transform = Transform::torchvision(SIZE, SIZE);
    let images: Vec<Tensor> = (0..BATCH)
        .map(|_| Tensor::rand([3, SIZE as i64, SIZE as i64], (Kind::Float, Device::Cpu)))
        .collect();
    let boxes = Tensor::from_slice(&[
        20f32, 30., 200., 260., 250., 100., 400., 300., 50., 350., 120., 420.,
    ])
    .view([3, 4]);
    let all: Vec<Tensor> = (0..BATCH).map(|_| boxes.shallow_clone()).collect();
    let mut times = Vec::new();
    for i in 0..=steps {
        let t = Instant::now();
        let (list, scaled) = transform.batch(&images, Some(&all));
        let targets: Vec<Target> = scaled
            .into_iter()
            .map(|b| Target {
                boxes: b,
                labels: Tensor::from_slice(&[1i64, 17, 3]),
            })
            .collect();
        let out = model.forward(&list.tensors);
        let anchors = model.anchors(&list.tensors, &out.features);
        let l = model.terms(&objective, &out, &anchors, &targets);
        opt.zero_grad();
        (l.cls_backprop + l.reg).backward();
        opt.step(0.001);
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    median(times)
}

fn main() {
    let threads = env("SWEEP_BENCH_THREADS", 2);
    let steps = env("SWEEP_BENCH_STEPS", 3);
    tch::set_num_threads(threads as i32);
    tch::set_num_interop_threads(1);
    let tv = eager_median("retinanet_step.py", &[threads, steps, SIZE as usize, BATCH]);
    let us = ours(steps);
    println!("RetinaNet R-50-FPN training step, {SIZE} px, batch {BATCH}, {threads} threads, CPU, median of {steps}:");
    println!("  torchvision 0.26 eager: {tv:.3} s");
    println!("  ours (tch):             {us:.3} s");
    println!("  ours / eager:           {:.2}", us / tv);
}
