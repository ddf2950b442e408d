#!/usr/bin/env python3
"""Writes torchvision's roi_align and MultiScaleRoIAlign on fixed inputs, for the Rust tests in
src/trainer/roi/tests.rs to compare against (torchvision is the reference; none of our code runs
here).

    python tests/golden_roi_align.py OUT_DIR

in the project's venv with torchvision 0.26.0 (the release for torch 2.11.0); the Rust test
installs it there when missing and runs this script into a temporary directory.

roi_align: one [2, 5, 12, 17] feature map (non-square) and boxes of every awkward kind (random;
partly and fully outside the map; tiny; zero-size; one side inverted; both inverted; larger than
the map), pooled under each case of CASES (aligned False/True, sampling ratio 2, 0, -1 and 3,
square and non-square outputs, scales 0.5, 0.25 and 1, float32 and float64).

MultiScaleRoIAlign(['0', '1', '2', '3'], 7, 2) on a 4-level pyramid of a 2-image batch padded to
320 x 352 (maps 80x88 ... 10x11) whose images are 300 x 333 and 290 x 350 (not multiples of the
strides), with boxes on the level boundaries (sqrt(area) = 112, 224, 448 exactly, and one that
only the mapper's eps lifts to level 4), below and above every level, inverted and zero-size;
and the one-level pooler (['0']), which maps nothing.

Written to OUT_DIR:
  roi.safetensors  input, input64, rois, rois64; per case <name>.out, <name>.weight and
                   <name>.grad (the input's gradient of sum(out * weight));
                   pool.feat<l>, pool.boxes<i>, pool.levels (the mapper's level per box),
                   pool.out, pool.weight, pool.grad<l>; single.out, single.weight, single.grad0
  roi.json         the cases' parameters; the pooler's image sizes, scales, k_min and k_max
"""

import json
import os
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The writer and torchvision's install (on import) are tests/golden_detectors.py's.
from golden_detectors import save_safetensors  # noqa: E402

import torch
import torchvision
from torchvision.ops import MultiScaleRoIAlign, roi_align


# name, aligned, sampling_ratio, output_size, spatial_scale, dtype
CASES = [
    ("a0_s2", False, 2, (7, 7), 0.5, "float32"),
    ("a1_s2", True, 2, (7, 7), 0.5, "float32"),
    ("a0_s0", False, 0, (7, 7), 0.5, "float32"),
    ("a1_s0", True, 0, (7, 7), 0.5, "float32"),
    ("a0_sm1_rect", False, -1, (3, 5), 0.25, "float32"),
    ("a1_s3_rect", True, 3, (4, 2), 1.0, "float32"),
    ("a0_s2_f64", False, 2, (7, 7), 0.5, "float64"),
    ("a1_s0_f64", True, 0, (5, 6), 0.5, "float64"),
]

IMAGE_SIZES = [(300, 333), (290, 350)]
GRIDS = [(80, 88), (40, 44), (20, 22), (10, 11)]


def roi_boxes(g):
    """[K, 5] rois in image coordinates of a 24 x 34 image (the map at scale 0.5)."""
    n = 14
    x1 = torch.rand(n, generator=g) * 34 - 4
    y1 = torch.rand(n, generator=g) * 26 - 4
    w = torch.rand(n, generator=g) * 20 + 0.5
    h = torch.rand(n, generator=g) * 16 + 0.5
    random = torch.stack([x1, y1, x1 + w, y1 + h], 1)
    special = torch.tensor([
        [-6.0, -3.0, 10.0, 8.0],  # partly outside, top left
        [28.0, 18.0, 40.0, 30.0],  # partly outside, bottom right
        [40.0, 30.0, 50.0, 40.0],  # fully outside, beyond the far edges
        [-20.0, -20.0, -8.0, -6.0],  # fully outside, before the near edges
        [5.0, 5.0, 5.1, 5.2],  # tiny
        [7.0, 7.0, 7.0, 7.0],  # zero size
        [12.0, 4.0, 6.0, 14.0],  # x2 < x1
        [3.0, 15.0, 9.0, 9.0],  # y2 < y1
        [20.0, 18.0, 14.0, 10.0],  # both inverted
        [0.0, 0.0, 34.0, 24.0],  # the whole image
        [33.0, 23.0, 34.0, 24.0],  # the last pixel
        [-10.0, -10.0, 50.0, 40.0],  # larger than the map
        [16.5, 11.25, 16.75, 23.9],  # thin, on half pixels
    ])
    boxes = torch.cat([random, special], 0)
    ids = (torch.arange(boxes.shape[0]) % 2).float()[:, None]
    return torch.cat([ids, boxes], 1)


def pool_boxes(g):
    """Per-image boxes for the 4-level pooler (strides 4 ... 32, k_min 2, k_max 5)."""
    def random(n, size):
        h, w = size
        x1 = torch.rand(n, generator=g) * w - 20
        y1 = torch.rand(n, generator=g) * h - 20
        side = torch.exp(torch.rand(n, generator=g) * 5.5 + 1.5)  # 4.5 to 1100 px
        aspect = torch.exp(torch.randn(n, generator=g) * 0.5)
        bw, bh = side * aspect.sqrt(), side / aspect.sqrt()
        return torch.stack([x1, y1, x1 + bw, y1 + bh], 1)

    boundary = torch.tensor([
        [20.0, 30.0, 132.0, 142.0],  # sqrt(area) = 112: level 3, not 2
        [5.0, 40.0, 61.0, 264.0],  # 56 x 224: sqrt(area) = 112
        [50.0, 40.0, 274.0, 264.0],  # 224: level 4
        [-50.0, -60.0, 398.0, 388.0],  # 448: level 5, partly outside
        [10.0, 10.0, 234.0, 233.9998],  # just under 224: eps lifts it to level 4
        [10.0, 10.0, 233.99, 233.99],  # under 224 by more than eps: level 3
        [100.0, 100.0, 102.0, 103.0],  # tiny: clamped to level 2
        [-400.0, -300.0, 700.0, 600.0],  # huge: clamped to level 5
        [60.0, 50.0, 40.0, 90.0],  # x2 < x1: negative area, no level, zeros
        [70.0, 80.0, 30.0, 20.0],  # both inverted: positive area
        [90.0, 90.0, 90.0, 90.0],  # zero size: level 2
    ])
    return [torch.cat([random(12, IMAGE_SIZES[0]), boundary], 0), random(9, IMAGE_SIZES[1])]


def main(out):
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    io, meta = {}, {"generator": f"tests/golden_roi_align.py (torch {torch.__version__.split('+')[0]}, "
                                 f"torchvision {torchvision.__version__.split('+')[0]})", "cases": []}

    x = torch.randn(2, 5, 12, 17, generator=g)
    rois = roi_boxes(g)
    io["input"], io["rois"] = x, rois
    io["input64"], io["rois64"] = x.double(), rois.double()
    for name, aligned, ratio, size, scale, dtype in CASES:
        f64 = dtype == "float64"
        inp = (x.double() if f64 else x.clone()).requires_grad_(True)
        r = rois.double() if f64 else rois
        y = roi_align(inp, r, size, spatial_scale=scale, sampling_ratio=ratio, aligned=aligned)
        w = torch.randn(y.shape, generator=g, dtype=y.dtype)
        (y * w).sum().backward()
        io[f"{name}.out"], io[f"{name}.weight"], io[f"{name}.grad"] = y, w, inp.grad
        meta["cases"].append({"name": name, "aligned": aligned, "sampling_ratio": ratio,
                              "output_size": list(size), "spatial_scale": scale, "dtype": dtype})

    feats = [torch.randn(2, 6, h, w, generator=g).requires_grad_(True) for h, w in GRIDS]
    boxes = pool_boxes(g)
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    y = pooler(OrderedDict((str(l), f) for l, f in enumerate(feats)), boxes, IMAGE_SIZES)
    w = torch.randn(y.shape, generator=g)
    (y * w).sum().backward()
    io["pool.out"], io["pool.weight"] = y, w
    io["pool.levels"] = pooler.map_levels(boxes)
    for l, f in enumerate(feats):
        io[f"pool.feat{l}"], io[f"pool.grad{l}"] = f, f.grad
    for i, b in enumerate(boxes):
        io[f"pool.boxes{i}"] = b
    meta["pool"] = {"image_sizes": [list(s) for s in IMAGE_SIZES], "scales": pooler.scales,
                    "k_min": pooler.map_levels.k_min, "k_max": pooler.map_levels.k_max}

    f0 = feats[0].detach().clone().requires_grad_(True)
    single = MultiScaleRoIAlign(["0"], 7, 2)
    y = single({"0": f0}, boxes, IMAGE_SIZES)
    w = torch.randn(y.shape, generator=g)
    (y * w).sum().backward()
    io["single.out"], io["single.weight"], io["single.grad0"] = y, w, f0.grad
    meta["single"] = {"scales": single.scales}

    save_safetensors(os.path.join(out, "roi.safetensors"), io)
    with open(os.path.join(out, "roi.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
