//! Our losses against PyTorch / torchvision.ops: values and gradients frozen in
//! `tests/fixtures/losses/*.json` by `tests/golden_losses.py` (see that script for how each
//! number is made). The files are compiled in, so the tests need no working directory.

use super::testutil::*;
use super::{diou, focal, giou, reduce, smooth_l1, RegLoss};
use serde_json::Value;
use tch::Tensor;

fn cases(text: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(text).expect("a golden file");
    assert!(v["generator"]
        .as_str()
        .unwrap()
        .contains("golden_losses.py"));
    v["cases"].as_array().expect("cases").clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

fn check_box_loss(text: &str, loss: &dyn RegLoss, tol: f64) {
    for c in cases(text) {
        let name = format!("{} {}", loss.name(), c["name"]);
        let n = c["n"].as_i64().unwrap();
        let (p, t, w) = (
            floats(&c["pred"]),
            floats(&c["target"]),
            floats(&c["weight"]),
        );
        let pt = leaf(&p, &[n, 4]);
        let per = loss.per_box(&pt, &constant(&t, &[n, 4]));
        let total = reduce(&per, &constant(&w, &[n]), w.iter().sum());
        total.backward();
        assert_close(
            &to_vec(&per),
            &floats(&c["per_box"]),
            tol,
            &format!("{name} per box"),
        );
        assert_close(
            &[scalar(&total)],
            &[c["loss"].as_f64().unwrap()],
            tol,
            &name,
        );
        assert_close(
            &to_vec(&pt.grad()),
            &floats(&c["grad"]),
            tol,
            &format!("{name} grad"),
        );
    }
}

#[test]
fn giou_matches_torchvision() {
    check_box_loss(
        include_str!("../../../tests/fixtures/losses/giou.json"),
        &giou::Giou,
        1e-9,
    );
}

#[test]
fn diou_matches_torchvision() {
    check_box_loss(
        include_str!("../../../tests/fixtures/losses/diou.json"),
        &diou::Diou,
        1e-9,
    );
}

#[test]
fn ciou_matches_torchvision() {
    // Our aspect ratio is w/(h + 1e-7) (finite for zero-height boxes): 1e-7 relative at most.
    check_box_loss(
        include_str!("../../../tests/fixtures/losses/ciou.json"),
        &diou::Ciou,
        1e-6,
    );
}

#[test]
fn smooth_l1_matches_pytorch() {
    for c in cases(include_str!(
        "../../../tests/fixtures/losses/smooth_l1.json"
    )) {
        let beta = c["beta"].as_f64().unwrap();
        let loss = smooth_l1::SmoothL1 { beta };
        check_box_loss(
            &serde_json::json!({"generator": "golden_losses.py", "cases": [c]}).to_string(),
            &loss,
            1e-12,
        );
    }
}

#[test]
fn sigmoid_focal_loss_matches_torchvision() {
    for c in cases(include_str!("../../../tests/fixtures/losses/focal.json")) {
        let (n, k) = (c["n"].as_i64().unwrap(), c["classes"].as_i64().unwrap());
        let labels: Vec<i64> = c["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let x = leaf(&floats(&c["logits"]), &[n, k]);
        let focal = focal::Focal {
            alpha: c["alpha"].as_f64().unwrap(),
            gamma: c["gamma"].as_f64().unwrap(),
        };
        let loss = focal.value(
            &x,
            &Tensor::from_slice(&labels),
            c["num_pos"].as_f64().unwrap(),
        );
        loss.backward();
        let name = format!("focal {}", c["name"]);
        assert_close(
            &[scalar(&loss)],
            &[c["loss"].as_f64().unwrap()],
            1e-12,
            &name,
        );
        assert_close(
            &to_vec(&x.grad()),
            &floats(&c["grad"]),
            1e-12,
            &format!("{name} grad"),
        );
    }
}
