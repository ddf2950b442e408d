#!/usr/bin/env python3
"""One training step of torchvision's SSD300 VGG16 in PyTorch eager, for benches/ssd_step.rs:
the same model as ours (`ssd300_vgg16`, 91 classes, no download, trainable_backbone_layers 5 as
torchvision sets it without weights), the same input (BATCH images of SIZE px resized to
300 x 300, the same boxes), SGD with momentum 0.9 and weight decay 5e-4. Prints the median
seconds per step as JSON.

    python benches/ssd_step.py THREADS STEPS SIZE BATCH
"""

import json
import sys
import time

import torch
from torchvision.models.detection import ssd300_vgg16


def main():
    threads, steps, size, batch = (int(a) for a in sys.argv[1:5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=91)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.001, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(1)
    images = [torch.rand(3, size, size, generator=g) for _ in range(batch)]
    boxes = torch.tensor([[20.0, 30.0, 200.0, 260.0], [250.0, 100.0, 400.0, 300.0], [50.0, 350.0, 120.0, 420.0]])
    targets = [{"boxes": boxes.clone(), "labels": torch.tensor([1, 17, 3])} for _ in range(batch)]
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        losses = model(images, targets)
        loss = losses["classification"] + losses["bbox_regression"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i > 0:
            times.append(time.perf_counter() - t)
    times.sort()
    print(json.dumps({"median_s": times[len(times) // 2], "loss": float(loss.detach())}))


if __name__ == "__main__":
    main()
