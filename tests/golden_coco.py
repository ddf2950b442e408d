#!/usr/bin/env python3
"""Regenerate the frozen reference output that tests/it/eval_coco.rs compares `sweep::eval` to.

    PY=$HOME/.cache/sweep/torch-2.11.0/bin/python
    $PY -m pip install numpy pycocotools==2.0.11      # once
    $PY tests/golden_coco.py                          # writes tests/fixtures/eval/*.json

coco_golden.json: named edge cases (the hand-checked ones of src/eval/coco/tests.rs, and
detectron2's: empty detections, empty ground truth, maxDets 1) plus seeded random cases (crowd,
images without ground truth or detections, categories without ground truth, score ties, more
than 100 detections per image, tiny and huge boxes, integer boxes that put IoUs exactly on the
thresholds, an `area` field that differs from w*h, annotation id 0), each with the 12 stats of
pycocotools 2.0.11 COCOeval (bbox), the per-category AP detectron2-style (mean of
precision[:, :, k, 0, -1] over entries > -1, here -1 when none) and, for small cases, the
recall array [T, K, A, M] flattened in C order.

Empty detection lists: pycocotools' loadRes raises on [], so the reference here is a results
COCO object built with no annotations, i.e. "nothing detected", which is what sweep does.

voc_golden.json: seeded cases scored by `voc_eval` below, a faithful copy of the standard
py-faster-rcnn voc_eval.py logic on in-memory data with two stated changes: boxes come from
COCO xywh as (x + 1, y + 1, x + w, y + h), and detections are ranked with a stable sort (the
original's np.argsort(-confidence) is an unstable quicksort, so its tie order is arbitrary).
Crowd annotations count as difficult. A class without non-difficult ground truth gets -1 and
is left out of the mean.
"""

import contextlib
import copy
import io
import json
import os
import random
import sys

import numpy as np
import pycocotools
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "eval")


# ---------------------------------------------------------------- COCO reference
def coco_reference(gt, dts):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if dts:
            coco_dt = coco_gt.loadRes(copy.deepcopy(dts))
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        e = COCOeval(coco_gt, coco_dt, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    precision, recall = e.eval["precision"], e.eval["recall"]
    per_cat = []
    for k, cat in enumerate(e.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_cat.append([int(cat), float(np.mean(p)) if p.size else -1.0])
    out = {"stats": [float(s) for s in e.stats], "per_category_ap": per_cat}
    if recall.size <= 10 * 3 * 4 * 3:
        out["recall"] = [float(v) for v in recall.ravel()]
    return out


def case(name, images, cats, anns, dts):
    gt = {"images": [{"id": i} for i in images], "categories": [{"id": c} for c in cats], "annotations": anns}
    return {"name": name, "gt": gt, "dt": dts}


def ann(id_, img, box, area=None, crowd=0, cat=1):
    area = box[2] * box[3] if area is None else area
    return {"id": id_, "image_id": img, "category_id": cat, "bbox": box, "area": area, "iscrowd": crowd}


def det(img, box, score, cat=1):
    return {"image_id": img, "category_id": cat, "bbox": box, "score": score}


A, B, NOWHERE = [0, 0, 10, 10], [50, 50, 10, 10], [200, 200, 10, 10]


def named_cases():
    c = [
        case("one_box", [1], [1], [ann(1, 1, A)], [det(1, A, 0.9)]),
        case("miss", [1], [1], [ann(1, 1, A)], [det(1, NOWHERE, 0.9)]),
        case("duplicate", [1], [1], [ann(1, 1, A), ann(2, 1, B)], [det(1, A, .9), det(1, A, .8), det(1, B, .7)]),
        case("crowd", [1], [1], [ann(1, 1, A), ann(2, 1, [100, 100, 50, 50], crowd=1)],
             [det(1, [110, 110, 10, 10], .9), det(1, [120, 120, 10, 10], .8), det(1, A, .7)]),
        case("area_field", [1], [1], [ann(1, 1, [0, 0, 100, 100], area=500), ann(2, 1, B, area=2000)],
             [det(1, [0, 0, 100, 100], .9), det(1, NOWHERE, .8)]),
        case("max_dets_1", [1], [1], [ann(1, 1, A), ann(2, 1, B)], [det(1, B, .8), det(1, A, .9)]),
        case("top_100", [1], [1], [ann(1, 1, A)], [det(1, NOWHERE, .5 + i * 1e-3) for i in range(100)] + [det(1, A, .1)]),
        case("ties_images", [7, 3], [1], [ann(1, 7, A), ann(2, 3, A)], [det(7, A, .5), det(3, NOWHERE, .5)]),
        case("ties_input", [1], [1], [ann(1, 1, A)], [det(1, NOWHERE, .5), det(1, A, .5)]),
        case("iou_exact", [1], [1], [ann(1, 1, A)], [det(1, [0, 0, 10, 5], .9), det(1, [0, 0, 10, 7.5], .8)]),
        case("id_zero", [1], [1], [ann(0, 1, A)], [det(1, A, .9)]),
        case("empty_dt", [1, 2], [1, 2], [ann(1, 1, A)], []),
        case("empty_gt", [1], [1], [], [det(1, A, .9)]),
        case("no_images", [], [1], [], []),
        case("dt_category_without_gt", [1], [1, 2], [ann(1, 1, A)], [det(1, A, .9, cat=2), det(1, A, .8)]),
    ]
    return c


# ---------------------------------------------------------------- random cases
def rand_box(rng, style):
    if style == "int":
        return [rng.randint(0, 60), rng.randint(0, 60), rng.randint(1, 40), rng.randint(1, 40)]
    if style == "tiny":
        return [round(rng.uniform(0, 20), 3), round(rng.uniform(0, 20), 3), round(rng.uniform(0.01, 3), 3), round(rng.uniform(0.01, 3), 3)]
    if style == "huge":
        return [round(rng.uniform(0, 500), 1), round(rng.uniform(0, 500), 1), round(rng.uniform(50, 3000), 1), round(rng.uniform(50, 3000), 1)]
    if style == "float":
        return [rng.uniform(0, 200), rng.uniform(0, 200), rng.uniform(1, 150), rng.uniform(1, 150)]
    return [round(rng.uniform(0, 200), 2), round(rng.uniform(0, 200), 2), round(rng.uniform(1, 150), 2), round(rng.uniform(1, 150), 2)]


def jitter(rng, box, style, amount):
    x, y, w, h = box
    if style == "int":
        d = max(1, int(amount * 10))
        return [x + rng.randint(-d, d), y + rng.randint(-d, d), max(1, w + rng.randint(-d, d)), max(1, h + rng.randint(-d, d))]
    s = amount
    out = [x + rng.gauss(0, s * w), y + rng.gauss(0, s * h), max(w * 0.05, w * (1 + rng.gauss(0, s))), max(h * 0.05, h * (1 + rng.gauss(0, s)))]
    return out if style == "float" else [round(v, 3) for v in out]


def random_case(rng, idx):
    style = rng.choice(["int", "int", "dec", "float", "tiny", "huge", "mixed"])
    n_img = rng.randint(1, 6)
    images = rng.sample(range(1, 1000), n_img)
    n_cat = rng.choice([1, 1, 2, 3, 5, 12, 30])
    cats = rng.sample(range(1, 100), n_cat)
    used_cats = cats[: max(1, int(n_cat * rng.uniform(0.4, 1.0)))]  # the rest has no GT
    crowd_rate = rng.choice([0.0, 0.0, 0.15, 0.4])
    area_mode = rng.choice(["box", "box", "scaled", "random"])
    ties = rng.random() < 0.3
    many = rng.random() < 0.08
    id_zero = rng.random() < 0.05

    anns, dts = [], []
    for img in images:
        n_gt = rng.choice([0, 1, 2, 3, 5, 8]) if not many else rng.randint(5, 20)
        for _ in range(n_gt):
            st = rng.choice(["int", "dec", "tiny", "huge"]) if style == "mixed" else style
            box = rand_box(rng, st)
            area = box[2] * box[3]
            if area_mode == "scaled":
                area = area * rng.uniform(0.3, 1.0)
            elif area_mode == "random":
                area = rng.choice([rng.uniform(0, 1024), rng.uniform(1024, 9216), rng.uniform(9216, 40000), 1024, 9216])
            cat = rng.choice(used_cats)
            anns.append(ann(None, img, box, area=area, crowd=int(rng.random() < crowd_rate), cat=cat))
    ids = list(range(0 if id_zero else 1, len(anns) + (0 if id_zero else 1)))
    rng.shuffle(ids)
    for a, i in zip(anns, ids):
        a["id"] = i
    rng.shuffle(anns)

    for img in images:
        mine = [a for a in anns if a["image_id"] == img]
        if rng.random() < 0.15:
            continue  # an image without detections
        n_dt = rng.randint(101, 140) if many and img == images[0] else rng.randint(0, 3 * len(mine) + 4)
        for _ in range(n_dt):
            st = rng.choice(["int", "dec", "tiny", "huge"]) if style == "mixed" else style
            if mine and rng.random() < 0.7:
                g = rng.choice(mine)
                box = jitter(rng, g["bbox"], st, rng.choice([0.0, 0.02, 0.05, 0.1, 0.3]))
                cat = g["category_id"] if rng.random() < 0.85 else rng.choice(cats)
            else:
                box = rand_box(rng, st)
                cat = rng.choice(cats)
            if ties:
                score = rng.choice([0.1, 0.25, 0.5, 0.5, 0.9])
            elif style == "float":
                score = rng.random()
            else:
                score = round(rng.random(), 3)
            dts.append(det(img, box, score, cat=cat))
    return case(f"random_{idx:03d}_{style}", images, cats, anns, dts)


# ---------------------------------------------------------------- VOC reference
def voc_ap(rec, prec, use_07_metric=False):
    """voc_eval.py's voc_ap, unchanged."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            if np.sum(rec >= t) == 0:
                p = 0
            else:
                p = np.max(prec[rec >= t])
            ap = ap + p / 11.0
    else:
        mrec = np.concatenate(([0.0], rec, [1.0]))
        mpre = np.concatenate(([0.0], prec, [0.0]))
        for i in range(mpre.size - 1, 0, -1):
            mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
        i = np.where(mrec[1:] != mrec[:-1])[0]
        ap = np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])
    return ap


def voc_box(b):
    return [b[0] + 1.0, b[1] + 1.0, b[0] + b[2], b[1] + b[3]]


def voc_eval(gt, dts, classname, ovthresh=0.5, use_07_metric=False):
    """voc_eval.py's voc_eval on in-memory records (see the module doc for the two changes)."""
    class_recs = {}
    npos = 0
    for img in gt["images"]:
        R = [a for a in gt["annotations"] if a["image_id"] == img["id"] and a["category_id"] == classname]
        bbox = np.array([voc_box(x["bbox"]) for x in R])
        difficult = np.array([bool(x.get("difficult", 0) or x["iscrowd"]) for x in R]).astype(bool)
        det = [False] * len(R)
        npos = npos + sum(~difficult)
        class_recs[img["id"]] = {"bbox": bbox, "difficult": difficult, "det": det}
    if npos == 0:
        return -1.0
    mine = [d for d in dts if d["category_id"] == classname]
    image_ids = [d["image_id"] for d in mine]
    confidence = np.array([d["score"] for d in mine])
    BB = np.array([voc_box(d["bbox"]) for d in mine]).reshape(-1, 4)
    sorted_ind = np.argsort(-confidence, kind="stable")
    BB = BB[sorted_ind, :]
    image_ids = [image_ids[x] for x in sorted_ind]
    nd = len(image_ids)
    tp = np.zeros(nd)
    fp = np.zeros(nd)
    for d in range(nd):
        R = class_recs[image_ids[d]]
        bb = BB[d, :].astype(float)
        ovmax = -np.inf
        BBGT = R["bbox"].astype(float)
        if BBGT.size > 0:
            ixmin = np.maximum(BBGT[:, 0], bb[0])
            iymin = np.maximum(BBGT[:, 1], bb[1])
            ixmax = np.minimum(BBGT[:, 2], bb[2])
            iymax = np.minimum(BBGT[:, 3], bb[3])
            iw = np.maximum(ixmax - ixmin + 1.0, 0.0)
            ih = np.maximum(iymax - iymin + 1.0, 0.0)
            inters = iw * ih
            uni = ((bb[2] - bb[0] + 1.0) * (bb[3] - bb[1] + 1.0) + (BBGT[:, 2] - BBGT[:, 0] + 1.0) * (BBGT[:, 3] - BBGT[:, 1] + 1.0) - inters)
            overlaps = inters / uni
            ovmax = np.max(overlaps)
            jmax = np.argmax(overlaps)
        if ovmax > ovthresh:
            if not R["difficult"][jmax]:
                if not R["det"][jmax]:
                    tp[d] = 1.0
                    R["det"][jmax] = 1
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0
    fp = np.cumsum(fp)
    tp = np.cumsum(tp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return float(voc_ap(rec, prec, use_07_metric))


def voc_reference(gt, dts):
    out = {}
    for name, use07 in [("voc07", True), ("voc", False)]:
        per = [[c["id"], voc_eval(gt, dts, c["id"], use_07_metric=use07)] for c in sorted(gt["categories"], key=lambda c: c["id"])]
        defined = [ap for _, ap in per if ap != -1.0]
        out[name] = {"map": float(np.mean(defined)) if defined else -1.0, "per_category_ap": per}
    return out


def random_voc_case(rng, idx):
    c = random_case(rng, idx)
    c["name"] = c["name"].replace("random_", "voc_")
    for a in c["gt"]["annotations"]:
        a["iscrowd"] = int(rng.random() < 0.03)
        if rng.random() < 0.15:
            a["difficult"] = 1
    return c


def main():
    assert pycocotools.__version__ == "2.0.11" if hasattr(pycocotools, "__version__") else True
    rng = random.Random(20240611)
    cases = named_cases() + [random_case(rng, i) for i in range(300)]
    for c in cases:
        c.update(coco_reference(c["gt"], c["dt"]))
    coco = {
        "generator": "tests/golden_coco.py",
        "numpy": np.__version__,
        "pycocotools": getattr(pycocotools, "__version__", "2.0.11"),
        "iou_thresholds": [float(v) for v in np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)],
        "recall_thresholds": [float(v) for v in np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)],
        "cases": cases,
    }
    rng = random.Random(7)
    vcases = [random_voc_case(rng, i) for i in range(60)]
    for c in vcases:
        c.update(voc_reference(c["gt"], c["dt"]))
    voc = {"generator": "tests/golden_coco.py", "numpy": np.__version__, "cases": vcases}
    os.makedirs(OUT, exist_ok=True)
    for name, data in [("coco_golden.json", coco), ("voc_golden.json", voc)]:
        path = os.path.join(OUT, name)
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {path}: {os.path.getsize(path)} bytes, {len(data['cases'])} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
