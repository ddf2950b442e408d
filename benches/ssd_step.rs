//! A training step of SSD300 VGG16 (batch 8, 512 px images resized to 300 × 300): ours against
//! torchvision's in PyTorch 2.11 eager (`benches/ssd_step.py`, run with the project's venv),
//! same model, same input, same intra-op threads; prints both medians and the ratio.
//!
//! `cargo bench --bench ssd_step` (after `source scripts/libtorch-env.sh`).
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
use trainer::detectors::retinanet::Target;
use trainer::detectors::ssd::{Ssd, SsdConfig};
use trainer::detectors::ssd_loss::SsdCls;
use trainer::losses::smooth_l1::SmoothL1;
use trainer::optim::Sgd;
use trainer::transform::Transform;

const SIZE: u32 = 512;
const BATCH: usize = 8;

fn ours(steps: usize) -> f64 {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let mut cfg = SsdConfig::torchvision(90);
    cfg.trainable_layers = 5;
    let model = Ssd::new(&vs.root(), &cfg);
    let mut opt = Sgd::new(&vs, 0.9, 5e-4, None);
    let transform = Transform::ssd300();
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
                // torchvision's labels 1, 17, 3 are columns; ours are the classes.
                labels: Tensor::from_slice(&[0i64, 16, 2]),
            })
            .collect();
        let out = model.forward(&list.tensors);
        let anchors = model.anchors(&list.tensors, &out.features);
        let l = model.losses(
            &out,
            &anchors,
            &targets,
            SsdCls::Torchvision {
                neg_to_pos_ratio: 3.0,
            },
            &SmoothL1 { beta: 1.0 },
        );
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
    let tv = eager_median("ssd_step.py", &[threads, steps, SIZE as usize, BATCH]);
    let us = ours(steps);
    println!("SSD300 VGG16 training step, {SIZE} px images, batch {BATCH}, {threads} threads, CPU, median of {steps}:");
    println!("  torchvision 0.26 eager: {tv:.3} s");
    println!("  ours (tch):             {us:.3} s");
    println!("  ours / eager:           {:.2}", us / tv);
}
