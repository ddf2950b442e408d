#!/usr/bin/env python3
"""One training step of torchvision's RetinaNet R-50-FPN in PyTorch eager, for
benches/retinanet_step.rs: the same model as ours (FrozenBatchNorm2d, trainable_layers 3,
LastLevelP6P7(256, 256), 91 classes), the same input (2 images, 512 px, same boxes), SGD with
momentum 0.9 and weight decay 1e-4. Prints the median seconds per step as JSON.

    python benches/retinanet_step.py THREADS STEPS SIZE BATCH
"""

import json
import sys
import time

import torch
from torchvision.models import resnet50
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d


def main():
    threads, steps, size, batch = (int(a) for a in sys.argv[1:5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(body, 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    model = RetinaNet(backbone, 91, min_size=size, max_size=size)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.001, momentum=0.9, weight_decay=1e-4)
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
