#!/usr/bin/env python3
"""torchvision's MultiScaleRoIAlign(['0'..'3'], 7, 2) forward and backward on the inputs that
benches/roi_align.rs wrote, timed the same way (its own medians, then the output for the
comparison).

    python benches/roi_align.py DIR THREADS STEPS

DIR/inputs.safetensors holds feat0..feat3 [N, C, H, W], boxes0..boxes<N-1> [K, 4] and weight
(the output's cotangent); the image sizes are all (H0 * 4, W0 * 4). Prints `forward_seconds`
and `step_seconds` lines (one time per step) and writes DIR/torchvision.safetensors (the output
and the level-0 gradient of the first step).
"""

import json
import os
import struct
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
from torchvision.ops import MultiScaleRoIAlign

DTYPES = {"F32": np.float32, "I64": np.int64}


def load_safetensors(path):
    """A minimal safetensors reader (what tch writes: little-endian, contiguous)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        start, end = h["data_offsets"]
        a = np.frombuffer(body[start:end], dtype=DTYPES[h["dtype"]]).reshape(h["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    folder, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    t = load_safetensors(os.path.join(folder, "inputs.safetensors"))
    feats = [t[f"feat{l}"] for l in range(4)]
    n = feats[0].shape[0]
    boxes = [t[f"boxes{i}"] for i in range(n)]
    weight = t["weight"]
    size = (feats[0].shape[2] * 4, feats[0].shape[3] * 4)
    forward, step, first = [], [], None
    for i in range(steps + 2):
        pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
        xs = [f.clone().requires_grad_(True) for f in feats]
        s = time.perf_counter()
        out = pooler(OrderedDict((str(l), x) for l, x in enumerate(xs)), boxes, [size] * n)
        f = time.perf_counter()
        (out * weight).sum().backward()
        e = time.perf_counter()
        if first is None:
            first = {"out": out, "grad0": xs[0].grad}
        if i >= 2:
            forward.append(f - s)
            step.append(e - s)
    print("forward_seconds " + " ".join(f"{v:.6f}" for v in forward))
    print("step_seconds " + " ".join(f"{v:.6f}" for v in step))
    save_safetensors(os.path.join(folder, "torchvision.safetensors"), first)


if __name__ == "__main__":
    main()
