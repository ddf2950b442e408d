#!/usr/bin/env python3
"""Writes torchvision's Faster R-CNN second stage (`RoIHeads`) on fixed inputs, for the Rust tests
in src/trainer/detectors/roi_heads/golden.rs to compare against (torchvision is the reference;
none of our code runs here).

    python tests/golden_roi_heads.py OUT_DIR

in the project's venv with torchvision 0.26.0 (the release for torch 2.11.0); the Rust test
installs it there when missing and runs this script into a temporary directory. No download.

What is built: `RoIHeads` wired as `fasterrcnn_resnet50_fpn` (v1) wires it -- MultiScaleRoIAlign
over FPN levels "0".."3" (7 x 7, sampling ratio 2), TwoMLPHead, FastRCNNPredictor, Matcher(0.5,
0.5), the balanced sampler at positive fraction 0.25, box coder weights (10, 10, 5, 5), score
threshold 0.05, NMS 0.5, 100 detections -- but small: 64 FPN channels, representation size 64,
5 classes + background, 32 sampled proposals per image. The predictor's weights are redrawn with
more spread than nn.Linear's default so that scores straddle the threshold and the deltas move
the boxes. Inputs: random FPN levels of a 2-image batch padded to 160 x 160 (images 100 x 150 and
130 x 110), random proposals plus jittered copies of the ground truth (so there are positives to
sample); image 1 has no objects.

Training forward: the sampler is wrapped to record the labels it is given and the proposals it
draws (as positions among the positives and among the negatives, ascending: the draw decides a
set), `box_roi_pool` and `box_predictor` are hooked to record their outputs, and
`fastrcnn_loss` is wrapped to record the sampled labels and regression targets. A second training
forward from torch.manual_seed(SEED) records only its draws (ours must make the same ones from
the same seed). Eval forward on fixed proposals records the pooled features and the detections,
and `postprocess_detections` is rerun under the settings of SETS.

Written to OUT_DIR:
  weights.safetensors  roi_heads.box_head.*, roi_heads.box_predictor.* (torchvision's names)
  io.safetensors       proposals<i>, gt_boxes0, gt_labels0, labels_in<i> (labels before
                       sampling), draw_pos<i>/draw_neg<i>, seeded_pos<i>/seeded_neg<i>,
                       sampled<i> (indices into proposals + gt), sampled_labels<i>,
                       regression_targets<i>, pooled, class_logits, box_regression,
                       grad_fc6_weight, grad_pooled, eval_proposals<i>, eval_pooled,
                       eval_class_logits, eval_box_regression, det_{boxes,scores,labels}<i>
                       and <set>_det_* for each of SETS
  golden.json          sizes, settings, the two losses, the regression loss under L1, GIoU,
                       DIoU and CIoU (torchvision.ops on the same positives), detection counts
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The writer and torchvision's install (on import) are tests/golden_detectors.py's.
from golden_detectors import save_safetensors  # noqa: E402

import torch
import torchvision
from torchvision.models.detection import roi_heads as roi_heads_module
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import MultiScaleRoIAlign

CHANNELS = 64
RESOLUTION = 7
REPRESENTATION = 64
CLASSES = 6  # incl. background
BATCH_PER_IMAGE = 32
POSITIVE_FRACTION = 0.25
BATCH = (160, 160)
IMAGE_SIZES = [(100, 150), (130, 110)]
SEED = 1234
SETS = {"strict": {"score_thresh": 0.3, "nms_thresh": 0.3, "detections_per_img": 10}}


def build(g):
    torch.manual_seed(0)
    pool = MultiScaleRoIAlign(featmap_names=["0", "1", "2", "3"], output_size=RESOLUTION, sampling_ratio=2)
    head = TwoMLPHead(CHANNELS * RESOLUTION**2, REPRESENTATION)
    predictor = FastRCNNPredictor(REPRESENTATION, CLASSES)
    with torch.no_grad():
        predictor.cls_score.weight.copy_(0.6 * torch.randn(predictor.cls_score.weight.shape, generator=g))
        predictor.bbox_pred.weight.copy_(0.4 * torch.randn(predictor.bbox_pred.weight.shape, generator=g))
    return RoIHeads(pool, head, predictor, 0.5, 0.5, BATCH_PER_IMAGE, POSITIVE_FRACTION, None, 0.05, 0.5, 100)


def random_boxes(g, n, h, w):
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w - 10.0, h - 10.0])
    wh = 6.0 + torch.rand(n, 2, generator=g) * 60.0
    b = torch.cat([xy, xy + wh], 1)
    return torchvision.ops.clip_boxes_to_image(b, (h, w))


def jittered(g, gt, copies, h, w):
    b = gt.repeat(copies, 1)
    size = torch.cat([b[:, 2:] - b[:, :2]] * 2, 1)
    b = b + 0.15 * size * torch.randn(b.shape, generator=g)
    return torchvision.ops.clip_boxes_to_image(b, (h, w))


def positions(candidates, chosen_mask):
    """Where each drawn index sits among the candidates (ascending)."""
    chosen = torch.where(chosen_mask)[0]
    return torch.searchsorted(candidates, chosen)


def main(out):
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    heads = build(g)
    feats = {str(l): torch.randn(2, CHANNELS, BATCH[0] >> (l + 2), BATCH[1] >> (l + 2), generator=g) for l in range(4)}
    feats["pool"] = torch.randn(2, CHANNELS, 3, 3, generator=g)
    for f in feats.values():
        f.requires_grad_(True)  # so that the pooled features have a gradient to record
    gt0 = torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 30.0, 140.0, 95.0], [5.0, 60.0, 30.0, 90.0]])
    targets = [
        {"boxes": gt0, "labels": torch.tensor([1, 3, 5])},
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)},
    ]
    (h0, w0), (h1, w1) = IMAGE_SIZES
    proposals = [
        torch.cat([random_boxes(g, 40, h0, w0), jittered(g, gt0, 4, h0, w0)]),
        random_boxes(g, 45, h1, w1),
    ]
    io = {"gt_boxes0": gt0, "gt_labels0": targets[0]["labels"]}
    for i, p in enumerate(proposals):
        io[f"proposals{i}"] = p

    record = {}
    sampler = heads.fg_bg_sampler

    def recording_sampler(labels):
        pos, neg = sampler(labels)
        # select_training_samples then replaces the list's items by the sampled ones.
        record["draws"] = ([l.clone() for l in labels], pos, neg)
        return pos, neg

    heads.fg_bg_sampler = recording_sampler

    def on_pool(module, args, output):
        if output.requires_grad:
            output.retain_grad()
        record["pooled"] = output

    def on_predictor(module, args, output):
        record["class_logits"], record["box_regression"] = output

    heads.box_roi_pool.register_forward_hook(on_pool)
    heads.box_predictor.register_forward_hook(on_predictor)
    loss_fn = roi_heads_module.fastrcnn_loss

    def recording_loss(class_logits, box_regression, labels, regression_targets):
        record["labels"], record["regression_targets"] = labels, regression_targets
        return loss_fn(class_logits, box_regression, labels, regression_targets)

    roi_heads_module.fastrcnn_loss = recording_loss

    def draws(prefix):
        labels, pos, neg = record["draws"]
        for i, (l, p, n) in enumerate(zip(labels, pos, neg)):
            io[f"{prefix}_pos{i}"] = positions(torch.where(l >= 1)[0], p.bool())
            io[f"{prefix}_neg{i}"] = positions(torch.where(l == 0)[0], n.bool())
            if prefix == "draw":
                io[f"labels_in{i}"] = l
                io[f"sampled{i}"] = torch.where((p | n).bool())[0]

    heads.train()
    fresh = lambda: [p.clone() for p in proposals]  # noqa: E731
    _, losses = heads(feats, fresh(), IMAGE_SIZES, targets)
    draws("draw")
    (losses["loss_classifier"] + losses["loss_box_reg"]).backward()
    io["pooled"] = record["pooled"]
    io["grad_pooled"] = record["pooled"].grad
    io["grad_fc6_weight"] = heads.box_head.fc6.weight.grad
    io["class_logits"], io["box_regression"] = record["class_logits"], record["box_regression"]
    for i, (l, t) in enumerate(zip(record["labels"], record["regression_targets"])):
        io[f"sampled_labels{i}"], io[f"regression_targets{i}"] = l, t

    # The regression through other losses, as torchvision.ops computes them on the positives:
    # their class's deltas against the encoded targets (L1), or decoded against the matched
    # ground truth (the IoU family); summed and divided by the sampled count, as fastrcnn_loss.
    labels = torch.cat(record["labels"])
    n = labels.numel()
    pos = torch.where(labels > 0)[0]
    pred = record["box_regression"].detach().reshape(n, -1, 4)[pos, labels[pos]]
    encoded = torch.cat(record["regression_targets"])[pos]
    sampled, matched = [], []
    for i, (p, t) in enumerate(zip(proposals, targets)):
        sp = torch.cat([p, t["boxes"]])[io[f"sampled{i}"]]
        sampled.append(sp)
        if t["boxes"].numel() == 0:
            matched.append(torch.zeros_like(sp))
        else:
            m = heads.proposal_matcher(torchvision.ops.box_iou(t["boxes"], sp)).clamp(min=0)
            matched.append(t["boxes"][m])
    decoded = heads.box_coder.decode_single(pred, torch.cat(sampled)[pos])
    gt = torch.cat(matched)[pos]
    ops = torchvision.ops
    registry = {
        "l1": torch.nn.functional.l1_loss(pred, encoded, reduction="sum") / n,
        "giou": ops.generalized_box_iou_loss(decoded, gt, reduction="sum") / n,
        "diou": ops.distance_box_iou_loss(decoded, gt, reduction="sum") / n,
        "ciou": ops.complete_box_iou_loss(decoded, gt, reduction="sum") / n,
    }

    # The same forward from a known seed: only the draws matter.
    torch.manual_seed(SEED)
    with torch.no_grad():
        heads(feats, fresh(), IMAGE_SIZES, targets)
    draws("seeded")

    heads.eval()
    eval_proposals = [proposals[0][:30], proposals[1]]
    dets = {}
    with torch.no_grad():
        result, _ = heads(feats, [p.clone() for p in eval_proposals], IMAGE_SIZES)
        dets["default"] = [(r["boxes"], r["scores"], r["labels"]) for r in result]
        for name, s in SETS.items():
            saved = {k: getattr(heads, k) for k in s}
            for k, v in s.items():
                setattr(heads, k, v)
            out_set = heads.postprocess_detections(
                record["class_logits"], record["box_regression"], eval_proposals, IMAGE_SIZES
            )
            dets[name] = list(zip(*out_set))
            for k, v in saved.items():
                setattr(heads, k, v)
    for i, p in enumerate(eval_proposals):
        io[f"eval_proposals{i}"] = p
    io["eval_pooled"] = record["pooled"]
    io["eval_class_logits"], io["eval_box_regression"] = record["class_logits"], record["box_regression"]
    for name, per_image in dets.items():
        prefix = "" if name == "default" else f"{name}_"
        for i, (b, s, l) in enumerate(per_image):
            io[f"{prefix}det_boxes{i}"], io[f"{prefix}det_scores{i}"], io[f"{prefix}det_labels{i}"] = b, s, l

    state = {f"roi_heads.{k}": v for k, v in heads.state_dict().items()}
    save_safetensors(os.path.join(out, "weights.safetensors"), state)
    save_safetensors(os.path.join(out, "io.safetensors"), io)
    meta = {
        "generator": f"tests/golden_roi_heads.py (torch {torch.__version__.split('+')[0]}, torchvision {torchvision.__version__})",
        "channels": CHANNELS, "resolution": RESOLUTION, "representation": REPRESENTATION, "classes": CLASSES,
        "batch_size_per_image": BATCH_PER_IMAGE, "positive_fraction": POSITIVE_FRACTION, "seed": SEED,
        "image_sizes": [list(s) for s in IMAGE_SIZES], "sets": SETS,
        "losses": {k: float(v.detach()) for k, v in losses.items()},
        "registry_losses": {k: float(v) for k, v in registry.items()},
        "detections": {n: [int(d[1].numel()) for d in per_image] for n, per_image in dets.items()},
        "positives": [int((l > 0).sum()) for l in record["labels"]],
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
