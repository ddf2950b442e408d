#!/usr/bin/env python3
"""Builds torchvision 0.26.0's Faster R-CNN at a small size from a fixed seed and writes, into the
directory given as the only argument, what src/trainer/detectors/rpn/golden.rs compares our
backbone and region proposal network against (torchvision is the reference; none of our code
runs here):

  weights.safetensors  the state dict of the backbone and the RPN (torchvision's names,
                       FrozenBatchNorm2d statistics and the RPN head randomised so that they
                       matter); the second stage is not part of this comparison
  io.safetensors       the raw images, the targets, the transformed batch, the FPN levels, the
                       RPN head's outputs per level, the anchors, the proposals (the fixture's
                       training and test counts, and torchvision's default test counts), the
                       anchors the sampler drew, and gradients of the losses
  golden.json          sizes, settings, the two RPN losses and counts

Run with the project's venv (scripts/libtorch-env.sh); torchvision==0.26.0 (the release for
torch 2.11.0) is installed into it on first use. No download: no pretrained weights.

The model is torchvision's own code path: resnet18(norm_layer=FrozenBatchNorm2d) and
BackboneWithFPN(returned layers 1-4, LastLevelMaxPool) as _resnet_fpn_extractor wires them
(trainable_layers=3), with 64 FPN channels instead of 256, then FasterRCNN with its default
anchor generator and RPN head, min_size 128, max_size 160, and small top-n counts and a small
sampler batch so that every cut bites. Two images of different shapes; the second has no
objects. The sampler's draws (torch.randperm) are recorded by wrapping `model.rpn.fg_bg_sampler`.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The writer and torchvision's install (on import) are tests/golden_detectors.py's.
from golden_detectors import TORCHVISION, resnet18_fpn_maxpool, save_safetensors  # noqa: E402

import torch  # noqa: E402
from torchvision.models.detection.faster_rcnn import FasterRCNN  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: E402

FPN = 64
CLASSES = 5
RPN = {
    "rpn_pre_nms_top_n_train": 100,
    "rpn_pre_nms_top_n_test": 50,
    "rpn_post_nms_top_n_train": 60,
    "rpn_post_nms_top_n_test": 30,
    "rpn_batch_size_per_image": 64,
    "rpn_positive_fraction": 0.25,
}


def build():
    torch.manual_seed(0)
    model = FasterRCNN(resnet18_fpn_maxpool(FPN), CLASSES, min_size=128, max_size=160, **RPN)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        # FrozenBatchNorm2d statistics away from identity, so that loading them matters.
        for m in model.backbone.modules():
            if isinstance(m, FrozenBatchNorm2d):
                c = m.weight.shape[0]
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
        # An RPN head with more spread than N(0, 0.01): objectness logits of a few units and
        # deltas that move the boxes, so that top-k, clipping and NMS all have work to do.
        head = model.rpn.head
        head.conv[0][0].weight.copy_(0.05 * torch.randn(head.conv[0][0].weight.shape, generator=g))
        head.conv[0][0].bias.copy_(0.1 * torch.randn(head.conv[0][0].bias.shape, generator=g))
        head.cls_logits.weight.copy_(0.1 * torch.randn(head.cls_logits.weight.shape, generator=g))
        head.cls_logits.bias.copy_(torch.randn(head.cls_logits.bias.shape, generator=g))
        head.bbox_pred.weight.copy_(0.05 * torch.randn(head.bbox_pred.weight.shape, generator=g))
    return model


class RecordingSampler:
    """torchvision's sampler, with each call's masks kept."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = []

    def __call__(self, labels):
        pos, neg = self.inner(labels)
        self.calls.append((pos, neg, labels))
        return pos, neg


def main(out):
    os.makedirs(out, exist_ok=True)
    model = build()
    g = torch.Generator().manual_seed(2)
    images = [torch.rand(3, 100, 150, generator=g), torch.rand(3, 130, 110, generator=g)]
    targets = [
        {"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 30.0, 140.0, 95.0], [5.0, 60.0, 20.0, 80.0],
                                [100.0, 8.0, 130.0, 38.0], [30.0, 40.0, 62.0, 72.0]]),
         "labels": torch.tensor([1, 3, 2, 4, 1])},
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)},
    ]
    io = {"image0": images[0], "image1": images[1], "boxes0": targets[0]["boxes"]}
    fresh = lambda: ([i.clone() for i in images], [{k: v.clone() for k, v in t.items()} for t in targets])

    sampler = RecordingSampler(model.rpn.fg_bg_sampler)
    model.rpn.fg_bg_sampler = sampler
    model.train()
    imgs, tgts = fresh()
    image_list, tt = model.transform(imgs, tgts)
    feats = model.backbone(image_list.tensors)
    levels = list(feats.values())
    objectness, deltas = model.rpn.head(levels)
    anchors = model.rpn.anchor_generator(image_list, levels)
    io["batch"] = image_list.tensors
    io["scaled_boxes0"] = tt[0]["boxes"]
    io["anchors"] = anchors[0]
    for lv, (f, o, d) in enumerate(zip(levels, objectness, deltas)):
        io[f"feature{lv}"] = f
        io[f"objectness{lv}"] = o
        io[f"deltas{lv}"] = d

    torch.manual_seed(3)
    model.zero_grad()
    proposals, losses = model.rpn(image_list, feats, tt)
    (losses["loss_objectness"] + losses["loss_rpn_box_reg"]).backward()
    io["grad_rpn_conv"] = model.rpn.head.conv[0][0].weight.grad
    io["grad_layer4_conv"] = model.backbone.body.layer4[0].conv1.weight.grad
    io["grad_fpn_inner0"] = model.backbone.fpn.inner_blocks[0][0].weight.grad
    (pos, neg, labels), = sampler.calls
    drawn = []
    for i, (p, n, l) in enumerate(zip(pos, neg, labels)):
        io[f"sampled_pos{i}"] = torch.where(p)[0]
        io[f"sampled_neg{i}"] = torch.where(n)[0]
        drawn.append({"positives": int((l >= 1).sum()), "negatives": int((l == 0).sum()),
                      "drawn_pos": int(p.sum()), "drawn_neg": int(n.sum())})
    # The fixture must exercise the random choice of both sides.
    assert drawn[0]["positives"] > drawn[0]["drawn_pos"], drawn
    for i, p in enumerate(proposals):
        io[f"train_proposals{i}"] = p

    model.eval()
    with torch.no_grad():
        eval_proposals, _ = model.rpn(image_list, feats)
    for i, p in enumerate(eval_proposals):
        io[f"eval_proposals{i}"] = p
    # torchvision's default test-time counts (1000 / 1000): over 1000 boxes per image reach the
    # NMS, which then runs level by level (batched_nms' non-trick path).
    model.rpn._pre_nms_top_n = {"training": 2000, "testing": 1000}
    model.rpn._post_nms_top_n = {"training": 2000, "testing": 1000}
    with torch.no_grad():
        default_proposals, _ = model.rpn(image_list, feats)
    for i, p in enumerate(default_proposals):
        io[f"default_proposals{i}"] = p

    state = {k: v for k, v in model.state_dict().items() if k.startswith(("backbone.", "rpn."))}
    save_safetensors(os.path.join(out, "weights.safetensors"), state)
    save_safetensors(os.path.join(out, "io.safetensors"), io)
    meta = {
        "generator": f"tests/golden_rpn.py (torch {torch.__version__.split('+')[0]}, torchvision {TORCHVISION})",
        "classes": CLASSES, "fpn_channels": FPN, "depth": 18, "min_size": 128, "max_size": 160,
        "rpn": RPN,
        "image_sizes": [list(s) for s in image_list.image_sizes],
        "levels": len(levels),
        "losses": {k: float(v.detach()) for k, v in losses.items()},
        "sampled": drawn,
        "proposals": {"train": [len(p) for p in proposals], "eval": [len(p) for p in eval_proposals],
                      "default": [len(p) for p in default_proposals]},
        "objectness_std": [float(o.detach().std()) for o in objectness],
        "deltas_std": [float(d.detach().std()) for d in deltas],
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
