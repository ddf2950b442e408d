#!/usr/bin/env python3
"""The quick-scale FCOS of src/trainer/model.rs in plain PyTorch eager, for benches/train_step.rs.

    python benches/train_step_eager.py DIR THREADS STEPS LR

DIR holds weights.safetensors (our initial weights, our parameter names: the modules below are
named so that their state_dict keys are the same) and batch.safetensors (images, labels, and
per positive its flat row, prior [cx, cy, sw, sh], box, weight and center-ness target). The
step is ours: TinyResnet (GroupNorm) + FPN P3-P5 + the FCOS head (towers of conv + GroupNorm +
ReLU, relu(scale_l * reg), center-ness on the regression tower), sigmoid focal loss / num_pos,
GIoU weighted by the center-ness target / sum of weights, center-ness BCE / num_pos; then
clip_grad_norm_(10) and torch.optim.SGD(momentum 0.9, weight decay 1e-4). Prints
`step_seconds t1 t2 ...` of STEPS steps after 3 untimed ones, and `first_losses cls reg ctr`.
"""

import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WIDTH, BLOCKS, FPN, HEAD_CONVS, CLASSES = 32, [1, 1, 1, 1], 64, 2, 4
ALPHA, GAMMA, EPS = 0.25, 2.0, 1e-7


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "I64": np.int64, "F64": np.float64}
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=dtypes[h["dtype"]]).reshape(h["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def groups(c):
    return next(g for g in range(8, 0, -1) if c % g == 0)


class ConvGn(nn.Module):
    def __init__(self, i, o, k, stride):
        super().__init__()
        self.conv = nn.Conv2d(i, o, k, stride, k // 2, bias=False)
        self.gn = nn.GroupNorm(groups(o), o)

    def forward(self, x):
        return self.gn(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.a = ConvGn(i, o, 3, stride)
        self.b = ConvGn(o, o, 3, 1)
        self.down = ConvGn(i, o, 1, stride) if i != o or stride != 1 else None

    def forward(self, x):
        y = self.b(F.relu(self.a(x)))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvGn(3, WIDTH, 3, 2)
        c_in = WIDTH
        for s, n in enumerate(BLOCKS):
            stage = nn.Module()
            for b in range(max(n, 1)):
                setattr(stage, f"block{b}", BasicBlock(c_in, WIDTH << s, 2 if b == 0 and s > 0 else 1))
                c_in = WIDTH << s
            setattr(self, f"stage{s}", stage)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2, 1)
        outs = []
        for s, n in enumerate(BLOCKS):
            stage = getattr(self, f"stage{s}")
            for b in range(max(n, 1)):
                x = getattr(stage, f"block{b}")(x)
            if s >= 1:
                outs.append(x)
        return outs


class Fpn(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        for i, c in enumerate(in_channels):
            setattr(self, f"lateral{i}", nn.Conv2d(c, FPN, 1))
            setattr(self, f"output{i}", nn.Conv2d(FPN, FPN, 3, padding=1))
        self.n = len(in_channels)

    def forward(self, feats):
        lat = [getattr(self, f"lateral{i}")(f) for i, f in enumerate(feats)]
        for i in range(self.n - 2, -1, -1):
            lat[i] = lat[i] + F.interpolate(lat[i + 1], size=lat[i].shape[-2:], mode="nearest")
        return [getattr(self, f"output{i}")(x) for i, x in enumerate(lat)]


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        for name in ["cls_tower", "reg_tower"]:
            for i in range(HEAD_CONVS):
                setattr(self, f"{name}{i}", ConvGn(FPN, FPN, 3, 1))
        self.cls_out = nn.Conv2d(FPN, CLASSES, 3, padding=1)
        self.reg_out = nn.Conv2d(FPN, 4, 3, padding=1)
        self.ctr_out = nn.Conv2d(FPN, 1, 3, padding=1)
        for l in range(3):
            setattr(self, f"scale{l}", nn.Parameter(torch.ones(1)))

    def tower(self, name, x):
        for i in range(HEAD_CONVS):
            x = F.relu(getattr(self, f"{name}{i}")(x))
        return x

    def forward(self, levels):
        def flat(t, k):
            return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1, k)

        cls, reg, ctr = [], [], []
        for l, p in enumerate(levels):
            cls.append(flat(self.cls_out(self.tower("cls_tower", p)), CLASSES))
            r = self.tower("reg_tower", p)
            reg.append(flat(F.relu(self.reg_out(r) * getattr(self, f"scale{l}")), 4))
            ctr.append(flat(self.ctr_out(r), 1).squeeze(2))
        return torch.cat(cls, 1), torch.cat(reg, 1), torch.cat(ctr, 1)


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.fpn = Fpn([WIDTH * 2, WIDTH * 4, WIDTH * 8])
        self.head = Head()

    def forward(self, x):
        return self.head(self.fpn(self.backbone(x)))


def giou(p, g):
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iw = (torch.minimum(p[:, 2], g[:, 2]) - torch.maximum(p[:, 0], g[:, 0])).clamp(min=0)
    ih = (torch.minimum(p[:, 3], g[:, 3]) - torch.maximum(p[:, 1], g[:, 1])).clamp(min=0)
    inter = iw * ih
    union = area(p) + area(g) - inter
    cw = torch.maximum(p[:, 2], g[:, 2]) - torch.minimum(p[:, 0], g[:, 0])
    ch = torch.maximum(p[:, 3], g[:, 3]) - torch.minimum(p[:, 1], g[:, 1])
    enclose = cw * ch
    return 1 - (inter / (union + EPS) - (enclose - union) / (enclose + EPS))


def losses(model, b):
    cls, reg, ctr = model(b["images"])
    logits = cls.reshape(-1, CLASSES)
    labels, pos = b["labels"], b["pos"]
    num_pos = max(pos.numel(), 1)
    t = F.one_hot(labels.clamp(min=0), CLASSES + 1)[:, 1:].to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    p = logits.sigmoid()
    focal = ce * (t * (2 * ALPHA - 1) + (1 - ALPHA)) * (p + t - 2 * p * t).pow(GAMMA)
    l_cls = (focal * (labels >= 0).to(logits.dtype)[:, None]).sum() / num_pos
    pred = reg.reshape(-1, 4)[pos]
    c, s = b["priors"][:, :2], b["priors"][:, 2:]
    boxes = torch.cat([c - pred[:, :2] * s, c + pred[:, 2:] * s], 1)
    w = b["weight"]
    l_reg = (giou(boxes, b["boxes"]) * w).sum() / max(float(w.sum()), 1e-6)
    ctr_logits = ctr.reshape(-1)[pos]
    l_ctr = F.binary_cross_entropy_with_logits(ctr_logits, b["centerness"], reduction="sum") / num_pos
    return l_cls, l_reg, l_ctr


def main():
    out_dir, threads, steps, lr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    model = Detector()
    weights = read_safetensors(f"{out_dir}/weights.safetensors")
    model.load_state_dict(weights, strict=True)
    batch = read_safetensors(f"{out_dir}/batch.safetensors")
    params = [p for _, p in sorted(model.named_parameters())]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    times, first = [], None
    for it in range(steps + 3):
        t0 = time.perf_counter()
        l_cls, l_reg, l_ctr = losses(model, batch)
        opt.zero_grad()
        (l_cls + l_reg + l_ctr).backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        if it == 0:
            first = [float(l_cls), float(l_reg), float(l_ctr)]
        if it >= 3:
            times.append(time.perf_counter() - t0)
    print("step_seconds " + " ".join(str(t) for t in times))
    print("first_losses " + " ".join(str(v) for v in first))


if __name__ == "__main__":
    main()
