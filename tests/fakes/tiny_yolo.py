"""A tiny detector with the Ultralytics YOLOv8 output layout, exported with Ultralytics-style metadata.

No detector weights can be downloaded, so tests (and the Ultralytics parity fixture, generated once
outside the project with ``tests/fixtures/ultralytics/generate.py``) use this: fixed weights from a
seeded generator, one stride-8 anchor grid, boxes ``cx, cy, w, h`` in input pixels (8–24 px, so
neighbouring anchors overlap and NMS has work to do) and sigmoid class scores driven by local colour.
It needs only torch and onnx (the parity script runs it in a scratch venv without edgeguard).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

NAMES = ("person", "car", "dog")
SIZE = (96, 128)  # (H, W): not square, so the letterbox pads one axis
STRIDE = 8


class TinyYolo(nn.Module):
    """``(B, 3, H, W)`` in [0, 1] → ``(B, 4 + nc, H/8 · W/8)`` (YOLOv8 layout)."""

    def __init__(self, nc: int = len(NAMES)) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.head = nn.Conv2d(6, 4 + nc, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(4 + nc, 6, 1, 1, generator=g) * 2.0)
            self.head.bias.copy_(torch.randn(4 + nc, generator=g) * 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cell = F.avg_pool2d(x, STRIDE)  # (B, 3, H/8, W/8): the colour of each cell
        ctx = F.avg_pool2d(cell, 3, 1, 1, count_include_pad=False)  # and of its neighbourhood
        t = self.head(torch.cat([cell - 0.5, ctx - 0.5], 1) * 4.0)
        b, _, gh, gw = t.shape
        gy, gx = torch.meshgrid(
            torch.arange(gh, dtype=x.dtype), torch.arange(gw, dtype=x.dtype), indexing="ij"
        )
        cx = (gx + 0.5 + 0.5 * torch.tanh(t[:, 0])) * STRIDE
        cy = (gy + 0.5 + 0.5 * torch.tanh(t[:, 1])) * STRIDE
        w = STRIDE * (1 + 2 * torch.sigmoid(t[:, 2]))
        h = STRIDE * (1 + 2 * torch.sigmoid(t[:, 3]))
        cls = torch.sigmoid(2.0 * t[:, 4:] - 3.0)  # most cells score low: a few confident objects
        out = torch.cat([torch.stack([cx, cy, w, h], 1), cls], 1)
        return out.flatten(2)


def ultralytics_metadata(names=NAMES, size=SIZE, stride: int = 32) -> dict[str, str]:
    """The ``metadata_props`` Ultralytics' exporter writes (values as ``str(v)`` of Python objects)."""
    return {
        "description": "edgeguard tiny YOLO-layout test model",
        "author": "edgeguard tests",
        "stride": str(stride),
        "task": "detect",
        "batch": "1",
        "imgsz": str(list(size)),
        "names": str(dict(enumerate(names))),
    }


def tiny_yolo_onnx(path: Path, *, metadata: dict[str, str] | None = None, dynamic: bool = True) -> Path:
    """Write :class:`TinyYolo` as ONNX (input ``images``, output ``output0``) with Ultralytics' metadata."""
    import onnx

    model = TinyYolo().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.rand(1, 3, *SIZE),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["images"],
            output_names=["output0"],
            dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}} if dynamic else None,
        )
    proto = onnx.load(str(path))
    for key, value in (ultralytics_metadata() if metadata is None else metadata).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    return Path(path)
