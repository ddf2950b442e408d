//! RoIAlign and MultiScaleRoIAlign against torchvision 0.26.0 (`tests/golden_roi_align.py`, run
//! at test time): forward outputs and input gradients of a random weighted sum to 1e-5 absolute
//! plus 1e-4 relative (1e-10 in float64), the level of every box and the inferred scales exactly.
//! A flipped `aligned`, another sampling ratio, or a level mapping shifted by one must each break
//! the match, so the tolerances cannot hide a wrong setting.

use super::align::roi_align;
use super::pooler::{convert_to_roi_format, MultiScaleRoIAlign};
use crate::trainer::torchvision_golden::fixture;
use serde_json::Value;
use std::collections::HashMap;
use tch::{Kind, Tensor};

struct Golden {
    tensors: HashMap<String, Tensor>,
    json: Value,
}

/// The fixture, generated once per version of the script and read by each test.
fn golden() -> Golden {
    let dir = fixture("golden_roi_align.py").unwrap_or_else(|e| panic!("{e}"));
    let tensors = Tensor::read_safetensors(dir.join("roi.safetensors"))
        .expect("the script writes safetensors")
        .into_iter()
        .collect();
    let json = serde_json::from_slice(&std::fs::read(dir.join("roi.json")).unwrap()).unwrap();
    Golden { tensors, json }
}

impl Golden {
    fn t(&self, name: &str) -> Tensor {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("the fixture has no {name}"))
            .shallow_clone()
    }
}

/// The first element where `|a − b| > abs + rel · |b|`, as a message.
fn close(what: &str, a: &Tensor, b: &Tensor, abs: f64, rel: f64) -> Result<(), String> {
    if a.size() != b.size() {
        return Err(format!(
            "{what}: shape {:?}, torchvision {:?}",
            a.size(),
            b.size()
        ));
    }
    let (a, b) = (host(a), host(b));
    match (0..a.len()).find(|&i| (a[i] - b[i]).abs() > abs + rel * b[i].abs()) {
        Some(i) => Err(format!("{what}[{i}]: {} vs torchvision {}", a[i], b[i])),
        None => Ok(()),
    }
}

fn host(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

struct Case {
    name: String,
    aligned: bool,
    sampling_ratio: i64,
    output_size: (i64, i64),
    spatial_scale: f64,
    double: bool,
}

fn cases() -> Vec<Case> {
    golden().json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            aligned: c["aligned"].as_bool().unwrap(),
            sampling_ratio: c["sampling_ratio"].as_i64().unwrap(),
            output_size: (
                c["output_size"][0].as_i64().unwrap(),
                c["output_size"][1].as_i64().unwrap(),
            ),
            spatial_scale: c["spatial_scale"].as_f64().unwrap(),
            double: c["dtype"] == "float64",
        })
        .collect()
}

impl Case {
    fn tolerances(&self) -> (f64, f64) {
        if self.double {
            (1e-10, 1e-10)
        } else {
            (1e-5, 1e-4)
        }
    }

    /// Our output and input gradient under (possibly altered) settings.
    fn ours(&self, aligned: bool, sampling_ratio: i64) -> (Tensor, Tensor) {
        let g = golden();
        let (input, rois) = if self.double {
            (g.t("input64"), g.t("rois64"))
        } else {
            (g.t("input"), g.t("rois"))
        };
        let input = input.set_requires_grad(true);
        let out = roi_align(
            &input,
            &rois,
            self.output_size,
            self.spatial_scale,
            sampling_ratio,
            aligned,
        );
        (&out * g.t(&format!("{}.weight", self.name)))
            .sum(out.kind())
            .backward();
        (out.detach(), input.grad())
    }

    /// Whether output and gradient both match torchvision's.
    fn check(&self, aligned: bool, sampling_ratio: i64) -> Result<(), String> {
        let g = golden();
        let (out, grad) = self.ours(aligned, sampling_ratio);
        let (abs, rel) = self.tolerances();
        let name = &self.name;
        close(
            &format!("{name} output"),
            &out,
            &g.t(&format!("{name}.out")),
            abs,
            rel,
        )?;
        close(
            &format!("{name} gradient"),
            &grad,
            &g.t(&format!("{name}.grad")),
            abs,
            rel,
        )
    }
}

#[test]
fn roi_align_matches_torchvision_forward_and_gradient() {
    let cases = cases();
    assert_eq!(cases.len(), 8);
    for case in &cases {
        case.check(case.aligned, case.sampling_ratio)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn roi_align_with_a_wrong_setting_does_not_match() {
    for case in cases() {
        assert!(
            case.check(!case.aligned, case.sampling_ratio).is_err(),
            "{}: flipping `aligned` still matches",
            case.name
        );
        // Another fixed ratio, or fixed where torchvision's is adaptive.
        let other = if case.sampling_ratio == 2 { 3 } else { 2 };
        assert!(
            case.check(case.aligned, other).is_err(),
            "{}: sampling ratio {other} instead of {} still matches",
            case.name,
            case.sampling_ratio
        );
    }
}

#[test]
fn roi_align_pools_half_features_in_float() {
    let g = golden();
    let input = g.t("input").to_kind(Kind::Half);
    let out = roi_align(&input, &g.t("rois"), (7, 7), 0.5, 2, false);
    assert_eq!(out.kind(), Kind::Half);
    // The float32 reference from the unrounded input: half's rounding of the input only.
    close("half output", &out, &g.t("a0_s2.out"), 4e-3, 2e-3).unwrap();
}

#[test]
fn roi_align_of_no_boxes_is_empty() {
    let input = Tensor::ones([1, 3, 4, 4], (Kind::Float, tch::Device::Cpu));
    let rois = Tensor::zeros([0, 5], (Kind::Float, tch::Device::Cpu));
    let out = roi_align(&input, &rois, (7, 7), 1.0, 2, false);
    assert_eq!(out.size(), [0, 3, 7, 7]);
}

#[test]
fn roi_align_of_boxes_that_sample_nothing_is_zero() {
    // Inverted aligned boxes with adaptive sampling have grids <= 0: no taps at all.
    let input = Tensor::ones([1, 3, 4, 4], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
    let rois =
        Tensor::from_slice(&[0.0f32, 3.0, 3.0, 1.0, 1.0, 0.0, 3.0, 1.0, 1.0, 2.0]).view([2, 5]);
    let out = roi_align(&input, &rois, (2, 2), 1.0, 0, true);
    assert_eq!(out.size(), [2, 3, 2, 2]);
    assert_eq!(out.abs().sum(Kind::Float).double_value(&[]), 0.0);
    out.sum(Kind::Float).backward();
    assert_eq!(input.grad().abs().sum(Kind::Float).double_value(&[]), 0.0);
}

fn pool_inputs(g: &Golden, levels: usize) -> (Vec<Tensor>, Vec<Tensor>, Vec<(i64, i64)>) {
    let feats = (0..levels)
        .map(|l| g.t(&format!("pool.feat{l}")).set_requires_grad(true))
        .collect();
    let boxes = (0..2).map(|i| g.t(&format!("pool.boxes{i}"))).collect();
    let sizes = g.json["pool"]["image_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_i64().unwrap(), s[1].as_i64().unwrap()))
        .collect();
    (feats, boxes, sizes)
}

/// Our pooler's output and level gradients against `prefix.*` of the fixture.
fn check_pooler(pooler: &MultiScaleRoIAlign, prefix: &str, levels: usize) -> Result<(), String> {
    let g = golden();
    let (feats, boxes, sizes) = pool_inputs(&g, levels);
    let out = pooler.forward(&feats, &boxes, &sizes);
    (&out * g.t(&format!("{prefix}.weight")))
        .sum(Kind::Float)
        .backward();
    close(
        &format!("{prefix} output"),
        &out,
        &g.t(&format!("{prefix}.out")),
        1e-5,
        1e-4,
    )?;
    for (l, f) in feats.iter().enumerate() {
        let want = g.t(&format!("{prefix}.grad{l}"));
        close(
            &format!("{prefix} level {l} gradient"),
            &f.grad(),
            &want,
            1e-5,
            1e-4,
        )?;
    }
    Ok(())
}

#[test]
fn multiscale_scales_and_levels_match_torchvision() {
    let g = golden();
    let (feats, boxes, sizes) = pool_inputs(&g, 4);
    let pooler = MultiScaleRoIAlign::new(7, 2);
    let setup = pooler.setup(&feats, &sizes);
    let want: Vec<f64> = g.json["pool"]["scales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(setup.scales, want);
    assert_eq!(
        setup.mapper.k_min,
        g.json["pool"]["k_min"].as_i64().unwrap()
    );
    assert_eq!(
        setup.mapper.k_max,
        g.json["pool"]["k_max"].as_i64().unwrap()
    );
    let levels = Vec::<i64>::try_from(setup.mapper.map(&boxes)).unwrap();
    let want = Vec::<i64>::try_from(g.t("pool.levels")).unwrap();
    assert_eq!(levels, want);
    // The fixture's boundary boxes (image 0 after its 12 random ones): sqrt(area) 112 twice,
    // 224, 448, 224 minus less than eps, 224 minus more, tiny, huge, negative area (no level),
    // both sides inverted, zero size.
    let none = want[20];
    assert!(
        !(0..4).contains(&none),
        "the negative-area box has no level"
    );
    assert_eq!(&want[12..20], &[1, 1, 2, 3, 2, 1, 0, 3]);
    assert_eq!(&want[21..23], &[0, 0]);
    // Every level is used, so a shifted mapping shows in the outputs.
    for l in 0..4 {
        assert!(want.contains(&l), "no box on level {l}");
    }
}

#[test]
fn multiscale_matches_torchvision_forward_and_level_gradients() {
    check_pooler(&MultiScaleRoIAlign::new(7, 2), "pool", 4).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn multiscale_with_one_level_pools_every_box_there() {
    let g = golden();
    let pooler = MultiScaleRoIAlign::new(7, 2);
    check_pooler(&pooler, "single", 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pooler.setup(&[], &[]).scales,
        vec![g.json["single"]["scales"][0].as_f64().unwrap()]
    );
}

#[test]
fn multiscale_with_the_level_mapping_shifted_by_one_does_not_match() {
    for level in [3, 5] {
        let mut pooler = MultiScaleRoIAlign::new(7, 2);
        pooler.canonical_level = level;
        assert!(
            check_pooler(&pooler, "pool", 4).is_err(),
            "canonical level {level} instead of 4 still matches"
        );
    }
    let mut pooler = MultiScaleRoIAlign::new(7, 2);
    pooler.sampling_ratio = 0;
    assert!(
        check_pooler(&pooler, "pool", 4).is_err(),
        "adaptive sampling still matches"
    );
}

#[test]
fn rois_carry_their_image_index() {
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([1, 4]);
    let b = Tensor::from_slice(&[5.0f32, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]).view([2, 4]);
    let rois = convert_to_roi_format(&[a, b]);
    let got = Vec::<f32>::try_from(rois.flatten(0, -1)).unwrap();
    assert_eq!(
        got,
        vec![0., 1., 2., 3., 4., 1., 5., 6., 7., 8., 1., 9., 10., 11., 12.]
    );
}
