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

/// What a shipped sweep runs at `--scale full`, as its header says: name, detector kinds,
/// backbone (`resnet` depths, or none for the tiny stand-in), dataset kind, job count.
type FullScale = (
    &'static str,
    &'static [&'static str],
    &'static [u32],
    &'static str,
    usize,
);

const FULL: [FullScale; 12] = [
    ("ablation_ugs", &["torchvision_fcos"], &[50], "visdrone", 15),
    ("alwa_t1", &["torchvision_retinanet"], &[50], "voc", 99),
    ("alwa_t2", &["torchvision_retinanet"], &[50, 101], "voc", 54),
    ("alwa_t3", &["torchvision_faster_rcnn"], &[50], "voc", 27),
    ("alwa_t4", &["torchvision_faster_rcnn"], &[50], "coco", 27),
    ("alwa_t5", &["torchvision_faster_rcnn"], &[50], "coco", 30),
    ("alwa_t7_t8", &["torchvision_retinanet"], &[50], "voc", 72),
    (
        "ap_loss",
        &["torchvision_retinanet", "torchvision_fcos"],
        &[50],
        "voc",
        24,
    ),
    ("ap_loss_t1", &["torchvision_retinanet"], &[50], "voc", 27),
    ("harmonic", &["torchvision_fcos"], &[50], "coco", 24),
    ("ugs_hparams", &["torchvision_fcos"], &[50], "visdrone", 36),
    (
        "ugs_main",
        &["torchvision_retinanet", "torchvision_fcos"],
        &[50],
        "visdrone",
        12,
    ),
];

/// The data and weights layout the full scales name (README, "Running at the papers' scale"),
/// as empty files and directories: enough for `sweep plan`, which checks paths, not contents.
fn fake_paper_data(dir: &std::path::Path) {
    let voc = dir.join("data/VOCdevkit");
    for (year, sets) in [
        ("VOC2007", &["trainval", "test"][..]),
        ("VOC2012", &["trainval"][..]),
    ] {
        let main = voc.join(year).join("ImageSets/Main");
        std::fs::create_dir_all(&main).unwrap();
        for s in sets {
            std::fs::write(main.join(format!("{s}.txt")), "").unwrap();
        }
    }
    let coco = dir.join("data/coco");
    for d in ["train2017", "val2017", "annotations"] {
        std::fs::create_dir_all(coco.join(d)).unwrap();
    }
    for f in ["instances_train2017.json", "instances_val2017.json"] {
        std::fs::write(coco.join("annotations").join(f), "{}").unwrap();
    }
    for split in ["VisDrone2019-DET-train", "VisDrone2019-DET-val"] {
        for d in ["images", "annotations"] {
            std::fs::create_dir_all(dir.join("data/visdrone").join(split).join(d)).unwrap();
        }
    }
    std::fs::create_dir_all(dir.join("weights")).unwrap();
    for w in ["resnet50-0676ba61", "resnet101-63fe2227"] {
        std::fs::write(dir.join(format!("weights/{w}.safetensors")), w).unwrap();
    }
}

#[test]
fn every_shipped_sweep_plans_at_each_scale() {
    let specs = shipped();
    assert_eq!(specs.len(), FULL.len(), "{specs:?}");
    let data = temp_dir("shipped-paper-data");
    fake_paper_data(&data);
    for spec in specs {
        for scale in ["quick", "full"] {
            let (code, out, err) = run(sweep()
                .current_dir(&data)
                .arg("plan")
                .arg(&spec)
                .args(["--scale", scale]));
            assert_eq!(code, 0, "{} --scale {scale}:\n{out}\n{err}", spec.display());
            assert!(
                !out.contains("not run"),
                "every row can run: {}\n{out}",
                spec.display()
            );
        }
    }
}

/// At `full`, every job runs the detector, backbone and data its header names, on 3 seeds,
/// from the ImageNet weights the README says how to get.
#[test]
fn full_scales_are_the_papers_settings_their_headers_name() {
    let data = temp_dir("shipped-full-configs");
    fake_paper_data(&data);
    for (name, detectors, depths, dataset, count) in FULL {
        let spec = repo().join("sweeps").join(format!("{name}.yaml"));
        let text = std::fs::read_to_string(&spec).unwrap();
        let note = text
            .split("# Full scale (`--scale full`)")
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: the header has a \"Full scale\" note"));
        let mut lines = note.lines();
        let first = lines.next().unwrap_or_default();
        let note: String = std::iter::once(first)
            .chain(lines.take_while(|l| l.starts_with('#')))
            .collect::<Vec<_>>()
            .join(" ");
        let (code, out, err) = run(sweep()
            .current_dir(&data)
            .args(["plan", "--json", "--scale", "full"])
            .arg(&spec));
        assert_eq!(code, 0, "{name}: {err}");
        let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
        let jobs = plan["jobs"].as_array().unwrap();
        assert_eq!(jobs.len(), count, "{name}");
        let mut seen_detectors = std::collections::BTreeSet::new();
        let mut seen_depths = std::collections::BTreeSet::new();
        let mut seeds = std::collections::BTreeSet::new();
        for j in jobs {
            let c = &j["config"];
            assert_eq!(c["dataset"]["kind"], dataset, "{name}");
            seen_detectors.insert(c["model"]["detector"]["kind"].as_str().unwrap().to_string());
            seeds.insert(c["train"]["seed"].as_u64().unwrap());
            let backbone = &c["model"]["backbone"];
            if depths.is_empty() {
                assert_eq!(backbone["kind"], "tiny_resnet", "{name}");
                continue;
            }
            assert_eq!(backbone["kind"], "resnet", "{name}");
            let depth = backbone["depth"].as_u64().unwrap() as u32;
            seen_depths.insert(depth);
            let weights = backbone["weights"].as_str().unwrap();
            let file = if depth == 50 {
                "resnet50-0676ba61"
            } else {
                "resnet101-63fe2227"
            };
            assert_eq!(weights, format!("weights/{file}.safetensors"), "{name}");
            assert!(backbone["weights_sha256"].is_string(), "{name}: hashed");
        }
        let want: std::collections::BTreeSet<String> =
            detectors.iter().map(|d| d.to_string()).collect();
        assert_eq!(seen_detectors, want, "{name}");
        assert_eq!(seen_depths, depths.iter().copied().collect(), "{name}");
        assert_eq!(seeds, [0, 1, 2].into(), "{name}");
        for d in detectors {
            let said = if d.starts_with("torchvision_") {
                d.to_string()
            } else {
                "tiny".into()
            };
            assert!(
                note.contains(&said),
                "{name}: the header names {said}: {note}"
            );
        }
        for depth in depths {
            assert!(
                note.contains(&format!("ResNet-{depth}")),
                "{name}: ResNet-{depth}: {note}"
            );
        }
    }
}

/// Without the data and weights, a full plan names every missing path, where the spec sets it,
/// and how to get it, and plans nothing.
#[test]
fn a_full_plan_without_data_names_every_missing_path_and_how_to_get_it() {
    let empty = temp_dir("shipped-no-data");
    // (spec, missing paths: one per data set key and weights file)
    let cases: [(&str, &[&str]); 4] = [
        (
            "alwa_t2",
            &[
                "data/VOCdevkit",
                "weights/resnet50-0676ba61.safetensors",
                "weights/resnet101-63fe2227.safetensors",
            ],
        ),
        (
            "harmonic",
            &[
                "data/coco/train2017",
                "data/coco/val2017",
                "data/coco/annotations/instances_train2017.json",
                "data/coco/annotations/instances_val2017.json",
                "weights/resnet50-0676ba61.safetensors",
            ],
        ),
        (
            "ugs_main",
            &["data/visdrone", "weights/resnet50-0676ba61.safetensors"],
        ),
        (
            "ap_loss",
            &["data/VOCdevkit", "weights/resnet50-0676ba61.safetensors"],
        ),
    ];
    for (name, missing) in cases {
        let spec = repo().join("sweeps").join(format!("{name}.yaml"));
        let (code, out, err) = run(sweep()
            .current_dir(&empty)
            .args(["plan", "--scale", "full"])
            .arg(&spec));
        assert_eq!(code, 2, "{name}: {out}\n{err}");
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.contains(" does not exist"))
            .collect();
        assert_eq!(
            lines.len(),
            missing.len(),
            "{name}: one error per path:\n{err}"
        );
        for path in missing {
            let line = lines
                .iter()
                .find(|l| l.contains(&format!(": {path} does not exist")))
                .unwrap_or_else(|| panic!("{name}: {path} in\n{err}"));
            assert!(line.contains(&format!("{name}.yaml:")), "located: {line}");
            assert!(line.contains(": scales.full."), "the spec key: {line}");
            let how = if path.starts_with("weights/") {
                let stem = path
                    .trim_start_matches("weights/")
                    .trim_end_matches(".safetensors");
                format!("https://download.pytorch.org/models/{stem}.pth && scripts/convert-weights {stem}.pth {path}")
            } else if path.contains("VOC") {
                "VOCtest_06-Nov-2007.tar".to_string()
            } else if path.contains("coco") {
                "annotations_trainval2017.zip".to_string()
            } else {
                "VisDrone2019-DET-train.zip".to_string()
            };
            assert!(
                line.contains("(to get it: ") && line.contains(&how),
                "{how} in {line}"
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
