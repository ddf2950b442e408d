#!/usr/bin/env python3
"""Builds torchvision 0.26.0's whole FCOS (ResNet-18-FPN as `fcos_resnet50_fpn` wires a ResNet,
64 FPN channels, 5 classes, min_size 128, max_size 160) from a fixed seed and writes, into the
directory given as the only argument, what src/trainer/tests_golden_fcos_model.rs compares ours
against:

  weights.safetensors  the state dict (torchvision's names; FrozenBatchNorm2d stats randomised)
  io.safetensors       the raw images, the targets, the transformed batch, the head outputs over
                       all levels, and the eval-mode detections (original image pixels)
  photo.png            an 8-bit image and, in io.safetensors, torchvision's detections on it
  golden.json          sizes, the three training losses and the detection counts

Two images of different shapes; the second has no objects. The backbone, the FrozenBatchNorm
randomisation and the writer are tests/golden_detectors.py's. No download.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from golden_detectors import TORCHVISION, randomise_frozen_bn, resnet18_fpn, save_safetensors  # noqa: E402

import torch  # noqa: E402
from torchvision.models.detection.fcos import FCOS  # noqa: E402

FPN = 64
CLASSES = 5


def build():
    torch.manual_seed(0)
    model = FCOS(resnet18_fpn(FPN), CLASSES, min_size=128, max_size=160)
    g = torch.Generator().manual_seed(1)
    randomise_frozen_bn(model, g)
    with torch.no_grad():
        # Convolutions with more spread than N(0, 0.01) (GroupNorm affine untouched) and
        # classification scores near the 0.2 threshold, so that it, the top-k and the NMS decide.
        for name, p in model.head.named_parameters():
            if p.dim() == 4:
                p.copy_(0.03 * torch.randn(p.shape, generator=g))
        model.head.classification_head.cls_logits.bias.fill_(-3.5)
    return model


def main(out):
    os.makedirs(out, exist_ok=True)
    model = build()
    g = torch.Generator().manual_seed(2)
    images = [torch.rand(3, 100, 150, generator=g), torch.rand(3, 130, 110, generator=g)]
    targets = [
        {"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 30.0, 140.0, 95.0], [5.0, 60.0, 20.0, 80.0]]),
         "labels": torch.tensor([1, 3, 0])},
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)},
    ]
    io = {"image0": images[0], "image1": images[1], "boxes0": targets[0]["boxes"], "labels0": targets[0]["labels"]}

    model.train()
    image_list, _ = model.transform([i.clone() for i in images], [{k: v.clone() for k, v in t.items()} for t in targets])
    feats = list(model.backbone(image_list.tensors).values())
    head = model.head(feats)
    io["batch"] = image_list.tensors
    io["cls_logits"] = head["cls_logits"]
    io["bbox_regression"] = head["bbox_regression"]
    io["bbox_ctrness"] = head["bbox_ctrness"].squeeze(2)
    losses = model([i.clone() for i in images], [{k: v.clone() for k, v in t.items()} for t in targets])

    model.eval()
    with torch.no_grad():
        dets = model([i.clone() for i in images])
        # A photo as `sweep predict --detector fcos` reads it: 8-bit RGB on disk.
        from PIL import Image
        photo = (torch.rand(3, 90, 120, generator=g) * 255).round().to(torch.uint8)
        Image.fromarray(photo.permute(1, 2, 0).numpy()).save(os.path.join(out, "photo.png"))
        pd = model([photo.float() / 255.0])[0]
        io["photo_boxes"], io["photo_scores"], io["photo_labels"] = pd["boxes"], pd["scores"], pd["labels"]
    for i, d in enumerate(dets):
        io[f"det_boxes{i}"] = d["boxes"]
        io[f"det_scores{i}"] = d["scores"]
        io[f"det_labels{i}"] = d["labels"]

    save_safetensors(os.path.join(out, "weights.safetensors"), model.state_dict())
    save_safetensors(os.path.join(out, "io.safetensors"), io)
    meta = {
        "generator": f"tests/golden_fcos_model.py (torch {torch.__version__.split('+')[0]}, torchvision {TORCHVISION})",
        "classes": CLASSES, "fpn_channels": FPN, "depth": 18, "min_size": 128, "max_size": 160,
        "image_sizes": [list(s) for s in image_list.image_sizes],
        "levels": [list(f.shape[2:]) for f in feats],
        "losses": {k: float(v.detach()) for k, v in losses.items()},
        "detections": [int(d["scores"].numel()) for d in dets],
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
