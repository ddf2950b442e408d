#!/usr/bin/env python3
"""Builds torchvision 0.26.0's SSD300 VGG16 (`ssd300_vgg16`, 5 classes + background) from a fixed
seed and writes, into the directory given as the only argument, what
src/trainer/detectors/ssd_golden.rs compares ours against:

  weights.safetensors         the model's state dict (torchvision's names), with the L2-norm
                              scale and the heads randomised so that they and the thresholds
                              matter
  vgg16_features.safetensors  an ImageNet-style VGG16 state dict (`features.*` and one
                              classifier tensor, the rest of the classifier left out for size)
  io.safetensors              the raw images, the targets, the transformed batch, the default
                              boxes, the per-level head outputs, the matched indices, gradients
                              of the summed losses, and the eval-mode detections
  photo.png                   an 8-bit image and, in io.safetensors, torchvision's detections
                              on it (what `sweep predict --detector ssd` must write)
  golden.json                 the two losses, sizes, counts, and which SSD parameter each
                              VGG16 tensor becomes in `ssd300_vgg16`

Run with the project's venv (scripts/libtorch-env.sh); torchvision==0.26.0 (the release for
torch 2.11.0) is installed into it on first use. No download: weights=None, weights_backbone=None.
Two images of different shapes; the second has no objects.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The writer and torchvision's install (on import) are tests/golden_detectors.py's.
from golden_detectors import TORCHVISION, save_safetensors  # noqa: E402

import torch  # noqa: E402
from torchvision.models import vgg16  # noqa: E402
from torchvision.models.detection.ssd import _vgg_extractor, ssd300_vgg16  # noqa: E402

CLASSES = 5


def build():
    torch.manual_seed(0)
    model = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=CLASSES + 1)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        # A scale away from 20 per channel, and heads whose scores straddle score_thresh (0.01),
        # so that the per-class threshold, the top-k, the NMS and the cap all decide something.
        model.backbone.scale_weight.copy_(5.0 + 25.0 * torch.rand(512, generator=g))
        for name, p in model.head.named_parameters():
            if name.endswith("weight"):
                p.mul_(0.5)
            elif name.startswith("classification_head"):
                p.copy_(torch.randn(p.shape, generator=g))
                p.view(-1, CLASSES + 1)[:, 0] += 3.0
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model


def vgg_mapping(out):
    """torchvision's own VGG16 -> SSD300 rearrangement: which SSD parameter each VGG tensor is."""
    torch.manual_seed(3)
    vgg = vgg16(weights=None)
    sd = {k: v for k, v in vgg.state_dict().items() if k.startswith("features.")}
    sd["classifier.6.bias"] = vgg.state_dict()["classifier.6.bias"]
    save_safetensors(os.path.join(out, "vgg16_features.safetensors"), sd)
    ptrs = {v.data_ptr(): k for k, v in vgg.state_dict().items()}
    extractor = _vgg_extractor(vgg, False, 4)
    mapping = {}
    for k, v in extractor.state_dict().items():
        if v.data_ptr() in ptrs:
            mapping["backbone." + k] = ptrs[v.data_ptr()]
    frozen = sorted("backbone." + k for k, p in extractor.named_parameters() if not p.requires_grad)
    return mapping, frozen


def main(out):
    os.makedirs(out, exist_ok=True)
    model = build()
    g = torch.Generator().manual_seed(2)
    images = [torch.rand(3, 200, 260, generator=g), torch.rand(3, 310, 280, generator=g)]
    targets = [
        {"boxes": torch.tensor([[10.0, 12.0, 120.0, 150.0], [140.0, 30.0, 250.0, 95.0], [5.0, 160.0, 20.0, 190.0],
                                [60.0, 60.0, 200.0, 180.0]]),
         "labels": torch.tensor([1, 3, 5, 2])},
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
    sizes = [f.shape[2] * f.shape[3] * a for f, a in zip(feats, model.anchor_generator.num_anchors_per_location())]
    for lv, (c, r) in enumerate(zip(head["cls_logits"].split(sizes, 1), head["bbox_regression"].split(sizes, 1))):
        io[f"cls_logits{lv}"] = c
        io[f"bbox_regression{lv}"] = r
    from torchvision.ops import boxes as box_ops
    io["matched0"] = model.proposal_matcher(box_ops.box_iou(tt[0]["boxes"], anchors[0]))

    model.zero_grad()
    l = model([i.clone() for i in images], [{k: v.clone() for k, v in t.items()} for t in targets])
    losses = {k: float(v.detach()) for k, v in l.items()}
    (l["classification"] + l["bbox_regression"]).backward()
    io["grad_head_cls0"] = model.head.classification_head.module_list[0].weight.grad
    io["grad_conv4_2"] = model.backbone.features[19].weight.grad
    io["grad_scale_weight"] = model.backbone.scale_weight.grad

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

    mapping, frozen = vgg_mapping(out)
    save_safetensors(os.path.join(out, "weights.safetensors"), model.state_dict())
    save_safetensors(os.path.join(out, "io.safetensors"), io)
    meta = {
        "generator": f"tests/golden_ssd.py (torch {torch.__version__.split('+')[0]}, torchvision {TORCHVISION})",
        "classes": CLASSES,
        "image_sizes": [list(s) for s in image_list.image_sizes],
        "losses": losses,
        "foreground": int((io["matched0"] >= 0).sum()),
        "detections": [int(d["scores"].numel()) for d in dets],
        "vgg16_to_ssd": mapping,
        "frozen_with_trainable_layers_4": frozen,
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
