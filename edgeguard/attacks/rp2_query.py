"""Query-only RP2 sticker search: black/white cells of the sticker mask flipped by random search,
scored on the deployed pipeline's outputs over a set of viewing conditions — no gradients.

This is the honest attack on what gradients cannot go through: voting, thresholds, detectors, DIP
(issue 12). The mask (RP2's bars by default) is cut into cells of side ``cell`` (a fraction of the
face); each cell is black or white. Starting from a random sticker, each query flips a random set of
cells — many at first, fewer later, on Square Attack's schedule (Andriushchenko et al. ECCV'20,
:func:`~.query._p_schedule`) — renders the stickered face under ``views`` viewing conditions
(:mod:`~.physical`, drawn once per face so candidates are compared on the same views) and keeps the
flip when it is not worse: first by the share of views won (fooled, or read as the target, and not
flagged by the detector when the model returns ``(logits, adv_score)``), then by the mean margin.
One query is one model call on ``views`` images. Hand-written: no library searches a binary,
printable sticker over physical views (query-patch searches free colours on fixed pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch

from ..errors import ConfigError
from ..registry import ATTACKS
from . import sticker as st
from .physical import Conditions, draw, view
from .query import _p_schedule
from .rp2 import Sticker, detector_penalty, resolve_target, split_output, sticker_margin


def cells(rects: tuple[st.Rect, ...], cell: float) -> tuple[st.Rect, ...]:
    """Each rectangle cut into a grid of cells of side about ``cell`` (at least one per rectangle)."""
    out = []
    for x0, y0, x1, y1 in rects:
        nx, ny = max(1, round((x1 - x0) / cell)), max(1, round((y1 - y0) / cell))
        for i in range(ny):
            for j in range(nx):
                out.append(
                    (
                        x0 + (x1 - x0) * j / nx,
                        y0 + (y1 - y0) * i / ny,
                        x0 + (x1 - x0) * (j + 1) / nx,
                        y0 + (y1 - y0) * (i + 1) / ny,
                    )
                )
    return tuple(out)


@dataclass(frozen=True)
class RP2Query:
    """Random search over the black/white cells of a sticker mask (see the module docstring)."""

    name: ClassVar[str] = "rp2-query"
    norm: ClassVar[str] = "none"
    kind: ClassVar[str] = "query"
    random: ClassVar[bool] = True
    eps: ClassVar[float | None] = None

    mask: str = "bars"
    target: str | None = None
    queries: int = 300
    views: int = 24
    cell: float = 0.05
    p_init: float = 0.3
    tau: float = 0.0
    weight: float = 10.0
    labels: tuple[str, ...] | None = field(default=None, compare=False)
    conditions: Conditions = field(default_factory=Conditions, compare=False)

    def spec(self) -> str:
        target = "" if self.target is None else f",target={self.target}"
        return (
            f"rp2-query:mask={self.mask}{target},queries={self.queries},views={self.views},"
            f"cell={self.cell:g},p_init={self.p_init:g},tau={self.tau:g},weight={self.weight:g}"
        )

    def with_labels(self, labels: list[str] | tuple[str, ...] | None) -> RP2Query:
        made = replace(self, labels=None if labels is None else tuple(labels))
        resolve_target(made.target, made.labels)
        return made

    def _score(self, out: Any, y: torch.Tensor, t: int | None) -> tuple[float, float]:
        logits, score = split_output(out)
        m, won = detector_penalty(*sticker_margin(logits, y, t), score, self.tau, self.weight)
        return 1.0 - float(won.float().mean()), float(m.mean())

    def optimise(
        self,
        model: Any,
        face: torch.Tensor,
        y: torch.Tensor,
        *,
        alpha: torch.Tensor | None = None,
        size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Sticker:
        """One black/white sticker per face, found with at most ``queries`` model calls per face
        (arguments as :meth:`edgeguard.attacks.rp2.RP2.optimise`)."""
        b, _, h, w = face.shape
        size = int(size or h)
        alpha = torch.ones(1, 1, h, w, dtype=face.dtype) if alpha is None else alpha.to(face.dtype)
        t = resolve_target(self.target, self.labels)
        rects = st.parse_mask(self.mask)
        if alpha.min() < 1:
            st.check_on_face(rects, alpha)
        on = (alpha > 0.5).to(face)
        mask = st.rasterise(rects, h, w).to(face) * on
        grid = cells(rects, self.cell)
        cell_masks = torch.cat([st.rasterise((c,), h, w) for c in grid], 1)[0].to(face) * on[0]  # (n, h, w)
        owner = cell_masks.argmax(0)  # each mask pixel's cell (cells tile the mask without overlap)
        n = len(grid)
        colours = torch.zeros(b, 3, h, w, dtype=face.dtype)
        a_rep = alpha.expand(self.views, 1, h, w)
        with torch.no_grad():
            for k in range(b):
                params = draw(self.views, self.conditions, generator)
                yk = y[k : k + 1].expand(self.views)

                def evaluate(bits: torch.Tensor, k: int = k, params: Any = params, yk: Any = yk) -> Any:
                    colour = bits[owner].to(face.dtype).expand(3, h, w)[None]
                    imgs = view(
                        st.composite(face[k : k + 1], colour, mask).expand(self.views, 3, h, w),
                        a_rep,
                        params,
                        size,
                    )
                    return self._score(model(imgs), yk, t), colour

                bits = torch.randint(0, 2, (n,), generator=generator)
                best, colour = evaluate(bits)
                for it in range(1, self.queries):
                    if best[0] == 0.0:
                        break
                    flips = max(1, round(_p_schedule(it, self.queries, self.p_init) * n))
                    cand = bits.clone()
                    idx = torch.randperm(n, generator=generator)[:flips]
                    cand[idx] = 1 - cand[idx]
                    key, c = evaluate(cand)
                    if key <= best:
                        bits, best, colour = cand, key, c
                colours[k] = colour[0]
        return Sticker(mask=mask, colour=colours, rects=rects, history=[])

    def __call__(
        self, model: Any, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Each image of ``x`` taken as a frontal sign face filling the frame (as :class:`RP2`)."""
        return self.optimise(model, x, y, generator=generator).apply(x).clamp(0, 1).detach()


@ATTACKS.register(
    "rp2-query",
    summary="query-only RP2 sticker: random search over black/white cells, scored over viewing conditions",
    usage="rp2-query:mask=bars,target=speed limit 80,queries=300,views=24",
    source="hand-written: RP2's sticker (Eykholt et al. CVPR'18) searched on Square's schedule (ECCV'20)",
    realtime=False,
    random=True,
    examples=({"queries": 20, "views": 4, "cell": 0.25},),
    invalid=(
        {"queries": 0},
        {"views": 0},
        {"cell": 0},
        {"cell": 1.5},
        {"p_init": 0},
        {"mask": "0:0:0:1"},
        {"tau": -1},
    ),
    norm="none",
    kind="query",
    minimal=False,
)
def rp2_query(
    mask: str = "bars",
    target: str | int | None = None,
    queries: int = 300,
    views: int = 24,
    cell: float = 0.05,
    p_init: float = 0.3,
    tau: float = 0.0,
    weight: float = 10.0,
) -> RP2Query:
    """``rp2-query:mask=bars,queries=300,views=24[,target=speed limit 80]``.

    Args:
        mask: as RP2's (``bars``, ``square`` or rectangles ``x0:y0:x1:y1+…``; not ``l1``, which needs
            gradients).
        target: class label or index to reach (``None``: untargeted).
        queries: model calls per face at most (each on ``views`` images).
        views: viewing conditions each candidate is scored on.
        cell: side of a black/white cell as a fraction of the face, in (0, 1].
        p_init: share of cells flipped at the start (Square's schedule shrinks it).
        tau, weight: detector threshold and margin penalty when the model returns ``adv_score``.
    """
    from ._params import real, whole

    made = RP2Query(
        st.mask_spec(st.parse_mask(str(mask))),
        None if target is None else str(target),
        whole("rp2-query", "queries", queries),
        whole("rp2-query", "views", views, hi=512),
        real("rp2-query", "cell", cell, hi=1.0),
        real("rp2-query", "p_init", p_init, hi=1.0),
        real("rp2-query", "tau", tau, closed=True),
        real("rp2-query", "weight", weight, closed=True),
    )
    if made.target is not None and not made.target.strip():
        raise ConfigError("rp2-query: target must be a class label or index")
    return made


__all__ = ["RP2Query", "cells", "rp2_query"]
