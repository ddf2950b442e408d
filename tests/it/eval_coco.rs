//! `sweep::eval` against frozen reference output (pycocotools 2.0.11 and a copy of voc_eval.py,
//! made by `tests/golden_coco.py`), the COCO file loaders and their errors, and `sweep eval`
//! through the binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde::Deserialize;
use sweep::eval::{
    self, coco, voc, CocoSummary, Detection, EvalError, GroundTruth, GtSet, Protocol,
};

const COCO_GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/eval/coco_golden.json"
);
const VOC_GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/eval/voc_golden.json"
);
const TOL: f64 = 1e-12;

#[derive(Deserialize)]
struct CocoGolden {
    iou_thresholds: Vec<f64>,
    recall_thresholds: Vec<f64>,
    cases: Vec<CocoCase>,
}

#[derive(Deserialize)]
struct CocoCase {
    name: String,
    gt: serde_json::Value,
    dt: serde_json::Value,
    stats: Vec<f64>,
    per_category_ap: Vec<(u64, f64)>,
    recall: Option<Vec<f64>>,
}

#[derive(Deserialize)]
struct VocGolden {
    cases: Vec<VocCase>,
}

#[derive(Deserialize)]
struct VocCase {
    name: String,
    gt: serde_json::Value,
    dt: serde_json::Value,
    voc07: VocExpected,
    voc: VocExpected,
}

#[derive(Deserialize)]
struct VocExpected {
    map: f64,
    per_category_ap: Vec<(u64, f64)>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &str) -> T {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// Goes through the file parsers, so the golden cases also cover them.
fn load_case(
    name: &str,
    gt: &serde_json::Value,
    dt: &serde_json::Value,
) -> (GtSet, Vec<Detection>) {
    let path = PathBuf::from(name);
    let gt_bytes = serde_json::to_vec(gt).expect("a Value serializes");
    let gts = eval::parse_coco_gt(&gt_bytes, &path).unwrap_or_else(|e| panic!("{e}"));
    let dt_bytes = serde_json::to_vec(dt).expect("a Value serializes");
    let dts = eval::parse_coco_dt(&dt_bytes, &path, &gts).unwrap_or_else(|e| panic!("{e}"));
    (gts, dts)
}

/// Compares and returns how many values were bitwise equal; mismatches go to `bad`.
fn compare(case: &str, what: &str, ours: &[f64], theirs: &[f64], bad: &mut Vec<String>) -> usize {
    if ours.len() != theirs.len() {
        bad.push(format!(
            "{case}: {what}: {} values, expected {}",
            ours.len(),
            theirs.len()
        ));
        return 0;
    }
    let mut same = 0;
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        same += usize::from(a.to_bits() == b.to_bits());
        if (a - b).abs() > TOL {
            bad.push(format!("{case}: {what}[{i}]: ours {a:e}, reference {b:e}"));
        }
    }
    same
}

/// [`compare`] for `(category id, AP)` lists: the ids must be equal.
fn compare_pairs(
    case: &str,
    what: &str,
    ours: &[(u64, f64)],
    theirs: &[(u64, f64)],
    bad: &mut Vec<String>,
) {
    let ids = |v: &[(u64, f64)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
    assert_eq!(ids(ours), ids(theirs), "{case}: {what}: category ids");
    let aps = |v: &[(u64, f64)]| v.iter().map(|p| p.1).collect::<Vec<_>>();
    compare(case, what, &aps(ours), &aps(theirs), bad);
}

#[test]
fn coco_matches_pycocotools_on_golden_cases() {
    let golden: CocoGolden = read_json(COCO_GOLDEN);
    let (mut bad, mut same, mut total) = (Vec::new(), 0, 0);
    for c in &golden.cases {
        let (gts, dts) = load_case(&c.name, &c.gt, &c.dt);
        let r = coco::evaluate(&gts, &dts).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(
            r.iou_thresholds, golden.iou_thresholds,
            "thresholds are numpy's, bit for bit"
        );
        assert_eq!(r.recall_thresholds, golden.recall_thresholds);
        same += compare(&c.name, "stats", &r.summary.values(), &c.stats, &mut bad);
        total += 12;
        compare_pairs(
            &c.name,
            "per_category_ap",
            &r.per_category_ap,
            &c.per_category_ap,
            &mut bad,
        );
        if let Some(recall) = &c.recall {
            compare(&c.name, "recall", &r.recall, recall, &mut bad);
        }
    }
    eprintln!(
        "{} cases, {same} of {total} summary values bitwise equal",
        golden.cases.len()
    );
    assert!(golden.cases.len() >= 300, "the fixture lost cases");
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn voc_matches_voc_eval_on_golden_cases() {
    let golden: VocGolden = read_json(VOC_GOLDEN);
    let mut bad = Vec::new();
    for c in &golden.cases {
        let (gts, dts) = load_case(&c.name, &c.gt, &c.dt);
        for (p, want) in [
            (voc::VocProtocol::Voc07, &c.voc07),
            (voc::VocProtocol::Voc, &c.voc),
        ] {
            let r = voc::evaluate(&gts, &dts, p).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            let what = format!("{p:?}");
            compare(
                &c.name,
                &format!("{what} mAP"),
                &[r.map],
                &[want.map],
                &mut bad,
            );
            compare_pairs(
                &c.name,
                &what,
                &r.per_category_ap,
                &want.per_category_ap,
                &mut bad,
            );
        }
    }
    assert!(golden.cases.len() >= 50, "the fixture lost cases");
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn json_floats_are_parsed_correctly_rounded() {
    // serde_json's default float parser can be one ulp off; bitwise agreement with Python
    // needs its `float_roundtrip` feature. These decimals are misparsed without it.
    for text in [
        "0.9452706955539223",
        "0.38120423768821243",
        "0.21659939713061338",
    ] {
        let parsed: f64 = serde_json::from_str(text).expect("a number");
        let exact: f64 = text.parse().expect("a number");
        assert_eq!(
            parsed.to_bits(),
            exact.to_bits(),
            "{text}: enable serde_json's float_roundtrip feature"
        );
    }
}

fn small_gt() -> GtSet {
    let ann = |id, image_id, bbox: [f64; 4], iscrowd| GroundTruth {
        id,
        image_id,
        category_id: 3,
        bbox,
        area: bbox[2] * bbox[3],
        iscrowd,
        difficult: false,
    };
    GtSet {
        image_ids: vec![10, 11],
        category_ids: vec![3, 4],
        annotations: vec![
            ann(1, 10, [0.0, 0.0, 20.0, 20.0], false),
            ann(2, 11, [5.5, 5.0, 40.0, 30.0], false),
            ann(3, 11, [100.0, 100.0, 50.0, 50.0], true),
        ],
    }
}

fn small_dt() -> Vec<Detection> {
    let d = |image_id, category_id, bbox, score| Detection {
        image_id,
        category_id,
        bbox,
        score,
    };
    vec![
        d(10, 3, [1.0, 0.0, 20.0, 20.0], 0.9),
        d(11, 3, [5.0, 5.0, 40.0, 31.0], 0.8),
        d(11, 3, [110.0, 110.0, 10.0, 10.0], 0.7),
        d(11, 4, [0.0, 0.0, 10.0, 10.0], 0.6),
    ]
}

/// Writes the small case's files into a fresh directory.
fn small_files(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = crate::util::temp_dir(name);
    std::fs::create_dir_all(&dir).expect("create the temp dir");
    let (gt, dt) = (dir.join("gt.json"), dir.join("dt.json"));
    eval::write_coco_gt(&gt, &small_gt()).expect("write gt");
    eval::write_coco_dt(&dt, &small_dt()).expect("write dt");
    (dir, gt, dt)
}

#[test]
fn written_files_load_back_unchanged() {
    let (_dir, gt, dt) = small_files("eval_roundtrip");
    let gts = eval::load_coco_gt(&gt).expect("load gt");
    assert_eq!(gts, small_gt());
    assert_eq!(eval::load_coco_dt(&dt, &gts).expect("load dt"), small_dt());
    assert_eq!(
        eval::coco_dt_to_json(&small_dt()),
        std::fs::read_to_string(&dt).expect("read")
    );
}

/// The error for a ground truth with one image, one category and the given annotations.
fn gt_error(annotations: &str) -> EvalError {
    let text = format!(
        r#"{{"images":[{{"id":1}}],"categories":[{{"id":1}}],"annotations":[{annotations}]}}"#
    );
    eval::parse_coco_gt(text.as_bytes(), Path::new("g.json")).expect_err("invalid ground truth")
}

fn dt_error(text: &str) -> EvalError {
    eval::parse_coco_dt(text.as_bytes(), Path::new("d.json"), &small_gt())
        .expect_err("invalid results")
}

fn assert_starts(e: &EvalError, prefix: &str) {
    assert!(
        e.to_string().starts_with(prefix),
        "{e}\ndoes not start with\n{prefix}"
    );
}

#[test]
fn loader_errors_name_file_record_and_field() {
    let ann = r#"{"id":1,"image_id":1,"category_id":1,"bbox":[0,0,1,1]}"#;
    assert_starts(
        &gt_error(ann),
        "g.json: annotations[0].area: missing field `area` at line 1",
    );
    let ann = r#"{"id":1,"image_id":1,"category_id":1,"bbox":[0,0,1],"area":1}"#;
    let want = "g.json: annotations[0].bbox: invalid length 3, expected an array of length 4";
    assert_starts(&gt_error(ann), want);
    let e = eval::parse_coco_gt(br#"{"images":[{"id":1}]}"#, Path::new("g.json"));
    assert_starts(
        &e.expect_err("no categories"),
        "g.json: categories: missing field `categories`",
    );
    let e = gt_error(r#"{"id":1,"image_id":2,"category_id":1,"bbox":[0,0,1,1],"area":1}"#);
    assert!(matches!(e, EvalError::UnknownImage { found: 2, .. }), "{e}");
    let want = "g.json: annotations[0].image_id: image 2 is not in the ground truth; allowed: 1";
    assert_eq!(e.to_string(), want);

    let ok = r#"{"image_id":10,"category_id":3,"bbox":[0,0,1,1],"score":0.5}"#;
    let e = dt_error(&format!(
        r#"[{ok},{{"image_id":10,"category_id":9,"bbox":[0,0,1,1],"score":0.5}}]"#
    ));
    assert!(matches!(&e, EvalError::UnknownCategory { found: 9, record, .. } if record == "[1]"));
    let want = "d.json: [1].category_id: category 9 is not in the ground truth; allowed: 3, 4";
    assert_eq!(e.to_string(), want);
    let e = dt_error(r#"[{"image_id":10,"category_id":3,"bbox":[0,0,1,1],"score":"high"}]"#);
    assert_starts(
        &e,
        "d.json: [0].score: invalid type: string \"high\", expected f64",
    );
    let e = dt_error(r#"{"image_id":10}"#);
    assert!(matches!(e, EvalError::Json { .. }), "{e}");
    let e = eval::load_coco_gt(Path::new("/nonexistent/gt.json")).expect_err("no such file");
    assert!(matches!(e, EvalError::Io { action: "read", .. }), "{e}");
    assert!("bogus".parse::<Protocol>().is_err());
    assert_eq!("voc07".parse::<Protocol>().expect("valid"), Protocol::Voc07);
}

#[test]
fn an_empty_results_file_means_nothing_detected() {
    let gts = small_gt();
    let dts = eval::parse_coco_dt(b"[]", Path::new("d.json"), &gts).expect("[] is valid");
    let r = coco::evaluate(&gts, &dts).expect("evaluates");
    assert_eq!(r.per_category_ap, vec![(3, 0.0), (4, -1.0)]);
}

fn run_eval(args: &[&str]) -> Output {
    crate::util::sweep()
        .arg("eval")
        .args(args)
        .output()
        .expect("run sweep eval")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim_end().to_string()
}

#[test]
fn cli_prints_the_summary_text_and_json() {
    let (_dir, gt, dt) = small_files("eval_cli");
    let (g, d) = (
        gt.to_str().expect("utf-8 path"),
        dt.to_str().expect("utf-8 path"),
    );
    let o = run_eval(&["--gt", g, "--dt", d]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = eval::command(&gt, &dt, Protocol::Coco, false).expect("evaluates");
    assert_eq!(stdout(&o), want);
    assert_eq!(want.lines().count(), 12);
    assert!(want
        .starts_with(" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = "));

    let o = run_eval(&["--gt", g, "--dt", d, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    let obj = v.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut names = CocoSummary::NAMES.to_vec();
    keys.sort_unstable();
    names.sort_unstable();
    assert_eq!(keys, names);
    let summary = coco::evaluate(&small_gt(), &small_dt())
        .expect("evaluates")
        .summary;
    for name in CocoSummary::NAMES {
        assert_eq!(obj[name].as_f64(), summary.get(name), "{name}");
    }

    let o = run_eval(&["--gt", g, "--dt", d, "--protocol", "voc07", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    assert!(v["mAP"].is_f64() && v["per_category"]["3"].is_f64(), "{v}");
    assert_eq!(v["per_category"]["4"].as_f64(), Some(-1.0));
}

#[test]
fn cli_exits_2_naming_a_malformed_file() {
    let (dir, gt, _dt) = small_files("eval_cli_bad");
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"image_id":10,"category_id":3,"bbox":[1,2,3],"score":0.5}]"#,
    )
    .expect("write");
    let o = run_eval(&[
        "--gt",
        gt.to_str().expect("utf-8"),
        "--dt",
        bad.to_str().expect("utf-8"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(bad.to_str().expect("utf-8")) && err.contains("[0].bbox"),
        "{err}"
    );

    let unknown = dir.join("unknown.json");
    std::fs::write(
        &unknown,
        r#"[{"image_id":99,"category_id":3,"bbox":[1,2,3,4],"score":0.5}]"#,
    )
    .expect("write");
    let o = run_eval(&[
        "--gt",
        gt.to_str().expect("utf-8"),
        "--dt",
        unknown.to_str().expect("utf-8"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unknown.json") && err.contains("image 99"),
        "{err}"
    );
}
