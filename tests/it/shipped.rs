//! The shipped sweeps: each expands, validates and checks its tables (`sweep plan`) at both
//! scales, and one runs end to end at a reduced size through tables and figures.

use crate::util::{repo, run, sweep, temp_dir};

fn shipped() -> Vec<std::path::PathBuf> {
    let mut specs: Vec<_> = std::fs::read_dir(repo().join("sweeps"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && !p.to_string_lossy().ends_with(".paper.yaml")
        })
        .collect();
    specs.sort();
    specs
}

#[test]
fn every_shipped_sweep_plans_at_each_scale() {
    let specs = shipped();
    assert!(!specs.is_empty(), "{specs:?}");
    for spec in specs {
        for scale in ["quick", "full"] {
            let (code, out, err) = run(sweep().arg("plan").arg(&spec).args(["--scale", scale]));
            assert_eq!(code, 0, "{} --scale {scale}:\n{out}\n{err}", spec.display());
            assert!(
                !out.contains("not run"),
                "every row can run: {}\n{out}",
                spec.display()
            );
        }
    }
}

/// The UGS ablation at a toy size: every row trains, the table has every row with a value,
/// the paper's numbers and the claims, and the figures are drawn.
#[test]
fn ugs_ablation_runs_end_to_end_at_a_reduced_size() {
    let out = temp_dir("shipped-ugs").join("out");
    let sets = [
        "dataset.image_size=64",
        "dataset.train_images=16",
        "dataset.val_images=4",
        "dataset.max_object_size=40",
        "model.backbone.width=8",
        "model.fpn_channels=16",
        "train.iterations=4",
        "train.batch_size=2",
        "train.warmup_iterations=1",
        "train.checkpoint_every=2",
        "train.log_every=2",
    ];
    let mut cmd = sweep();
    cmd.current_dir(repo())
        .args(["run", "ablation_ugs"])
        .arg("--out")
        .arg(&out);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let (code, stdout, err) = run(&mut cmd);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let md = std::fs::read_to_string(out.join("tables/ablation_ugs.md")).unwrap();
    for row in [
        "| L2 (Baseline) |",
        "| L_CE |",
        "| L_CE + IN |",
        "| L_CE + λL_UM (λ=0.5) |",
        "| L_CE + λL_UM + γL^ur (full UGS) |",
    ] {
        let line = md
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("{row} in\n{md}"));
        assert!(line.contains(" ± "), "three seeds give a spread: {line}");
    }
    assert!(md.contains("| AP (ours) | AP (paper) |"), "{md}");
    assert!(
        md.contains("| 21.3 |") && md.contains("| 23.5 |"),
        "paper values: {md}"
    );
    assert!(
        md.contains("- Claim: L_CE + λL_UM + γL^ur (full UGS) > L2 (Baseline) on AP: ")
            && md.contains("; paper +2.2, "),
        "{md}"
    );
    assert!(
        md.contains(
            "scale `quick` with `--set dataset.image_size=64` `--set dataset.train_images=16`"
        ),
        "the caption names the reduced size: {md}"
    );
    for f in ["curves_total.png", "curves_total.svg"] {
        assert!(out.join("plots").join(f).exists(), "{f}");
    }
}
