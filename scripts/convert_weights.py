#!/usr/bin/env python3
"""Converts a PyTorch state dict (`.pth`, as torchvision publishes its weights) into a
safetensors file that the trainer loads (tch reads safetensors, not Python pickles).

    scripts/convert-weights IN.pth OUT.safetensors

A checkpoint that wraps its state dict under "model" or "state_dict" is unwrapped. Tensors keep
their names and shapes; floating tensors are stored as float32, integer ones as int64.
"""

import json
import os
import struct
import sys

import torch


def state_dict(path):
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        sys.exit(f"convert-weights: {path}: not a state dict of tensors")
    return obj


def write(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        t, dtype = (t.float(), "F32") if t.is_floating_point() else (t.long(), "I64")
        data = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
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


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: scripts/convert-weights IN.pth OUT.safetensors")
    src, dst = sys.argv[1], sys.argv[2]
    if not os.path.isfile(src):
        sys.exit(f"convert-weights: {src}: no such file")
    sd = state_dict(src)
    write(dst, sd)
    print(f"{dst}: {len(sd)} tensors")


if __name__ == "__main__":
    main()
