"""A tiny classifier exported with defenses (fast enough for precision/TensorRT tests on 2 cores)."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import torch
from torch import nn


class Tiny(nn.Module):
    """Two convs + linear head, 6 classes, any input size."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8)
        self.c2, self.fc = nn.Conv2d(8, 16, 3, 2, 1), nn.Linear(16, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.c2(torch.relu(self.b1(self.c1(x)))))
        return self.fc(x.mean((2, 3)))


def tiny_onnx(path: Path, size: int = 32) -> Path:
    """Write the random-init (seed 0) tiny classifier as a dynamic-batch ONNX file."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Tiny().eval(),
            (torch.rand(1, 3, size, size),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
        )
    return path


def calib_folder(path: Path, n: int = 24, size: int = 32) -> Path:
    """``n`` rendered sign images (calibration seed 3) as PNGs."""
    from edgeguard.data import SignDataset

    path.mkdir(parents=True, exist_ok=True)
    ds = SignDataset(n, seed=3, size=size)
    for i in range(n):
        cv2.imwrite(str(path / f"{i:03d}.png"), cv2.cvtColor(ds.render(i), cv2.COLOR_RGB2BGR))
    return path


# The tiny model has random weights, so its logits are near ties and INT8 rounding flips the top-1 of a
# few images (how many varies between onnxruntime releases). Its exports check graph structure; the
# INT8 accuracy claim is tested on the shipped sign model (tests/export/test_precision.py).
TINY_MIN_AGREEMENT = 0.75


def export_tiny(folder: Path, precision: str = "fp32", calib: Path | None = None, name: str | None = None):
    """Export the tiny model with bits:5 + median:3x3 + ImageNet normalisation at ``precision``."""
    from edgeguard.exporter.onnx import export

    src = folder / "tiny.onnx"
    if not src.exists():
        tiny_onnx(src)
    out = folder / (name or f"tiny_{precision}.onnx")
    return export(
        str(src),
        defense=["bits:5", "median:3x3"],
        normalize="imagenet",
        out=out,
        precision=precision,
        calib=calib,
        min_agreement=TINY_MIN_AGREEMENT,
    )
