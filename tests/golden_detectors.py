#!/usr/bin/env python3
"""Builds torchvision 0.26.0's RetinaNet at a small size from a fixed seed and writes, into the
directory given as the only argument, what tests/it/golden_detectors.rs compares ours against:

  weights.safetensors  the model's state dict (torchvision's names; FrozenBatchNorm2d buffers
                       randomised so that they matter)
  io.safetensors       the raw input images, the targets, the transformed batch, the anchors,
                       the per-level head outputs, a gradient, and the eval-mode detections
  photo.png            an 8-bit image and, in io.safetensors, torchvision's detections on it
  golden.json          sizes, the losses (focal + L1, smooth L1 and GIoU regression) and counts

Run with the project's venv (scripts/libtorch-env.sh); torchvision==0.26.0 (the release for
torch 2.11.0) is installed into it on first use. No download: weights_backbone=None.

The model is torchvision's own code path: resnet18(norm_layer=FrozenBatchNorm2d) and
BackboneWithFPN(returned layers 2-4, LastLevelP6P7) as _resnet_fpn_extractor wires them, with
64 FPN channels instead of 256 to keep the file small, RetinaNet's default anchors, min_size 128,
max_size 160. Two images of different shapes; the second has no objects.
"""

import json
import os
import struct
import subprocess
import sys

TORCHVISION = "0.26.0"


def ensure_torchvision():
    try:
        import torchvision  # noqa: F401
        if torchvision.__version__.split("+")[0] == TORCHVISION:
            return
    except ImportError:
        pass
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", f"torchvision=={TORCHVISION}"])


ensure_torchvision()

import torch  # noqa: E402
from torchvision.models import resnet18  # noqa: E402
from torchvision.models.detection.backbone_utils import BackboneWithFPN  # noqa: E402
from torchvision.models.detection.retinanet import RetinaNet, _default_anchorgen  # noqa: E402
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: E402

FPN = 64
CLASSES = 5
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def save_safetensors(path, tensors):
    """A minimal safetensors writer (little-endian, contiguous), so no extra package is needed."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def resnet18_fpn(fpn=FPN):
    """resnet18 with FrozenBatchNorm2d and the FPN as _resnet_fpn_extractor wires them."""
    body = resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    # _resnet_fpn_extractor with trainable_layers=3, returned_layers=[2, 3, 4].
    for name, p in body.named_parameters():
        if not any(name.startswith(l) for l in ["layer4", "layer3", "layer2"]):
            p.requires_grad_(False)
    backbone = BackboneWithFPN(
        body,
        return_layers={"layer2": "0", "layer3": "1", "layer4": "2"},
        in_channels_list=[128, 256, 512],
        out_channels=fpn,
        extra_blocks=LastLevelP6P7(fpn, fpn),
    )
    return backbone


def resnet18_fpn_maxpool(fpn=FPN):
    """resnet18 with FrozenBatchNorm2d and the FPN as _resnet_fpn_extractor(body, 3) wires them
    (returned_layers [1, 2, 3, 4], LastLevelMaxPool), with FPN channels instead of 256."""
    body = resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    for name, p in body.named_parameters():
        if all(not name.startswith(l) for l in ["layer4", "layer3", "layer2"]):
            p.requires_grad_(False)
    return BackboneWithFPN(
        body,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=[64, 128, 256, 512],
        out_channels=fpn,
        extra_blocks=LastLevelMaxPool(),
    )


def randomise_frozen_bn(model, g):
    """FrozenBatchNorm2d statistics away from identity, so that loading them matters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, FrozenBatchNorm2d):
                c = m.weight.shape[0]
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))


def build():
    torch.manual_seed(0)
    model = RetinaNet(resnet18_fpn(), CLASSES, min_size=128, max_size=160, anchor_generator=_default_anchorgen())
    g = torch.Generator().manual_seed(1)
    randomise_frozen_bn(model, g)
    with torch.no_grad():
        # Heads with more spread than N(0, 0.01) and scores above 0.05, so that the outputs,
        # the thresholds, the top-k and the NMS all have something to decide.
        for name, p in model.head.named_parameters():
            if name.endswith("weight"):
                p.copy_(0.03 * torch.randn(p.shape, generator=g))
        model.head.classification_head.cls_logits.bias.fill_(-2.0)
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
    image_list, tt = model.transform([i.clone() for i in images], [{k: v.clone() for k, v in t.items()} for t in targets])
    feats = list(model.backbone(image_list.tensors).values())
    head = model.head(feats)
    anchors = model.anchor_generator(image_list, feats)
    io["batch"] = image_list.tensors
    io["scaled_boxes0"] = tt[0]["boxes"]
    io["anchors"] = anchors[0]
    sizes = [f.shape[2] * f.shape[3] * 9 for f in feats]
    for lv, (c, r) in enumerate(zip(head["cls_logits"].split(sizes, 1), head["bbox_regression"].split(sizes, 1))):
        io[f"cls_logits{lv}"] = c
        io[f"bbox_regression{lv}"] = r
        io[f"feature{lv}"] = feats[lv]

    losses = {}
    for kind in ["l1", "smooth_l1", "giou"]:
        model.head.regression_head._loss_type = kind
        model.zero_grad()
        l = model([i.clone() for i in images], [{k: v.clone() for k, v in t.items()} for t in targets])
        losses[kind] = {k: float(v.detach()) for k, v in l.items()}
        if kind == "l1":
            (l["classification"] + l["bbox_regression"]).backward()
            io["grad_cls_logits_weight"] = model.head.classification_head.cls_logits.weight.grad
            io["grad_layer4_conv"] = model.backbone.body.layer4[0].conv1.weight.grad
    model.head.regression_head._loss_type = "l1"

    model.eval()
    with torch.no_grad():
        dets = model([i.clone() for i in images])
        # A photo as `sweep predict` reads it: 8-bit RGB on disk.
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
        "generator": f"tests/golden_detectors.py (torch {torch.__version__.split('+')[0]}, torchvision {TORCHVISION})",
        "classes": CLASSES, "fpn_channels": FPN, "depth": 18, "min_size": 128, "max_size": 160,
        "image_sizes": [list(s) for s in image_list.image_sizes],
        "levels": len(feats), "losses": losses, "detections": [int(d["scores"].numel()) for d in dets],
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
