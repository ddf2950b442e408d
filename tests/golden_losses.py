#!/usr/bin/env python3
"""Writes tests/fixtures/losses/*.json: values and gradients of detection losses computed by
PyTorch and torchvision.ops, an implementation independent of ours, for the Rust tests in
src/trainer/losses/golden.rs to compare against.

Run it in the project's Python environment (scripts/libtorch-env.sh installs torch 2.11.0;
add torchvision 0.26.0, the release built for torch 2.11.0):

    source scripts/libtorch-env.sh
    python -m pip install torchvision==0.26.0
    python tests/golden_losses.py

Every case is float64. Box losses: `per_box` is torchvision's loss with reduction "none",
`loss` = sum(weight * per_box) / sum(weight) (our `reduce`), `grad` its gradient with respect
to `pred`. Focal: torchvision's sigmoid_focal_loss over the one-hot targets of the labels
(-1 ignored, 0 background, k class k-1), summed over non-ignored rows and divided by the
number of positives. Smooth L1: torch.nn.functional.smooth_l1_loss, summed over the 4
coordinates of a box.
"""

import json
import os

import torch
import torch.nn.functional as F
import torchvision
from torchvision.ops import (
    complete_box_iou_loss,
    distance_box_iou_loss,
    generalized_box_iou_loss,
    sigmoid_focal_loss,
)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "losses")
GENERATOR = (
    f"tests/golden_losses.py (torch {torch.__version__.split('+')[0]}, "
    f"torchvision {torchvision.__version__.split('+')[0]})"
)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def boxes(gen, n, lo=0.0, span=40.0, min_side=1.0, max_side=30.0):
    xy = lo + span * torch.rand(n, 2, generator=gen, dtype=torch.float64)
    wh = min_side + (max_side - min_side) * torch.rand(n, 2, generator=gen, dtype=torch.float64)
    return torch.cat([xy, xy + wh], dim=1)


def box_cases(gen):
    """Named (pred, target) sets: random, disjoint, nested, identical, thin."""
    cases = []
    p, t = boxes(gen, 24), boxes(gen, 24)
    cases.append(("random", p, t))
    p = boxes(gen, 6, 0.0, 10.0, 1.0, 5.0)
    cases.append(("disjoint", p, p + torch.tensor([30.0, 25.0, 30.0, 25.0], dtype=torch.float64)))
    t = boxes(gen, 6, 0.0, 20.0, 10.0, 30.0)
    inner = torch.cat([t[:, :2] + 2.0, t[:, 2:] - 3.0], dim=1)
    cases.append(("nested", inner, t))
    t = boxes(gen, 4)
    cases.append(("near_identical", t + 1e-3 * torch.randn(4, 4, generator=gen, dtype=torch.float64), t))
    p = boxes(gen, 6, 0.0, 20.0, 0.05, 0.5)  # thin and tiny predictions (FCOS near zero output)
    cases.append(("tiny", p, boxes(gen, 6, 0.0, 20.0, 2.0, 10.0)))
    return cases


def box_loss_file(name, fn, gen):
    out = []
    for case, p, t in box_cases(gen):
        w = 0.1 + torch.rand(p.shape[0], generator=gen, dtype=torch.float64)
        pred = p.clone().requires_grad_(True)
        per_box = fn(pred, t)
        loss = (w * per_box).sum() / w.sum()
        loss.backward()
        out.append({
            "name": case, "n": p.shape[0], "pred": flat(p), "target": flat(t), "weight": flat(w),
            "per_box": flat(per_box), "loss": float(loss.detach()), "grad": flat(pred.grad),
        })
    return {"generator": GENERATOR, "loss": name, "cases": out}


def focal_file(gen):
    out = []
    for case, (n, c, alpha, gamma) in enumerate([(30, 4, 0.25, 2.0), (20, 3, 0.5, 0.0), (25, 1, 0.75, 1.5)]):
        x = 4.0 * torch.randn(n, c, generator=gen, dtype=torch.float64)
        labels = torch.randint(-1, c + 1, (n,), generator=gen)
        labels[0] = 1  # at least one positive
        onehot = F.one_hot(labels.clamp(min=0), c + 1)[:, 1:].to(torch.float64)
        valid = (labels >= 0).to(torch.float64).unsqueeze(1)
        num_pos = float((labels > 0).sum())
        logits = x.clone().requires_grad_(True)
        loss = (sigmoid_focal_loss(logits, onehot, alpha, gamma, "none") * valid).sum() / num_pos
        loss.backward()
        out.append({
            "name": f"case{case}", "n": n, "classes": c, "alpha": alpha, "gamma": gamma,
            "logits": flat(x), "labels": [int(v) for v in labels.tolist()], "num_pos": num_pos,
            "loss": float(loss.detach()), "grad": flat(logits.grad),
        })
    return {"generator": GENERATOR, "loss": "sigmoid_focal_loss", "cases": out}


def smooth_l1_file(gen):
    out = []
    for case, beta in enumerate([1.0 / 9.0, 1.0, 0.5]):
        n = 16
        p = torch.randn(n, 4, generator=gen, dtype=torch.float64)
        t = torch.randn(n, 4, generator=gen, dtype=torch.float64)
        w = 0.1 + torch.rand(n, generator=gen, dtype=torch.float64)
        pred = p.clone().requires_grad_(True)
        per_box = F.smooth_l1_loss(pred, t, reduction="none", beta=beta).sum(1)
        loss = (w * per_box).sum() / w.sum()
        loss.backward()
        out.append({
            "name": f"beta{case}", "n": n, "beta": beta, "pred": flat(p), "target": flat(t),
            "weight": flat(w), "per_box": flat(per_box), "loss": float(loss.detach()), "grad": flat(pred.grad),
        })
    return {"generator": GENERATOR, "loss": "smooth_l1_loss", "cases": out}


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20240601)
    files = {
        "focal.json": focal_file(gen),
        "smooth_l1.json": smooth_l1_file(gen),
        "giou.json": box_loss_file("generalized_box_iou_loss", generalized_box_iou_loss, gen),
        "diou.json": box_loss_file("distance_box_iou_loss", distance_box_iou_loss, gen),
        "ciou.json": box_loss_file("complete_box_iou_loss", complete_box_iou_loss, gen),
    }
    for name, data in files.items():
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(data, f, indent=None, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {os.path.join(OUT, name)} ({len(data['cases'])} cases)")


if __name__ == "__main__":
    main()
