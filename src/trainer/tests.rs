//! Training tests on a tiny config: smoke, determinism, checkpoint/resume, reload, assignment.

use super::layout::Layout;
use super::run::Session;
use super::synth::Object;
use super::*;
use crate::spec::config::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use tch::{Device, Tensor};

/// Held by every test that trains: libtorch's intra-op threads of two concurrent trainings
/// oversubscribe a 2-core CI machine so badly (threads spin while waiting) that the suite ran
/// 6× slower in parallel (111 s) than one test at a time (18 s).
pub(super) fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The smallest model the tests train: a width-8 ResNet, 16 FPN channels, one head conv.
pub(crate) fn tiny_model() -> ModelSpec {
    ModelSpec {
        backbone: BackboneSpec::TinyResnet {
            width: 8,
            blocks: vec![1, 1, 1, 1],
        },
        fpn_channels: 16,
        head_convs: 1,
        ..Default::default()
    }
}

fn tiny() -> JobConfig {
    JobConfig {
        dataset: DatasetSpec::Synthetic(SyntheticSpec {
            image_size: 64,
            train_images: 48,
            val_images: 8,
            max_objects: 4,
            max_object_size: 40.0,
            ..Default::default()
        }),
        model: tiny_model(),
        train: TrainSpec {
            iterations: 30,
            batch_size: 4,
            warmup_iterations: 5,
            log_every: 5,
            checkpoint_every: 15,
            ..Default::default()
        },
        ..Default::default()
    }
}

pub(super) fn fresh_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "sweep-trainer-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts(stop: Arc<AtomicBool>) -> TrainOptions {
    TrainOptions {
        threads: 2,
        device: DeviceChoice::Cpu,
        stop,
        notes: None,
    }
}

pub(super) fn run_job(
    cfg: &JobConfig,
    dir: &Path,
    stop_at: Option<u64>,
) -> (Result<TrainOutcome, TrainError>, Vec<Progress>) {
    let _serial = serial();
    run_job_serial(cfg, dir, stop_at)
}

/// [`run_job`] for a caller that holds [`serial`] already.
pub(super) fn run_job_serial(
    cfg: &JobConfig,
    dir: &Path,
    stop_at: Option<u64>,
) -> (Result<TrainOutcome, TrainError>, Vec<Progress>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut seen = Vec::new();
    let flag = stop.clone();
    let r = train(cfg, dir, &opts(stop), &mut |p: &Progress| {
        seen.push(p.clone());
        if Some(p.iteration) == stop_at {
            flag.store(true, Ordering::SeqCst);
        }
    });
    (r, seen)
}

fn checkpoint_tensors(dir: &Path) -> HashMap<String, Tensor> {
    checkpoint::load(dir, Device::Cpu)
        .unwrap()
        .expect("a checkpoint")
        .tensors
}

fn assert_same_tensors(a: &HashMap<String, Tensor>, b: &HashMap<String, Tensor>) {
    assert_eq!(a.len(), b.len());
    for (k, t) in a {
        assert!(t.equal(&b[k]), "tensor {k} differs");
    }
}

#[test]
fn smoke_loss_goes_down_and_only_our_files_are_written() {
    let dir = fresh_dir("smoke");
    let (r, seen) = run_job(&tiny(), &dir, None);
    let out = r.unwrap();
    assert_eq!(
        (out.iterations, out.resumed_from, out.device.as_str()),
        (30, None, "cpu")
    );
    let total = |p: &Progress| p.losses[0].1;
    assert_eq!(seen.len(), 6);
    assert!(total(&seen[5]) < total(&seen[0]), "{seen:?}");
    assert!(out.metrics.ap.is_finite() && out.metrics.ap >= 0.0);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "checkpoint",
            "curves.csv",
            "detections.json",
            "val_bootstrap.json"
        ]
    );
    // The val-image bootstrap: 1,000 resamples of AP and AP50 around the measured values.
    let boot: crate::eval::coco::ImageBootstrap =
        serde_json::from_slice(&std::fs::read(dir.join("val_bootstrap.json")).unwrap()).unwrap();
    assert_eq!(
        (boot.resamples, boot.ap.len(), boot.ap50.len()),
        (1000, 1000, 1000)
    );
    let mean = sweep::stats::mean(&boot.ap50);
    assert!(
        (mean - out.metrics.ap50).abs() < 0.1 + out.metrics.ap50,
        "{mean}"
    );
    let mut ck: Vec<String> = std::fs::read_dir(dir.join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    ck.sort();
    assert_eq!(
        ck,
        ["latest.json", "latest.ot", "previous.json", "previous.ot"]
    );
    let curves = std::fs::read_to_string(dir.join("curves.csv")).unwrap();
    assert_eq!(
        curves.lines().next().unwrap(),
        "iteration,lr,total,cls,reg,ctr,w_cls,w_reg,grad_norm,clipped,images_per_sec"
    );
    assert_eq!(curves.lines().count(), 7);
    let dets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("detections.json")).unwrap())
            .unwrap();
    assert!(dets.is_array());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `grad_norm` and `clipped` at every logged row, and the count over every iteration: a clip
/// far below any gradient norm acts at each step, no clip never does.
#[test]
fn clipping_is_logged_per_row_and_counted_over_the_run() {
    let column = |text: &str, name: &str| -> Vec<f64> {
        let mut lines = text.lines();
        let k = lines
            .next()
            .unwrap()
            .split(',')
            .position(|h| h == name)
            .unwrap();
        lines
            .map(|l| l.split(',').nth(k).unwrap().parse().unwrap())
            .collect()
    };
    for (clip, want) in [(Some(1e-6), 1.0), (None, 0.0)] {
        let mut cfg = tiny();
        (cfg.train.iterations, cfg.train.log_every) = (10, 5);
        cfg.train.grad_clip = clip;
        let dir = fresh_dir("clip-log");
        let out = run_job(&cfg, &dir, None).0.unwrap();
        let curves = std::fs::read_to_string(dir.join("curves.csv")).unwrap();
        assert_eq!(column(&curves, "clipped"), [want, want], "{clip:?}");
        assert!(column(&curves, "grad_norm")
            .iter()
            .all(|n| n.is_finite() && *n > 0.0));
        assert_eq!(out.clipped_iterations, (10.0 * want) as u64, "{clip:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn same_config_and_threads_give_identical_results() {
    let mut cfg = tiny();
    cfg.train.iterations = 20;
    let (a, b) = (fresh_dir("det-a"), fresh_dir("det-b"));
    let ra = run_job(&cfg, &a, None).0.unwrap();
    let rb = run_job(&cfg, &b, None).0.unwrap();
    assert_eq!(ra.metrics, rb.metrics);
    assert_same_tensors(&checkpoint_tensors(&a), &checkpoint_tensors(&b));
    let _ = (std::fs::remove_dir_all(&a), std::fs::remove_dir_all(&b));
}

#[test]
fn interrupted_and_resumed_run_is_bit_identical() {
    let mut cfg = tiny();
    (cfg.train.iterations, cfg.train.checkpoint_every) = (20, 10);
    // ALWA with a window of 3: the checkpoint at 10 falls inside a window, so its weights and
    // recorded losses must be restored too.
    cfg.loss.weights = WeightsSpec {
        cls: 0.75,
        reg: 0.75,
        adapt: Some(AdaptSpec::Alwa {
            variant: 2,
            window: 3,
            record: AlwaRecord::Weighted,
            std: StdKind::Sample,
        }),
    };
    let (a, b) = (fresh_dir("full"), fresh_dir("resumed"));
    let full = run_job(&cfg, &a, None).0.unwrap();
    let (r, _) = run_job(&cfg, &b, Some(10));
    assert!(
        matches!(r, Err(TrainError::Interrupted { iteration: 10 })),
        "{r:?}"
    );
    std::fs::write(b.join("checkpoint/.tmp-99.ot"), b"stale").unwrap();
    std::fs::write(b.join(".trainer-tmp-curves.csv"), b"stale").unwrap();
    let (r, seen) = run_job(&cfg, &b, None);
    let resumed = r.unwrap();
    assert_eq!(resumed.resumed_from, Some(10));
    assert_eq!(seen.first().map(|p| p.iteration), Some(15));
    assert_eq!(full.metrics, resumed.metrics);
    // The count of clipped iterations goes through the checkpoint.
    assert_eq!(full.clipped_iterations, resumed.clipped_iterations);
    let ck = checkpoint_tensors(&b);
    assert!(ck.contains_key("alwa.weights") && ck.contains_key("alwa.window"));
    assert_same_tensors(&checkpoint_tensors(&a), &ck);
    assert!(
        !b.join("checkpoint/.tmp-99.ot").exists() && !b.join(".trainer-tmp-curves.csv").exists()
    );
    let strip = |d: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(d.join("curves.csv")).unwrap();
        text.lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(strip(&a), strip(&b), "curves without the images/s column");
    let _ = (std::fs::remove_dir_all(&a), std::fs::remove_dir_all(&b));
}

#[test]
fn checkpoint_reload_gives_identical_outputs() {
    let _serial = serial();
    let cfg = tiny();
    let mut s = Session::new(&cfg, Device::Cpu).unwrap();
    for it in 0..3 {
        s.step(it, 0.01);
    }
    let dir = fresh_dir("reload");
    checkpoint::save(&dir, 3, &s.state()).unwrap();
    let mut other = cfg.clone();
    other.train.seed = 99;
    let mut t = Session::new(&other, Device::Cpu).unwrap();
    let ck = checkpoint::load(&dir, Device::Cpu).unwrap().unwrap();
    assert_eq!(ck.iteration, 3);
    t.restore(&ck).unwrap();
    let images: Vec<_> = (0..4).map(|i| s.data.image(data::Split::Val, i)).collect();
    let x = data::to_tensor(&images, Device::Cpu);
    let (oa, ob) = tch::no_grad(|| (s.model.forward(&x), t.model.forward(&x)));
    assert!(
        oa.cls.equal(&ob.cls) && oa.reg.equal(&ob.reg) && oa.ctr.unwrap().equal(&ob.ctr.unwrap())
    );
    let (sa, sb) = (s.state(), t.state());
    assert!(sa
        .iter()
        .zip(&sb)
        .all(|(x, y)| x.0 == y.0 && x.1.equal(&y.1)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_parameters_initial_value_depends_only_on_the_seed_and_its_name() {
    let _serial = serial();
    let initial = |cfg: &JobConfig| -> HashMap<String, Tensor> {
        Session::new(cfg, Device::Cpu).unwrap().vs.variables()
    };
    let a = tiny();
    // Another loss that changes the regression output's size (a UGS distribution head), built
    // before the center-ness branch: every part both models have still starts the same.
    let mut b = tiny();
    b.loss.cls = ClsLossSpec::CeOhem { neg_pos_ratio: 3.0 };
    b.loss.reg = RegLossSpec::Ugs(UgsSpec::default());
    let (va, vb) = (initial(&a), initial(&b));
    let mut shared = 0;
    for (name, ta) in &va {
        let tb = &vb[name];
        if ta.size() == tb.size() {
            assert!(ta.equal(tb), "{name} differs between the two losses");
            shared += 1;
        } else {
            assert!(
                name.starts_with("head.reg_out."),
                "{name}: only the resized output may differ"
            );
        }
    }
    assert!(va.contains_key("head.ctr_out.weight") && shared + 2 >= va.len());
    // A deeper head: the shared backbone, FPN and first tower convs are untouched.
    let mut c = tiny();
    c.model.head_convs = 2;
    let vc = initial(&c);
    for name in [
        "backbone.stem.conv.weight",
        "fpn.output2.weight",
        "head.cls_tower0.conv.weight",
    ] {
        assert!(va[name].equal(&vc[name]), "{name}");
    }
    // Another seed draws other weights.
    let mut d = tiny();
    d.train.seed = 1;
    let vd = initial(&d);
    assert!(!va["backbone.stem.conv.weight"].equal(&vd["backbone.stem.conv.weight"]));
    assert!(!va["head.cls_tower0.conv.weight"].equal(&vd["head.cls_tower0.conv.weight"]));
}

#[test]
fn every_detector_and_loss_trains_a_few_steps() {
    let _serial = serial();
    let retina = DetectorSpec::Retinanet {
        anchor_scale: 2.0,
        scales_per_octave: 2,
        aspect_ratios: vec![0.5, 1.0, 2.0],
        pos_iou: 0.5,
        neg_iou: 0.4,
    };
    let fcos_plain = DetectorSpec::Fcos {
        center_sampling_radius: 0.0,
        centerness: false,
    };
    let ugs = RegLossSpec::Ugs(UgsSpec {
        alpha: 4.0,
        in_labels: true,
        lambda: 0.5,
        gamma: 0.1,
        ..Default::default()
    });
    let regs = [
        RegLossSpec::L1,
        RegLossSpec::SmoothL1 { beta: 1.0 / 9.0 },
        RegLossSpec::l2(),
        RegLossSpec::Iou { form: IouForm::Log },
        RegLossSpec::Iou {
            form: IouForm::Linear,
        },
        RegLossSpec::Giou,
        RegLossSpec::Diou,
        RegLossSpec::Ciou,
        RegLossSpec::Hiou { gamma: 0.5 },
        ugs,
    ];
    let clss = [
        ClsLossSpec::CeOhem { neg_pos_ratio: 3.0 },
        ClsLossSpec::Auc {
            delta: 1.0,
            minibatch: false,
        },
        ClsLossSpec::Ap {
            delta: 1.0,
            interpolate: false,
            minibatch: false,
        },
    ];
    let mut cfgs = Vec::new();
    for det in [DetectorSpec::default(), fcos_plain, retina] {
        for reg in &regs {
            let mut cfg = tiny();
            cfg.model.detector = det.clone();
            cfg.loss.reg = reg.clone();
            cfgs.push(cfg);
        }
        for cls in &clss {
            let mut cfg = tiny();
            cfg.model.detector = det.clone();
            cfg.loss.cls = cls.clone();
            cfg.loss.coupling = Some(CouplingSpec::Harmonic {
                detach: true,
                cls: HarmonicCls::Focal,
            });
            cfgs.push(cfg);
        }
    }
    for cfg in cfgs {
        let mut s = Session::new(&cfg, Device::Cpu).unwrap();
        let l: Vec<f64> = (0..2)
            .flat_map(|it| s.step(it, 0.01))
            .map(|t| t.double_value(&[]))
            .collect();
        assert_eq!(l.len(), 2 * s.loss_names().len());
        assert!(l.iter().all(|v| v.is_finite()), "{:?}: {l:?}", cfg.loss);
    }
}

fn objs(boxes: &[[f32; 4]]) -> Vec<Object> {
    boxes
        .iter()
        .enumerate()
        .map(|(i, &bbox)| Object { class: i % 4, bbox })
        .collect()
}

#[test]
fn every_object_gets_a_positive_and_targets_decode_to_its_box() {
    let gts = objs(&[
        [1.0, 1.0, 7.0, 7.0],
        [20.5, 30.2, 26.6, 36.1],
        [40.0, 10.0, 118.0, 80.0],
        [60.0, 60.0, 90.0, 95.0],
    ]);
    let mut cfg = JobConfig::default();
    for det in [
        DetectorSpec::default(),
        DetectorSpec::Retinanet {
            anchor_scale: 4.0,
            scales_per_octave: 3,
            aspect_ratios: vec![0.5, 1.0, 2.0],
            pos_iou: 0.5,
            neg_iou: 0.4,
        },
    ] {
        cfg.model.detector = det;
        let layout = Layout::new(&cfg);
        let a = layout.assign(&[&gts]);
        assert_eq!(a.labels.len(), layout.priors().len());
        let mut hit = [false; 4];
        for (k, &p) in a.pos.iter().enumerate() {
            let b: [f32; 4] = a.boxes[k * 4..k * 4 + 4].try_into().unwrap();
            let g = gts
                .iter()
                .position(|o| o.bbox == b)
                .expect("a target is a gt box");
            hit[g] = true;
            assert_eq!(a.labels[p as usize], gts[g].class as i64 + 1);
            let enc: [f32; 4] = a.encoded[k * 4..k * 4 + 4].try_into().unwrap();
            let dec = layout.decode_one(enc, layout.priors()[p as usize]);
            if a.weight[k] < 1.0 || matches!(layout, Layout::Retina(_)) {
                assert!(
                    dec.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3),
                    "{dec:?} vs {b:?}"
                );
            }
        }
        assert_eq!(hit, [true; 4], "{layout:?}");
    }
}
