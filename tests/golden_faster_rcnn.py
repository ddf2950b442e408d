#!/usr/bin/env python3
"""Builds torchvision 0.26.0's Faster R-CNN at a small size from a fixed seed and writes, into the
directory given as the only argument, what src/trainer/detectors/faster_rcnn_golden.rs compares
our whole detector against (torchvision is the reference; none of our code runs here):

  weights.safetensors  the whole state dict (torchvision's names; FrozenBatchNorm2d statistics,
                       the RPN head and the box predictor randomised so that they matter)
  io.safetensors       the raw images and boxes, both samplers' draws (per image, the sampled
                       positives and negatives), gradients of the summed training losses, and
                       the eval detections in the original images' pixels
  golden.json          sizes, settings, the four losses and counts

Run with the project's venv (scripts/libtorch-env.sh); torchvision==0.26.0 (the release for
torch 2.11.0) is installed into it on first use. No download: no pretrained weights.

The model is torchvision's own code path: resnet18(norm_layer=FrozenBatchNorm2d) and
BackboneWithFPN(returned layers 1-4, LastLevelMaxPool) as _resnet_fpn_extractor wires them
(trainable_layers=3) with 32 FPN channels, FasterRCNN's default anchors, RPN head,
MultiScaleRoIAlign(['0', '1', '2', '3'], 7, 2), TwoMLPHead and FastRCNNPredictor with a
representation of 64, min_size 128, max_size 160, small top-n counts and sampler batches. Two
images of different shapes; the second has no objects. Both samplers' draws (torch.randperm) are
recorded by wrapping `fg_bg_sampler` of the RPN and of the RoI heads.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The writer and torchvision's install (on import) are tests/golden_detectors.py's.
from golden_detectors import TORCHVISION, resnet18_fpn_maxpool, save_safetensors  # noqa: E402

import torch  # noqa: E402
from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor, TwoMLPHead  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: E402

FPN = 32
# torchvision's num_classes, the background included: 5 object classes.
CLASSES = 6
REPRESENTATION = 64
RPN = {
    "rpn_pre_nms_top_n_train": 100,
    "rpn_pre_nms_top_n_test": 50,
    "rpn_post_nms_top_n_train": 60,
    "rpn_post_nms_top_n_test": 30,
    "rpn_batch_size_per_image": 64,
    "rpn_positive_fraction": 0.25,
    "box_batch_size_per_image": 16,
    "box_positive_fraction": 0.25,
}


def build():
    torch.manual_seed(0)
    box_head = TwoMLPHead(FPN * 7 * 7, REPRESENTATION)
    box_predictor = FastRCNNPredictor(REPRESENTATION, CLASSES)
    model = FasterRCNN(resnet18_fpn_maxpool(FPN), None, min_size=128, max_size=160, box_head=box_head,
                       box_predictor=box_predictor, **RPN)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.backbone.modules():
            if isinstance(m, FrozenBatchNorm2d):
                c = m.weight.shape[0]
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
        head = model.rpn.head
        head.conv[0][0].weight.copy_(0.05 * torch.randn(head.conv[0][0].weight.shape, generator=g))
        head.cls_logits.weight.copy_(0.1 * torch.randn(head.cls_logits.weight.shape, generator=g))
        head.cls_logits.bias.copy_(torch.randn(head.cls_logits.bias.shape, generator=g))
        head.bbox_pred.weight.copy_(0.05 * torch.randn(head.bbox_pred.weight.shape, generator=g))
        # Class scores with spread, so that the score threshold and the NMS have work to do.
        p = model.roi_heads.box_predictor
        p.cls_score.weight.copy_(0.5 * torch.randn(p.cls_score.weight.shape, generator=g))
        p.bbox_pred.weight.copy_(0.1 * torch.randn(p.bbox_pred.weight.shape, generator=g))
    return model


class RecordingSampler:
    """torchvision's sampler, with each call's masks kept."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = []

    def __call__(self, labels):
        # A copy: RoIHeads replaces the list's entries by the sampled ones afterwards.
        kept = list(labels)
        pos, neg = self.inner(labels)
        self.calls.append((pos, neg, kept))
        return pos, neg


def main(out):
    os.makedirs(out, exist_ok=True)
    model = build()
    g = torch.Generator().manual_seed(2)
    images = [torch.rand(3, 100, 150, generator=g), torch.rand(3, 130, 110, generator=g)]
    targets = [
        {"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 30.0, 140.0, 95.0], [5.0, 60.0, 20.0, 80.0],
                                [100.0, 8.0, 130.0, 38.0], [30.0, 40.0, 62.0, 72.0]]),
         "labels": torch.tensor([1, 3, 2, 5, 1])},
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)},
    ]
    io = {"image0": images[0], "image1": images[1], "boxes0": targets[0]["boxes"],
          "labels0": targets[0]["labels"]}
    samplers = {"rpn": RecordingSampler(model.rpn.fg_bg_sampler),
                "roi": RecordingSampler(model.roi_heads.fg_bg_sampler)}
    model.rpn.fg_bg_sampler = samplers["rpn"]
    model.roi_heads.fg_bg_sampler = samplers["roi"]

    model.train()
    torch.manual_seed(3)
    model.zero_grad()
    losses = model([i.clone() for i in images], [{k: v.clone() for k, v in t.items()} for t in targets])
    sum(losses.values()).backward()
    io["grad_fc6"] = model.roi_heads.box_head.fc6.weight.grad
    io["grad_layer4_conv"] = model.backbone.body.layer4[0].conv1.weight.grad
    drawn = {}
    for stage, s in samplers.items():
        (pos, neg, labels), = s.calls
        drawn[stage] = []
        for i, (p, n, l) in enumerate(zip(pos, neg, labels)):
            io[f"{stage}_pos{i}"] = torch.where(p)[0]
            io[f"{stage}_neg{i}"] = torch.where(n)[0]
            drawn[stage].append({"positives": int((l >= 1).sum()), "negatives": int((l == 0).sum()),
                                 "drawn_pos": int(p.sum()), "drawn_neg": int(n.sum())})
    # The fixture must exercise the random choice of both sides of both samplers.
    for stage in drawn:
        assert drawn[stage][0]["positives"] > drawn[stage][0]["drawn_pos"], drawn
        assert drawn[stage][0]["negatives"] > drawn[stage][0]["drawn_neg"], drawn

    model.eval()
    with torch.no_grad():
        dets = model([i.clone() for i in images])
    for i, d in enumerate(dets):
        io[f"det_boxes{i}"] = d["boxes"]
        io[f"det_scores{i}"] = d["scores"]
        io[f"det_labels{i}"] = d["labels"]
    assert len(dets[0]["boxes"]) > 5, dets

    save_safetensors(os.path.join(out, "weights.safetensors"), model.state_dict())
    save_safetensors(os.path.join(out, "io.safetensors"), io)
    meta = {
        "generator": f"tests/golden_faster_rcnn.py (torch {torch.__version__.split('+')[0]}, torchvision {TORCHVISION})",
        "classes": CLASSES, "fpn_channels": FPN, "representation": REPRESENTATION, "depth": 18,
        "min_size": 128, "max_size": 160, "settings": RPN,
        "losses": {k: float(v.detach()) for k, v in losses.items()},
        "sampled": drawn,
        "detections": [len(d["boxes"]) for d in dets],
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
