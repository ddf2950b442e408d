//! The torchvision RetinaNet, FCOS and Faster R-CNN through the whole job: train, checkpoint,
//! resume, evaluate, and FCOS's loss falling on a small synthetic set.
//! (Its numerics against torchvision itself: tests/it/golden_detectors.rs.)

use super::tests::{fresh_dir, run_job};
use crate::spec::config::*;

fn tv() -> JobConfig {
    JobConfig {
        dataset: DatasetSpec::Synthetic(SyntheticSpec {
            image_size: 64,
            train_images: 8,
            val_images: 4,
            num_classes: 2,
            max_objects: 3,
            max_object_size: 40.0,
            ..Default::default()
        }),
        model: ModelSpec {
            detector: DetectorSpec::TorchvisionRetinanet(TorchvisionRetinanetSpec {
                min_size: 64,
                max_size: 64,
                fpn_channels: 16,
                ..Default::default()
            }),
            backbone: BackboneSpec::Resnet(ResnetSpec {
                depth: 18,
                trainable_layers: 5,
                ..Default::default()
            }),
            ..Default::default()
        },
        train: TrainSpec {
            iterations: 4,
            batch_size: 2,
            lr: 0.001,
            warmup_iterations: 1,
            log_every: 2,
            checkpoint_every: 2,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// [`tv`] with torchvision's FCOS (two convs per tower to keep it quick).
fn tv_fcos() -> JobConfig {
    let mut cfg = tv();
    cfg.model.detector = DetectorSpec::TorchvisionFcos(TorchvisionFcosSpec {
        min_size: 64,
        max_size: 64,
        fpn_channels: 32,
        num_convs: 2,
        ..Default::default()
    });
    cfg
}

/// [`tv`] with torchvision's SSD300 on VGG16 and a registry loss (AP-loss, sigmoid scores).
fn tv_ssd() -> JobConfig {
    let mut cfg = tv();
    cfg.model.detector = DetectorSpec::TorchvisionSsd(Default::default());
    cfg.model.backbone = BackboneSpec::Vgg16(Vgg16Spec {
        trainable_layers: 5,
        ..Default::default()
    });
    cfg.loss.cls = ClsLossSpec::Ap {
        delta: 1.0,
        interpolate: true,
        minibatch: true,
    };
    cfg.loss.reg = RegLossSpec::SmoothL1 { beta: 1.0 };
    cfg
}

/// [`tv`] with torchvision's Faster R-CNN at tiny sizes, its losses as the spec resolves them
/// (softmax and smooth L1 on the box head, torchvision's RPN losses), ALWA_1 on the RPN's
/// weights.
fn tv_faster() -> JobConfig {
    let mut cfg = tv();
    cfg.model.detector = DetectorSpec::TorchvisionFasterRcnn(TorchvisionFasterRcnnSpec {
        min_size: 64,
        max_size: 64,
        fpn_channels: 16,
        representation_size: 32,
        rpn_pre_nms_top_n_train: 200,
        rpn_post_nms_top_n_train: 100,
        rpn_pre_nms_top_n_test: 100,
        rpn_post_nms_top_n_test: 50,
        rpn_batch_size_per_image: 64,
        box_batch_size_per_image: 32,
        box_score_thresh: 0.0,
        ..Default::default()
    });
    cfg.loss.cls = ClsLossSpec::Softmax;
    cfg.loss.reg = RegLossSpec::SmoothL1 { beta: 1.0 / 9.0 };
    cfg.loss.rpn = Some(RpnLossSpec {
        weights: WeightsSpec {
            // A small regression weight, so the (weighted) objectness exceeds it and ALWA
            // moves the objectness weight.
            reg: 0.1,
            adapt: Some(AdaptSpec::Alwa {
                variant: 1,
                window: 2,
                record: AlwaRecord::default(),
                std: StdKind::default(),
            }),
            ..Default::default()
        },
        ..Default::default()
    });
    cfg
}

#[test]
fn torchvision_ssd_trains_resumes_bit_identically_and_evaluates() {
    trains_resumes_bit_identically_and_evaluates(&tv_ssd(), "tv-ssd");
}

#[test]
fn torchvision_faster_rcnn_trains_resumes_bit_identically_and_evaluates() {
    let cfg = tv_faster();
    let (r, seen) = run_job(&cfg, &fresh_dir("tv-faster-names"), None);
    r.unwrap();
    let names: Vec<&str> = seen[0].losses.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, super::tv_faster::LOSS_NAMES);
    let w: Vec<&str> = seen[0].weights.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(w, ["cls", "reg", "rpn_cls", "rpn_reg"]);
    // ALWA moved the RPN's classification weight off 1 after its first window.
    let last = seen.last().unwrap();
    assert!(last.weights[2].1 != 1.0, "{seen:?}");
    trains_resumes_bit_identically_and_evaluates(&cfg, "tv-faster");
    // The IoU family on both stages and a registry loss on the box head run too.
    let mut iou = cfg.clone();
    iou.loss.reg = RegLossSpec::Ciou;
    iou.loss.rpn.as_mut().unwrap().reg = RegLossSpec::Ciou;
    iou.loss.cls = ClsLossSpec::Focal {
        alpha: 0.25,
        gamma: 2.0,
    };
    let (r, seen) = run_job(&iou, &fresh_dir("tv-faster-ciou"), None);
    r.unwrap();
    assert!(seen
        .iter()
        .all(|p| p.losses.iter().all(|(_, v)| v.is_finite())));
}

#[test]
fn torchvision_retinanet_trains_resumes_bit_identically_and_evaluates() {
    trains_resumes_bit_identically_and_evaluates(&tv(), "tv");
}

#[test]
fn torchvision_fcos_trains_resumes_bit_identically_and_evaluates() {
    let cfg = tv_fcos();
    let (r, seen) = run_job(&cfg, &fresh_dir("tv-fcos-names"), None);
    r.unwrap();
    let names: Vec<&str> = seen[0].losses.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["total", "cls", "reg", "ctr"]);
    trains_resumes_bit_identically_and_evaluates(&cfg, "tv-fcos");
}

/// UGS (with UR) and the harmonic coupling through whole jobs on torchvision's detectors: their
/// terms are logged, and a UGS job resumes bit-identically (its perturbation is deterministic).
#[test]
fn ugs_and_harmonic_run_whole_jobs_on_torchvision_detectors() {
    let ugs = RegLossSpec::Ugs(UgsSpec {
        in_labels: true,
        lambda: 0.5,
        gamma: 0.1,
        rho: 0.5,
        ..Default::default()
    });
    let harmonic = Some(CouplingSpec::Harmonic {
        detach: false,
        cls: HarmonicCls::Focal,
    });
    let names = |cfg: &JobConfig, tag: &str| -> Vec<String> {
        let (r, seen) = run_job(cfg, &fresh_dir(tag), None);
        r.unwrap();
        seen[0].losses.iter().map(|(n, _)| n.clone()).collect()
    };
    let mut retina_ugs = tv();
    retina_ugs.loss.reg = ugs.clone();
    assert_eq!(
        names(&retina_ugs, "tv-ugs-names"),
        ["total", "cls", "reg", "ugs_ce", "ugs_um", "ugs_ur"]
    );
    trains_resumes_bit_identically_and_evaluates(&retina_ugs, "tv-ugs");
    let mut fcos_ugs = tv_fcos();
    fcos_ugs.loss.reg = ugs;
    assert_eq!(
        names(&fcos_ugs, "tv-fcos-ugs"),
        ["total", "cls", "reg", "ctr", "ugs_ce", "ugs_um", "ugs_ur"]
    );
    let mut retina_harmonic = tv();
    retina_harmonic.loss.coupling = harmonic;
    assert_eq!(
        names(&retina_harmonic, "tv-harmonic"),
        ["total", "cls", "reg", super::objective::HARMONIC_NEG_COLUMN]
    );
}

#[test]
fn torchvision_fcos_loss_falls_on_a_small_set() {
    let mut cfg = tv_fcos();
    cfg.train.iterations = 60;
    cfg.train.batch_size = 4;
    cfg.train.lr = 0.01;
    cfg.train.warmup_iterations = 5;
    cfg.train.log_every = 10;
    cfg.train.checkpoint_every = 60;
    let (r, seen) = run_job(&cfg, &fresh_dir("tv-fcos-falls"), None);
    r.unwrap();
    let total = |p: &super::Progress| p.losses[0].1;
    let (first, last) = (total(&seen[0]), total(seen.last().unwrap()));
    eprintln!("torchvision_fcos total loss: iterations 1-10 {first:.4}, 51-60 {last:.4}");
    assert!(last < 0.8 * first, "{first} -> {last}: {seen:?}");
}

fn trains_resumes_bit_identically_and_evaluates(cfg: &JobConfig, tag: &str) {
    let cfg = cfg.clone();
    let whole = fresh_dir(&format!("{tag}-whole"));
    let (r, seen) = run_job(&cfg, &whole, None);
    let out = r.unwrap();
    assert_eq!(out.iterations, 4);
    assert!(
        seen.iter()
            .all(|p| p.losses.iter().all(|(_, v)| v.is_finite())),
        "{seen:?}"
    );
    assert!(whole.join("detections.json").is_file());
    let parts = fresh_dir(&format!("{tag}-parts"));
    let (r, _) = run_job(&cfg, &parts, Some(2));
    assert!(
        matches!(r, Err(super::TrainError::Interrupted { iteration: 2 })),
        "{r:?}"
    );
    let (r, _) = run_job(&cfg, &parts, None);
    let resumed = r.unwrap();
    assert_eq!(resumed.resumed_from, Some(2));
    assert_eq!(resumed.metrics, out.metrics);
    let curve = |d: &std::path::Path| std::fs::read_to_string(d.join("curves.csv")).unwrap();
    let strip = |s: String| -> Vec<String> {
        // images_per_sec (the last column) is a timing.
        s.lines()
            .map(|l| l.rsplit_once(',').map_or(l, |x| x.0).to_string())
            .collect()
    };
    assert_eq!(strip(curve(&whole)), strip(curve(&parts)));
}

/// The robustness evaluations on torchvision's RetinaNet: each perturbation changes what the
/// detector sees, and the same one twice gives the same detections (seeded streams).
#[test]
fn torchvision_retinanet_evaluates_perturbed_val_sets_reproducibly() {
    let _turn = super::tests::serial();
    let mut cfg = tv();
    if let DetectorSpec::TorchvisionRetinanet(d) = &mut cfg.model.detector {
        d.score_thresh = 0.0; // an untrained head scores ≈ 0.01: keep its candidates
    }
    let session = super::tv_session::TvSession::new(&cfg, tch::Device::Cpu).unwrap();
    let (clean, _) = session.try_evaluate().unwrap();
    assert!(!clean.is_empty());
    for kind in Perturbation::ALL {
        let (a, _) = session.try_evaluate_perturbed(kind).unwrap();
        let (b, _) = session.try_evaluate_perturbed(kind).unwrap();
        assert_eq!(a, b, "{kind:?} twice");
        assert_ne!(a, clean, "{kind:?} changes the detections");
    }
}
