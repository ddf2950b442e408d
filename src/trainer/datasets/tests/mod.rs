//! Tests of the datasets on small fixtures they write themselves ([`super::fixture`]): parsing of
//! each format, the errors, the pipeline's transforms, ignore regions, the sample order, the
//! round trip to the results JSON and back through the evaluator, and a short training run.

mod errors;
mod formats;
mod pipeline;
mod train;

use super::fixture::{scene, Obj, Scene};

/// `n` scenes of `w × h` with 1 to 3 objects of 2 classes, 10 to 24 px.
pub fn scenes(seed: u64, first: u64, n: u64, (w, h): (u32, u32)) -> Vec<Scene> {
    (first..first + n)
        .map(|i| scene(seed, i, (w, h), 2, 3, (10, 24)))
        .collect()
}

/// The same scenes with the first object of the first one marked special (crowd, difficult,
/// others).
pub fn with_special(mut s: Vec<Scene>) -> Vec<Scene> {
    s[0].objects[0].special = true;
    s
}

/// A scene with fixed boxes: class 0 at [10, 20, 30, 40), class 1 at [40, 5, 70, 25).
pub fn fixed(name: &str) -> Scene {
    Scene {
        name: name.into(),
        width: 80,
        height: 60,
        objects: vec![
            Obj {
                class: 0,
                bbox: [10, 20, 30, 40],
                special: false,
            },
            Obj {
                class: 1,
                bbox: [40, 5, 70, 25],
                special: false,
            },
        ],
        ignore: Vec::new(),
    }
}

/// The continuous box of a fixture object.
pub fn boxf(o: &Obj) -> [f32; 4] {
    o.bbox.map(|v| v as f32)
}
