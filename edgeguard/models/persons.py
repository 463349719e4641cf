"""The embedded person detector: a tiny anchor-free, YOLOv8-shaped network for 320×320 inputs.

Registered in the model zoo as ``persons`` (task ``detection``, one class ``person``). Its output is the
Ultralytics YOLOv8 ONNX layout (``REFERENCE.md``, "Detection engines"): ``(B, 4 + nc, N)`` with
``cx, cy, w, h`` in input pixels and sigmoid class scores, ``N = Σ (H/s)(W/s)`` over strides 8/16/32
(2100 at 320×320, anchors ordered stride 8 first, row-major, at cell centres ``(i + 0.5)·s``), so every
YOLO decoder reads it. Input: RGB in [0, 1] (no normalisation, as Ultralytics exports).

Layout (written here; Ultralytics is AGPL): a 5-stage strided conv backbone with light CSP blocks
(Wang et al., CSPNet), a top-down + bottom-up neck (FPN, Lin et al.; PAN, Liu et al.) and a decoupled
head per level (separate box and class branches, as YOLOX/YOLOv8). Boxes are regressed as distances
from the anchor point to the four sides in stride units (FCOS, Tian et al.), through softplus so they
stay positive. ~0.3 M parameters. Trained by :mod:`edgeguard.train_persons`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import MODELS

PERSONS_INPUT_SIZE = (320, 320)
PERSONS_STRIDES = (8, 16, 32)
PERSONS_NAMES = ("person",)


class Conv(nn.Sequential):
    """Conv → BatchNorm → SiLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1) -> None:
        pad = k // 2 if k % 2 else (k - s) // 2
        super().__init__(
            nn.Conv2d(cin, cout, k, s, pad, bias=False), nn.BatchNorm2d(cout), nn.SiLU(inplace=True)
        )


class CSPBlock(nn.Module):
    """Split the channels; one half goes through a residual 3×3 pair; concatenate and fuse (CSPNet)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        h = c // 2
        self.split = Conv(c, 2 * h, 1)
        self.m = nn.Sequential(Conv(h, h, 3), Conv(h, h, 3))
        self.fuse = Conv(3 * h, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.split(x).chunk(2, 1)
        return self.fuse(torch.cat([a, b, b + self.m(b)], 1))


class Head(nn.Module):
    """Decoupled head for one level: box branch (4 side distances) and class branch (nc logits)."""

    def __init__(self, c: int, nc: int, hidden: int = 32) -> None:
        super().__init__()
        self.box = nn.Sequential(Conv(c, hidden, 3), nn.Conv2d(hidden, 4, 1))
        self.cls = nn.Sequential(Conv(c, hidden, 3), nn.Conv2d(hidden, nc, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.box(x), self.cls(x)


class PersonDetector(nn.Module):
    """Tiny YOLO-layout detector.

    Shape:
        ``(B, 3, H, W)`` RGB in [0, 1] (H, W multiples of 32; trained at 320) → ``(B, 4 + nc, N)``.
        :meth:`raw` gives what training needs: side distances in pixels ``(B, N, 4)``, class logits
        ``(B, N, nc)``, anchor points ``(N, 2)`` and strides ``(N,)``.
    """

    def __init__(
        self, nc: int = 1, widths: tuple[int, ...] = (24, 48, 64, 96), neck: tuple[int, ...] = (32, 48, 64)
    ) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        n3, n4, n5 = neck
        self.nc = nc
        # 4×4/4 patch stem: the 160² and 80² stages of a YOLO backbone cost most of its CPU time; people
        # start at 24 px tall (≥ 3 cells of the stride-8 grid), so nothing finer is needed
        self.stem = Conv(3, w0, 4, 4)
        self.s3 = nn.Sequential(Conv(w0, w1, 3, 2), CSPBlock(w1))
        self.s4 = nn.Sequential(Conv(w1, w2, 3, 2), CSPBlock(w2))
        self.s5 = nn.Sequential(Conv(w2, w3, 3, 2), CSPBlock(w3))
        self.lat5 = Conv(w3, n4, 1)
        self.td4 = nn.Sequential(Conv(n4 + w2, n4, 1), Conv(n4, n4, 3))
        self.td3 = nn.Sequential(Conv(n4 + w1, n3, 1), Conv(n3, n3, 3))
        self.down3 = Conv(n3, n3, 3, 2)
        self.bu4 = Conv(n3 + n4, n4, 3)
        self.down4 = Conv(n4, n4, 3, 2)
        self.bu5 = Conv(n4 + n4, n5, 3)
        self.heads = nn.ModuleList([Head(n3, nc, 16), Head(n4, nc, 24), Head(n5, nc, 32)])
        self.strides = PERSONS_STRIDES
        for h in self.heads:
            # priors: ~1 % person probability; boxes start ~1.3 strides to each side
            nn.init.constant_(h.cls[-1].bias, -4.6)
            nn.init.constant_(h.box[-1].bias, 1.0)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        p3 = self.s3(self.stem(x))
        p4 = self.s4(p3)
        p5 = self.s5(p4)
        l5 = self.lat5(p5)
        t4 = self.td4(torch.cat([F.interpolate(l5, scale_factor=2.0, mode="nearest"), p4], 1))
        t3 = self.td3(torch.cat([F.interpolate(t4, scale_factor=2.0, mode="nearest"), p3], 1))
        o4 = self.bu4(torch.cat([self.down3(t3), t4], 1))
        o5 = self.bu5(torch.cat([self.down4(o4), l5], 1))
        return [t3, o4, o5]

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        dists, logits, points, strides = [], [], [], []
        for f, head, s in zip(self._features(x), self.heads, self.strides, strict=True):
            b, c = head(f)
            _, _, h, w = f.shape
            dists.append(F.softplus(b).flatten(2) * s)
            logits.append(c.flatten(2))
            ys = (torch.arange(h, dtype=x.dtype, device=x.device) + 0.5) * s
            xs = (torch.arange(w, dtype=x.dtype, device=x.device) + 0.5) * s
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            points.append(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))
            strides.append(torch.full((h * w,), float(s), dtype=x.dtype, device=x.device))
        return (
            torch.cat(dists, 2).transpose(1, 2),
            torch.cat(logits, 2).transpose(1, 2),
            torch.cat(points, 0),
            torch.cat(strides, 0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d, logit, pts, _ = self.raw(x)
        x1y1 = pts - d[..., :2]
        x2y2 = pts + d[..., 2:]
        box = torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], -1)
        return torch.cat([box, logit.sigmoid()], -1).transpose(1, 2)


WEIGHTS = Path(__file__).parent / "weights"


@MODELS.register(
    "persons",
    aliases=("person-detector",),
    summary="tiny anchor-free person detector, YOLOv8 output layout, 320×320, trained on rendered scenes",
    source="edgeguard issue #13; seed 004 (Thys et al.)",
    usage="persons",
    examples=({},),
    default_weights=str(WEIGHTS / "persons.safetensors"),
    input_size=PERSONS_INPUT_SIZE,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    labels=list(PERSONS_NAMES),
    task="detection",
    extra={"stride": max(PERSONS_STRIDES), "strides": list(PERSONS_STRIDES), "layout": "yolov8"},
)
def persons(nc: int = 1) -> PersonDetector:
    """The ``persons`` detector architecture (one class by default)."""
    return PersonDetector(nc)


__all__ = ["PERSONS_INPUT_SIZE", "PERSONS_NAMES", "PERSONS_STRIDES", "PersonDetector", "persons"]
