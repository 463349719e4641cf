"""Query-only person-hiding patch: random search over printable cells, scored on the deployed outputs.

The honest attack on a detector pipeline that gradients cannot go through (host stages, voting,
thresholds, a squeeze detector fused in the engine). The patch is a grid of ``cells`` × ``cells``
cells, each one ink of :data:`~.sticker.PALETTE` (so it is printable by construction). Starting from
random inks, each query recolours a random set of cells — many at first, fewer later, on Square
Attack's schedule (Andriushchenko et al. ECCV'20, :func:`~.query._p_schedule`) — pastes the candidate
on every person of a fixed set of fitting scenes under conditions drawn once (so candidates are
compared on the same draws, as :mod:`~.rp2_query` does with viewing conditions) and keeps it when the
objective is not worse: the mean over persons of the max person score inside the box (``objective``
as :class:`~.patch.PersonPatch`), plus ``weight · relu(adv_score − tau)`` when the model returns the
squeeze detector's score. One query is one model call on the fitting scenes; the model is only ever
called under ``torch.no_grad()``. Hand-written: no library searches a printable patch worn by people
through a detector's outputs (``query-patch`` searches free colours on fixed pixels of a classifier).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..registry import ATTACKS
from . import sticker as st
from .patch import OBJECTIVES, PatchResult, PersonPatch, flatten_targets
from .patch_eot import PatchConditions, draw, recolour
from .patch_place import DEFAULT_SCALE, check_scale, paste, torso_squares
from .query import _p_schedule


@dataclass(frozen=True)
class PatchQuery(PersonPatch):
    """Random search over the patch's ink cells (see the module docstring)."""

    name: ClassVar[str] = "patch-query"
    kind: ClassVar[str] = "query"

    queries: int = 300
    cells: int = 8
    scenes: int = 16
    p_init: float = 0.3

    def spec(self) -> str:
        return (
            f"patch-query:scale={self.scale:g},size={self.size},queries={self.queries},cells={self.cells},"
            f"scenes={self.scenes},p_init={self.p_init:g},objective={self.objective},"
            f"person_class={self.person_class},tau={self.tau:g},weight={self.weight:g}"
        )

    def render(self, inks: torch.Tensor) -> torch.Tensor:
        """``(3, size, size)`` patch of a ``(cells, cells)`` grid of ink indices (nearest upsampling)."""
        colour = st.PALETTE[inks].permute(2, 0, 1)[None]  # (1, 3, c, c)
        return F.interpolate(colour, size=(self.size, self.size), mode="nearest")[0]

    def optimise(
        self,
        model: Callable[[torch.Tensor], Any],
        images: torch.Tensor,
        boxes: Sequence[torch.Tensor],
        generator: torch.Generator | None = None,
        *,
        heights: Sequence[torch.Tensor] | None = None,
        log: Callable[[int, float], None] | None = None,
    ) -> PatchResult:
        """Search one patch with at most ``queries`` model calls, each on up to ``scenes`` images with
        people (chosen once from ``images``).

        Raises:
            InputError: no image has a person box.
        """
        if len(boxes) != len(images):
            raise InputError(f"patch-query: {len(boxes)} box lists for {len(images)} images")
        usable = [i for i, b in enumerate(boxes) if torch.as_tensor(b).numel()]
        if not usable:
            raise InputError("patch-query: no image has a person box to put the patch on")
        order = torch.randperm(len(usable), generator=generator)[: self.scenes]
        sel = [usable[int(k)] for k in order]
        bx = [torch.as_tensor(boxes[i], dtype=torch.float32).reshape(-1, 4) for i in sel]
        hs = None if heights is None else [heights[i] for i in sel]
        flat, index, tall = flatten_targets(bx, hs)
        x = images[sel]
        params = draw(len(flat), self.conditions, generator)  # common random numbers for every query
        squares = torso_squares(flat, self.scale, tall)
        k = len(st.PALETTE)

        def evaluate(inks: torch.Tensor) -> float:
            worn = paste(x, recolour(self.render(inks), params), squares, index, flat, params["rotation"])
            with torch.no_grad():
                return float(self.loss(model(worn.clamp(0, 1)), flat, index))

        n = self.cells * self.cells
        inks = torch.randint(0, k, (self.cells, self.cells), generator=generator)
        with torch.no_grad():
            best = evaluate(inks)
            history = [best]
            for it in range(1, self.queries):
                m = max(1, round(_p_schedule(it, self.queries, self.p_init) * n))
                cand = inks.clone().reshape(-1)
                idx = torch.randperm(n, generator=generator)[:m]
                cand[idx] = torch.randint(0, k, (m,), generator=generator)
                cand = cand.reshape(self.cells, self.cells)
                value = evaluate(cand)
                if value <= best:
                    inks, best = cand, value
                history.append(best)
                if log is not None:
                    log(it, best)
        return PatchResult(patch=self.render(inks), logits=inks, history=history)

    def fit(
        self, model: Callable[[torch.Tensor], Any], x: torch.Tensor, y: Sequence[torch.Tensor],
        generator: torch.Generator | None = None,
    ) -> None:  # fmt: skip
        """Search the universal patch on ``(x, y)`` (outputs only)."""
        self._fitted["patch"] = self.optimise(model, x, y, generator).patch


@ATTACKS.register(
    "patch-query",
    summary="query-only printable person-hiding patch: random search over ink cells on the deployed outputs",
    usage="patch-query:scale=0.25,queries=300,scenes=16",
    source="hand-written: Thys et al.'s patch (CVPRW'19) searched on Square's schedule (ECCV'20)",
    realtime=False,
    random=True,
    examples=({"queries": 6, "scenes": 2, "cells": 4, "size": 16},),
    invalid=(
        {"queries": 0},
        {"cells": 0},
        {"cells": 64, "size": 32},
        {"scenes": 0},
        {"p_init": 0},
        {"scale": 2},
        {"objective": "x"},
    ),
    norm="none",
    kind="query",
    minimal=False,
    task="detection",
)
def patch_query(
    scale: float = DEFAULT_SCALE,
    size: int = 48,
    queries: int = 300,
    cells: int = 8,
    scenes: int = 16,
    p_init: float = 0.3,
    objective: str = "person",
    person_class: int = 0,
    tau: float = 0.0,
    weight: float = 10.0,
) -> PatchQuery:
    """``patch-query:scale=0.25,queries=300,scenes=16``.

    Args:
        scale: patch side as a fraction of the person's height, in (0, 1].
        size: patch resolution in pixels; cells: cells per side (each one ink), 1..size.
        queries: model calls at most (each on ``scenes`` fitting images).
        scenes: fitting images per call.
        p_init: share of cells recoloured at the start (Square's schedule shrinks it).
        objective, person_class, tau, weight: as ``patch``.
    """
    from ._params import choice, real, whole

    name = "patch-query"
    size_ = whole(name, "size", size, lo=4, hi=512)
    return PatchQuery(
        scale=check_scale(scale, name),
        size=size_,
        objective=choice(name, "objective", objective, OBJECTIVES),
        person_class=whole(name, "person_class", person_class, lo=0),
        tau=real(name, "tau", tau, lo=float("-inf"), closed=True),
        weight=real(name, "weight", weight, closed=True),
        conditions=PatchConditions(),
        queries=whole(name, "queries", queries),
        cells=whole(name, "cells", cells, hi=size_),
        scenes=whole(name, "scenes", scenes, hi=1024),
        p_init=real(name, "p_init", p_init, hi=1.0),
    )


__all__ = ["PatchQuery", "patch_query"]
