//! Tiny datasets written to disk in each format, with known boxes: for the tests (which write
//! their own fixtures) and the loader bench. Not a benchmark of anything real.
//!
//! A [`Scene`] is a noisy background with non-overlapping solid rectangles, one colour per class
//! ([`COLORS`]), so a detector learns it in a few dozen iterations and a test can check where a
//! box's pixels are. Boxes are integer pixel ranges `[x1, x2) × [y1, y2)`, i.e. the continuous
//! box `[x1, y1, x2, y2]`; each writer states them in its format's convention (VOC: 1-based
//! inclusive). A `special` object is a crowd box (COCO), a difficult one (VOC) or "others"
//! (VisDrone); `ignore` regions (drawn as clutter) are written only for VisDrone (category 0).

use crate::spec::config::{BoxHandling, CocoSpec, VisdroneSpec, VocSpec};
use crate::trainer::synth::{key, Rng};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};

/// Object colour of each class.
pub const COLORS: [[u8; 3]; 4] = [[230, 40, 40], [40, 80, 235], [240, 220, 30], [30, 200, 60]];

/// One object: class, `[x1, y1, x2, y2]` in whole pixels, and the format's special flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obj {
    pub class: usize,
    pub bbox: [u32; 4],
    pub special: bool,
}

/// One image to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scene {
    /// File stem.
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub objects: Vec<Obj>,
    pub ignore: Vec<[u32; 4]>,
}

/// A random scene: 1 to `max_objects` objects of `classes` classes with sides in
/// `[min_side, max_side]`, placed without overlap (fewer when they do not fit).
pub fn scene(
    seed: u64,
    index: u64,
    (width, height): (u32, u32),
    classes: usize,
    max_objects: u32,
    (min_side, max_side): (u32, u32),
) -> Scene {
    let mut rng = Rng::new(key(&[seed, 0x6669_7874, index]));
    let n = rng.between(1, max_objects.max(1));
    let mut objects: Vec<Obj> = Vec::new();
    for _ in 0..n * 8 {
        if objects.len() as u32 == n {
            break;
        }
        let w = rng.between(min_side, max_side.min(width - 1));
        let h = rng.between(min_side, max_side.min(height - 1));
        let x = rng.between(0, width - w);
        let y = rng.between(0, height - h);
        let b = [x, y, x + w, y + h];
        let apart = |o: &Obj| {
            b[2] + 2 <= o.bbox[0]
                || o.bbox[2] + 2 <= b[0]
                || b[3] + 2 <= o.bbox[1]
                || o.bbox[3] + 2 <= b[1]
        };
        if objects.iter().all(apart) {
            objects.push(Obj {
                class: rng.below(classes.clamp(1, COLORS.len()) as u64) as usize,
                bbox: b,
                special: false,
            });
        }
    }
    Scene {
        name: format!("{index:06}"),
        width,
        height,
        objects,
        ignore: Vec::new(),
    }
}

/// The scene's pixels: a noisy olive background, clutter in the ignore regions, the objects.
pub fn render(s: &Scene) -> RgbImage {
    let mut rng = Rng::new(key(&[
        0x7265_6e64,
        s.width as u64,
        s.height as u64,
        s.objects.len() as u64,
    ]));
    let mut img = RgbImage::from_fn(s.width, s.height, |_, _| {
        let v = rng.range(70.0, 110.0) as u8;
        Rgb([v, v.saturating_add(15), v / 2 + 20])
    });
    let mut fill = |b: [u32; 4], c: [u8; 3]| {
        for y in b[1]..b[3].min(s.height) {
            for x in b[0]..b[2].min(s.width) {
                img.put_pixel(x, y, Rgb(c));
            }
        }
    };
    for r in &s.ignore {
        for k in 0..4 {
            let (w, h) = ((r[2] - r[0]) / 3, (r[3] - r[1]) / 3);
            let (x, y) = (r[0] + (k % 2) * 2 * w, r[1] + (k / 2) * 2 * h);
            fill([x, y, x + w.max(1), y + h.max(1)], COLORS[k as usize % 2]);
        }
    }
    for o in &s.objects {
        fill(o.bbox, COLORS[o.class % COLORS.len()]);
    }
    img
}

fn save(s: &Scene, dir: &Path, ext: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the fixture's image directory");
    let path = dir.join(format!("{}.{ext}", s.name));
    render(s).save(&path).expect("write a fixture image");
    path
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a file in a directory"))
        .expect("create a fixture directory");
    std::fs::write(path, text).expect("write a fixture file");
}

/// COCO category id of class `k` (not contiguous, so the mapping is exercised).
pub fn coco_category(k: usize) -> u64 {
    3 + 4 * k as u64
}

/// A COCO annotation file of `scenes` (image ids `first_id..`; `special` objects are crowd).
pub fn coco_json(scenes: &[Scene], first_id: u64, ext: &str, classes: usize) -> String {
    let mut images = Vec::new();
    let mut annotations = Vec::new();
    for (i, s) in scenes.iter().enumerate() {
        let id = first_id + i as u64;
        images.push(serde_json::json!({"id": id, "file_name": format!("{}.{ext}", s.name), "width": s.width, "height": s.height}));
        for o in &s.objects {
            let [x1, y1, x2, y2] = o.bbox;
            let (w, h) = (x2 - x1, y2 - y1);
            annotations.push(serde_json::json!({
                "id": annotations.len() + 1, "image_id": id, "category_id": coco_category(o.class),
                "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": u8::from(o.special),
                "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]],
            }));
        }
    }
    let categories: Vec<_> = (0..classes)
        .map(|k| serde_json::json!({"id": coco_category(k), "name": format!("class{k}"), "supercategory": "shape"}))
        .collect();
    serde_json::json!({"info": {}, "images": images, "annotations": annotations, "categories": categories}).to_string()
}

/// Writes a COCO dataset under `dir` (`images/`, `train.json`, `val.json`; val image ids after
/// the training ones) and returns its spec at `image_size`.
pub fn write_coco(
    dir: &Path,
    train: &[Scene],
    val: &[Scene],
    ext: &str,
    classes: usize,
    image_size: u32,
) -> CocoSpec {
    let images = dir.join("images");
    for s in train.iter().chain(val) {
        save(s, &images, ext);
    }
    write(&dir.join("train.json"), &coco_json(train, 1, ext, classes));
    write(
        &dir.join("val.json"),
        &coco_json(val, 1 + train.len() as u64, ext, classes),
    );
    CocoSpec {
        images,
        val_images: None,
        train: dir.join("train.json"),
        val: dir.join("val.json"),
        crowd: BoxHandling::Ignore,
        image_size,
        flip: true,
        multi_scale: None,
        max_train_images: None,
        max_val_images: None,
    }
}

/// VOC class names used for the fixture's classes (two of VOC's 20, not the first two).
pub const VOC_NAMES: [&str; 4] = ["bird", "cat", "dog", "car"];

/// One VOC annotation file (1-based inclusive boxes; `special` objects are difficult).
pub fn voc_xml(s: &Scene) -> String {
    let mut objects = String::new();
    for o in &s.objects {
        let [x1, y1, x2, y2] = o.bbox;
        objects.push_str(&format!(
            "  <object>\n    <name>{}</name>\n    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n    \
             <difficult>{}</difficult>\n    <bndbox>\n      <xmin>{}</xmin>\n      <ymin>{}</ymin>\n      \
             <xmax>{x2}</xmax>\n      <ymax>{y2}</ymax>\n    </bndbox>\n  </object>\n",
            VOC_NAMES[o.class % VOC_NAMES.len()],
            u8::from(o.special),
            x1 + 1,
            y1 + 1,
        ));
    }
    format!(
        "<annotation>\n  <folder>VOC2007</folder>\n  <filename>{}.jpg</filename>\n  <size>\n    <width>{}</width>\n    \
         <height>{}</height>\n    <depth>3</depth>\n  </size>\n  <segmented>0</segmented>\n{objects}</annotation>\n",
        s.name, s.width, s.height
    )
}

/// Writes `VOCdevkit/VOC2007` under `dir` with sets `trainval` and `test` and returns the spec.
pub fn write_voc(dir: &Path, train: &[Scene], val: &[Scene], image_size: u32) -> VocSpec {
    let root = dir.join("VOCdevkit");
    let year = root.join("VOC2007");
    for (set, scenes) in [("trainval", train), ("test", val)] {
        let ids: Vec<&str> = scenes.iter().map(|s| s.name.as_str()).collect();
        write(
            &year.join("ImageSets/Main").join(format!("{set}.txt")),
            &(ids.join("\n") + "\n"),
        );
        for s in scenes {
            save(s, &year.join("JPEGImages"), "jpg");
            write(
                &year.join("Annotations").join(format!("{}.xml", s.name)),
                &voc_xml(s),
            );
        }
    }
    let spec =
        serde_json::json!({"root": root, "train": ["VOC2007/trainval"], "image_size": image_size});
    serde_json::from_value(spec).expect("a valid VOC spec")
}

/// VisDrone category of class `k` (1-based); `special` objects are "others" (11).
pub fn visdrone_category(o: &Obj) -> u32 {
    if o.special {
        11
    } else {
        o.class as u32 + 1
    }
}

/// One VisDrone annotation file: objects (score 1), then ignore regions (category 0, score 0).
pub fn visdrone_txt(s: &Scene) -> String {
    let mut out = String::new();
    for o in &s.objects {
        let [x1, y1, x2, y2] = o.bbox;
        out.push_str(&format!(
            "{x1},{y1},{},{},1,{},0,0\n",
            x2 - x1,
            y2 - y1,
            visdrone_category(o)
        ));
    }
    for r in &s.ignore {
        out.push_str(&format!(
            "{},{},{},{},0,0,0,0\n",
            r[0],
            r[1],
            r[2] - r[0],
            r[3] - r[1]
        ));
    }
    out
}

/// Writes `VisDrone2019-DET-{train,val}` under `dir` and returns the spec.
pub fn write_visdrone(dir: &Path, train: &[Scene], val: &[Scene], image_size: u32) -> VisdroneSpec {
    for (split, scenes) in [
        ("VisDrone2019-DET-train", train),
        ("VisDrone2019-DET-val", val),
    ] {
        for s in scenes {
            save(s, &dir.join(split).join("images"), "jpg");
            write(
                &dir.join(split)
                    .join("annotations")
                    .join(format!("{}.txt", s.name)),
                &visdrone_txt(s),
            );
        }
    }
    VisdroneSpec {
        root: dir.to_path_buf(),
        train: "VisDrone2019-DET-train".into(),
        val: "VisDrone2019-DET-val".into(),
        others: BoxHandling::Ignore,
        image_size,
        flip: true,
        multi_scale: None,
        max_train_images: None,
        max_val_images: None,
    }
}
