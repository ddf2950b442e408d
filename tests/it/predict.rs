//! `sweep predict` reaches the trainer's `predict` in `sweep-worker` with its arguments, its
//! help and its errors (the model's own equality with torchvision is tested in the trainer).

use crate::util::{run, sweep, temp_dir};

#[test]
fn predict_help_comes_from_the_worker() {
    let (code, out, err) = run(sweep().args(["predict", "--help"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("--weights") && out.contains("--min-size"),
        "{out}"
    );
}

#[test]
fn a_missing_weights_file_is_bad_input_named_in_one_line() {
    let dir = temp_dir("predict-missing");
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let weights = dir.join("nowhere.safetensors");
    let (code, _, err) = run(sweep()
        .arg("predict")
        .arg("--weights")
        .arg(&weights)
        .arg("--images")
        .arg(dir.join("images"))
        .arg("--out")
        .arg(dir.join("dt.json"))
        .args(["--device", "cpu", "--threads", "1"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nowhere.safetensors"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("frame #"),
        "{err}"
    );
    let (code, _, err) = run(sweep().args(["predict", "--weights"]));
    assert_eq!(code, 2, "a usage error is bad input: {err}");
}
