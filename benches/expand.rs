//! Expanding 10⁵ grid points: the orchestrator's own cost must stay well under a second.
//! `cargo bench --bench expand` prints the time per expansion and per job.

use std::path::Path;
use std::time::Instant;

fn main() {
    let text = "name: big\nbase: {loss: {reg: {kind: smooth_l1}}}\ngrid:\n  train.lr: [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01]\n  train.momentum: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]\n  loss.reg.beta: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]\n  loss.cls.gamma: [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]\n  train.batch_size: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n";
    let spec = sweep::spec::parse(Path::new("big.yaml"), text.into(), None, &[])
        .expect("bench spec is valid");
    let mut best = f64::INFINITY;
    let mut n = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let jobs = sweep::expand::expand(&spec).expect("bench spec expands");
        best = best.min(t.elapsed().as_secs_f64());
        n = jobs.len();
        let plan = sweep::plan::Plan::new(jobs).expect("no cycles");
        assert_eq!(
            plan.distinct_jobs(),
            n,
            "every grid point is a distinct job"
        );
    }
    println!(
        "expand: {n} jobs in {:.3} s (best of 3), {:.2} µs per job, {} threads",
        best,
        best * 1e6 / n as f64,
        rayon::current_num_threads()
    );
}
