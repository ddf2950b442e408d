#!/usr/bin/env python3
"""Writes torchvision's FCOS head, losses and detections on fixed inputs, for the Rust tests in
src/trainer/detectors/fcos_golden.rs to compare against (torchvision is the reference; none of
our code runs here).

    python tests/golden_fcos.py OUT_DIR

in the project's venv with torchvision 0.26.0 (the release for torch 2.11.0); the Rust test
installs it there when missing and runs this script into a temporary directory.

What is built: `torchvision.models.detection.FCOS` with its default anchor generator, head
(4 convs, GroupNorm(32)) and constructor defaults, on a stub backbone (64 channels, 3 classes);
every parameter is redrawn from a fixed seed with larger spreads than torchvision's
initialisation so that scores pass the thresholds and every stage is exercised. Inputs: random
FPN levels P3-P7 of a 2-image batch padded to 128 x 160 (maps 16x20 ... 1x2, so the strides
torchvision derives are 8 ... (64, 53), (128, 80)); image 0 has boxes of every size (nested
ones, and two whose areas tie in float32 at 1e8 - area), image 1 has none and is 120 x 150
before padding (its boxes are clipped to that).

Written to OUT_DIR:
  fcos.safetensors  head.* (torchvision's state-dict names), feat.<l> (the levels),
                    out.cls_logits [2, N, 3], out.bbox_regression [2, N, 4],
                    out.bbox_ctrness [2, N, 1], anchors [N, 4], grad.head.* (the
                    gradient of the sum of the three losses for every head parameter)
  fcos.json         targets, image sizes, matched indices per image, the three losses of
                    FCOS.compute_loss, and FCOS.postprocess_detections' detections for the
                    default thresholds and for the sets of SETS.
"""

import json
import os
import struct
import sys
from collections import OrderedDict

import torch
import torchvision
from torch import nn
from torchvision.models.detection import FCOS
from torchvision.models.detection.image_list import ImageList

CHANNELS = 64
CLASSES = 3
BATCH = (128, 160)
GRIDS = [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2)]
IMAGE_SIZES = [(128, 160), (120, 150)]
# Besides torchvision's defaults: top-k and the cap biting; and a low threshold that lets
# detections of P6 and P7 through (their strides are where torchvision's `size // grid` rule
# differs from 2^l).
SETS = {
    "topk": {"score_thresh": 0.1, "topk_candidates": 40, "detections_per_img": 15, "nms_thresh": 0.6},
    "all_levels": {"score_thresh": 0.05, "topk_candidates": 40, "detections_per_img": 300, "nms_thresh": 0.6},
}

BOXES = [
    [10.0, 12.0, 50.5, 44.0],  # small: P3
    [12.0, 14.0, 30.0, 30.0],  # nested in the first, smaller: wins the anchor they share
    [60.0, 30.0, 130.0, 100.0],  # medium: P3/P4
    [4.0, 2.0, 156.0, 126.0],  # large: P5
    [90.0, 70.0, 122.0, 110.0],  # area 1280
    [92.0, 72.0, 124.0, 111.9375],  # area 1278: 1e8 - area ties with the previous in float32
    [100.5, 5.0, 110.0, 14.5],  # tiny
]
LABELS = [0, 2, 1, 0, 2, 1, 0]


class StubBackbone(nn.Module):
    """FCOS needs `out_channels`; the levels are given, not computed."""

    out_channels = CHANNELS

    def forward(self, x):
        raise RuntimeError("not used: the FPN levels are given")


def randomize(model, gen):
    with torch.no_grad():
        for name, p in model.head.named_parameters():
            if name.endswith("weight") and p.dim() == 4:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                p.copy_(torch.randn(p.shape, generator=gen) * (1.5 / fan_in) ** 0.5)
            elif name.endswith("weight"):  # GroupNorm scale
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        model.head.classification_head.cls_logits.bias.add_(-4.5)
        model.head.regression_head.bbox_reg.bias.add_(0.5)


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().to(torch.float32).cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def detections(model, outputs, anchors, sizes):
    counts = [h * w for h, w in GRIDS]
    split = {k: list(v.split(counts, dim=1)) for k, v in outputs.items()}
    split_anchors = [list(a.split(counts)) for a in anchors]
    dets = model.postprocess_detections(split, split_anchors, sizes)
    return [
        {"boxes": d["boxes"].tolist(), "scores": d["scores"].tolist(), "labels": d["labels"].tolist()}
        for d in dets
    ]


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(14)
    torch.manual_seed(14)
    model = FCOS(StubBackbone(), num_classes=CLASSES)
    randomize(model, gen)
    feats = [torch.randn(2, CHANNELS, h, w, generator=gen) for h, w in GRIDS]
    targets = [
        {"boxes": torch.tensor(BOXES), "labels": torch.tensor(LABELS)},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    images = ImageList(torch.zeros(2, 3, *BATCH), IMAGE_SIZES)
    model.train()
    outputs = model.head(feats)
    anchors = model.anchor_generator(images, feats)
    counts = [h * w for h, w in GRIDS]
    losses = model.compute_loss(targets, outputs, anchors, counts)
    sum(losses.values()).backward()
    grads = OrderedDict((f"grad.{k}", p.grad) for k, p in model.named_parameters() if k.startswith("head."))
    outputs = {k: v.detach() for k, v in outputs.items()}
    losses = {k: v.detach() for k, v in losses.items()}
    with torch.no_grad():
        model.eval()
        dets = {"default": {"params": {"score_thresh": 0.2, "nms_thresh": 0.6, "detections_per_img": 100,
                                       "topk_candidates": 1000},
                            "images": detections(model, outputs, anchors, IMAGE_SIZES)}}
        for name, params in SETS.items():
            for k, v in params.items():
                setattr(model, k, v)
            dets[name] = {"params": params, "images": detections(model, outputs, anchors, IMAGE_SIZES)}

    # The matcher's output, recomputed the way compute_loss does, for a readable diagnosis.
    matched = []
    captured = {}
    original = model.head.compute_loss

    def capture(targets, head_outputs, anchors, matched_idxs):
        captured["m"] = [m.tolist() for m in matched_idxs]
        return original(targets, head_outputs, anchors, matched_idxs)

    model.head.compute_loss = capture
    with torch.no_grad():
        model.compute_loss(targets, outputs, anchors, counts)
    matched = captured["m"]

    tensors = OrderedDict((k, v) for k, v in model.state_dict().items() if k.startswith("head."))
    for i, f in enumerate(feats):
        tensors[f"feat.{i}"] = f
    for k, v in outputs.items():
        tensors[f"out.{k}"] = v
    tensors["anchors"] = anchors[0]
    tensors.update(grads)
    save_safetensors(os.path.join(out_dir, "fcos.safetensors"), tensors)
    record = {
        "generator": f"tests/golden_fcos.py (torch {torch.__version__}, torchvision {torchvision.__version__})",
        "channels": CHANNELS,
        "classes": CLASSES,
        "batch": list(BATCH),
        "grids": [list(g) for g in GRIDS],
        "image_sizes": [list(s) for s in IMAGE_SIZES],
        "targets": [{"boxes": BOXES, "labels": LABELS}, {"boxes": [], "labels": []}],
        "matched": matched,
        "losses": {k: float(v) for k, v in losses.items()},
        "detections": dets,
    }
    with open(os.path.join(out_dir, "fcos.json"), "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()
