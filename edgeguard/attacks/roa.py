"""Rectangular occlusion attack, ROA (Wu, Tong & Vorobeychik, "Defending against physically
realizable attacks on image classification", ICLR'20): the threat model of a sticker, as a rectangle.

One rectangle of a stated size (``height`` × ``width``: a fraction of the image side, or whole
pixels) is put on each image; inside it the pixels are free in [0, 1], outside nothing changes. The
attack has two parts, as in the paper:

1. **Where** — gradient-guided placement. The rectangle's top-left corner runs over a grid with
   ``stride`` pixels (the last position flush with the far edge, so every row and column can be
   covered). One input gradient of the loss ranks the positions by the gradient magnitude inside the
   rectangle (the sum of the per-pixel squared L2 norm over channels: how much the loss can move
   there); the top ``candidates`` positions are then tried exhaustively, each with the rectangle filled
   with mid-grey, and the one with the highest cross-entropy wins. Exhaustive search over all
   positions (what ``candidates`` ≥ the number of positions does) costs ~8× more in the paper's
   setting; with the defaults here on a 64 px sign it is 13 × 13 = 169 forwards against one gradient
   (~3 forwards' worth) + 10 candidate forwards, ~13× more.
2. **What** — the rectangle's contents are optimised by PGD with no norm bound (Madry et al.'s sign
   steps of size ``alpha``, projected only onto the [0, 1] box), from a uniform random start inside
   the rectangle.

Threat model: ``norm="none"`` with ``eps=None``, like ``query-patch`` and ``rp2``: the budget is the
rectangle (the spec states it), not a norm of the perturbation, so the evaluation runner runs it once
per cell instead of per ε. Hand-written: no maintained library ships ROA (ART's and torchattacks'
patch attacks fix the position or learn a universal patch; the authors' code is a research script).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, InputError
from ..registry import ATTACKS
from ._torchattacks import attacking, check_inputs

FILL = 0.5  # the candidates' rectangle content while positions are compared (mid-grey)


def side_px(value: float, n: int) -> int:
    """A rectangle side in pixels: a fraction ``0 < value < 1`` of ``n`` (rounded, at least 1), or
    ``value`` itself when it is a whole number of pixels ≥ 1."""
    return max(1, round(value * n)) if value < 1 else int(value)


def positions(n: int, side: int, stride: int) -> list[int]:
    """Start offsets ``0, stride, 2·stride, …`` of a ``side``-pixel window along ``n`` pixels, the last
    moved flush with the far edge (so the far rows/columns are reachable whatever the stride)."""
    last = n - side
    out = list(range(0, last + 1, stride))
    if out[-1] != last:
        out.append(last)
    return out


@dataclass(frozen=True)
class ROA:
    """Rectangular occlusion attack (see the module docstring). ``height``/``width``: a fraction
    (< 1) of the image side or whole pixels (≥ 1)."""

    name: ClassVar[str] = "roa"
    norm: ClassVar[str] = "none"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = True  # uniform random start inside the rectangle
    eps: ClassVar[float | None] = None

    height: float = 0.25
    width: float = 0.25
    stride: int = 4
    candidates: int = 10
    steps: int = 10
    alpha: float = 0.1

    def spec(self) -> str:
        return (
            f"roa:height={self.height!r},width={self.width!r},stride={self.stride},"
            f"candidates={self.candidates},steps={self.steps},alpha={self.alpha!r}"
        )

    def rectangle(self, height: int, width: int) -> tuple[int, int]:
        """(rows, columns) of the rectangle in an image of ``height`` × ``width`` pixels.

        Raises:
            InputError: a rectangle given in pixels that is larger than the image.
        """
        h, w = side_px(self.height, height), side_px(self.width, width)
        if h > height or w > width:
            raise InputError(f"roa: a {h}x{w} px rectangle does not fit a {height}x{width} image")
        return h, w

    def grid(self, height: int, width: int) -> tuple[list[int], list[int]]:
        """Candidate top edges and left edges of the rectangle."""
        h, w = self.rectangle(height, width)
        return positions(height, h, self.stride), positions(width, w, self.stride)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        check_inputs(x, y)
        x, y = x.detach(), y.detach().long()
        if not len(x):
            return x.clone()
        h, w = self.rectangle(x.shape[2], x.shape[3])
        with attacking(model):
            top, left = self.place(model, x, y)
            return self.fill(model, x, y, top, left, h, w, generator)

    def place(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient-guided position per example: ``(top, left)`` pixel offsets, each ``(B,)`` int64."""
        h, w = self.rectangle(x.shape[2], x.shape[3])
        rows, cols = self.grid(x.shape[2], x.shape[3])
        tops = torch.tensor(rows, device=x.device).repeat_interleave(len(cols))  # row-major positions
        lefts = torch.tensor(cols, device=x.device).repeat(len(rows))
        n_pos = len(tops)
        b = len(x)
        if self.candidates >= n_pos:  # exhaustive: every position is a candidate, no gradient needed
            cand = torch.arange(n_pos, device=x.device).expand(b, n_pos)
        else:
            xg = x.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
            energy = grad.pow(2).sum(1, keepdim=True)  # (B, 1, H, W) per-pixel squared L2 norm
            # window sums at every offset (stride 1), then read at the grid's positions
            sums = F.avg_pool2d(energy, (h, w), stride=1).squeeze(1) * (h * w)  # (B, H-h+1, W-w+1)
            score = sums[:, tops, lefts]  # (B, n_pos)
            cand = score.topk(self.candidates, dim=1).indices  # (B, C)
        c = cand.shape[1]
        loss = torch.empty(b, c, device=x.device)
        rr = torch.arange(x.shape[2], device=x.device).view(1, -1, 1)
        cc = torch.arange(x.shape[3], device=x.device).view(1, 1, -1)
        with torch.no_grad():
            for k in range(c):  # one batch per candidate rank: B forwards each
                t, l_ = tops[cand[:, k]].view(-1, 1, 1), lefts[cand[:, k]].view(-1, 1, 1)
                inside = ((rr >= t) & (rr < t + h) & (cc >= l_) & (cc < l_ + w)).unsqueeze(1)
                trial = torch.where(inside, torch.full_like(x, FILL), x)
                loss[:, k] = F.cross_entropy(model(trial), y, reduction="none")
        best = cand.gather(1, loss.argmax(1, keepdim=True)).squeeze(1)
        return tops[best], lefts[best]

    def fill(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        top: torch.Tensor,
        left: torch.Tensor,
        h: int,
        w: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """PGD on the rectangle's contents (sign steps, [0, 1] box, no norm bound) at ``top``/``left``."""
        rr = torch.arange(x.shape[2], device=x.device).view(1, -1, 1)
        cc = torch.arange(x.shape[3], device=x.device).view(1, 1, -1)
        t, l_ = top.view(-1, 1, 1), left.view(-1, 1, 1)
        inside = ((rr >= t) & (rr < t + h) & (cc >= l_) & (cc < l_ + w)).unsqueeze(1).expand_as(x)
        start = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        adv = torch.where(inside, start, x)
        for _ in range(self.steps):
            adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(adv), y), adv)
            step = (adv.detach() + self.alpha * grad.sign()).clamp(0, 1)
            adv = torch.where(inside, step, x)  # outside: exactly the clean pixels
        return adv.detach()


def _size(key: str, v: Any) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    if not ok or (v >= 1 and v != int(v)):
        raise ConfigError(
            f"roa: {key} must be a fraction of the image side (0 < {key} < 1) or whole pixels (>= 1), "
            f"got {v!r}"
        )
    return float(v)


def _whole(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"roa: {key} must be a whole number >= 1, got {v!r}")
    return v


@ATTACKS.register(
    "roa",
    summary="rectangular occlusion: a sticker-sized rectangle, gradient-guided position, PGD contents",
    usage="roa:size=0.25,stride=4,candidates=10,steps=10",
    source="Wu, Tong & Vorobeychik ICLR'20 (ROA / DOA); PGD contents as Madry et al. ICLR'18",
    realtime=False,
    random=True,
    examples=(
        {"size": 0.5, "stride": 2, "candidates": 3, "steps": 4},
        {"height": 2, "width": 3, "stride": 1, "candidates": 100, "steps": 3, "alpha": 0.2},
    ),
    invalid=(
        {"size": 0},
        {"size": 1.5},
        {"height": -0.1},
        {"width": "x"},
        {"stride": 0},
        {"stride": 1.5},
        {"candidates": 0},
        {"steps": 0},
        {"alpha": 0},
        {"alpha": 1.5},
    ),
    norm="none",
    kind="white-box",
    minimal=False,
)
def roa(
    size: float | None = None,
    height: float | None = None,
    width: float | None = None,
    stride: int = 4,
    candidates: int = 10,
    steps: int = 10,
    alpha: float = 0.1,
) -> ROA:
    """``roa:size=0.25,stride=4,candidates=10,steps=10[,alpha=0.1]``.

    Args:
        size: the side of a square rectangle (sets ``height`` and ``width``; default 0.25).
        height, width: the rectangle's sides, each a fraction in (0, 1) of the image's side or a
            whole number of pixels (≥ 1).
        stride: pixels between candidate positions on the grid.
        candidates: positions tried exhaustively after the gradient ranking (≥ the number of grid
            positions: exhaustive search, no ranking).
        steps: PGD steps on the contents.
        alpha: PGD step size on [0, 1] pixels, in (0, 1].

    Raises:
        ConfigError: a size, stride, count or step size out of range.
    """
    side = 0.25 if size is None else _size("size", size)
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 < alpha <= 1):
        raise ConfigError(f"roa: need 0 < alpha <= 1 (pixels in [0, 1]), got {alpha!r}")
    return ROA(
        side if height is None else _size("height", height),
        side if width is None else _size("width", width),
        _whole("stride", stride),
        _whole("candidates", candidates),
        _whole("steps", steps),
        float(alpha),
    )


__all__ = ["ROA", "positions", "roa", "side_px"]
