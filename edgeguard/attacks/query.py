"""Query-only attacks: they read logits and nothing else, so they run on any engine — an oracle around
an onnxruntime ``Pipeline`` with its voting, thresholds, detector and purification included. This is
the one honest adaptive attack on parts no gradient can go through (issue 11).

* ``query``: Square Attack (Andriushchenko et al., ECCV 2020), L∞ over the whole image, taken from
  torchattacks 3.5.1 (``torchattacks.Square``, margin loss). It only calls the model forward; we run
  it under ``torch.no_grad()`` and re-project onto the ε-ball (float rounding) afterwards.
* ``query-patch``: random search over the pixels of one fixed rectangle, values anywhere in [0, 1]:
  Sparse-RS's patch update (Croce et al., AAAI 2022) — a random square inside the patch set to a
  random corner of the colour cube, kept if the margin loss drops — with the window shrinking on
  Square's schedule. Hand-written: no library has a query-only attack confined to a given region
  (torchattacks' and ART's Square perturb the whole image; ART's patch attacks need gradients;
  Sparse-RS itself is research code, not a package).

Both take ``queries`` (model calls per input at most; an input stops being queried once it is
misclassified) and draw every random number from the generator argument.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..errors import ConfigError
from ..registry import ATTACKS
from .adapters import as_module, kept_modes
from .seeding import seeded

Model = Callable[[torch.Tensor], torch.Tensor]


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``logit_y − max_{j≠y} logit_j`` per input: negative once misclassified (Carlini-Wagner margin)."""
    true = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return true - others


def _whole(name: str, key: str, v: Any, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ConfigError(f"{name}: {key} must be a whole number >= {lo}, got {v!r}")
    return v


def _real(name: str, key: str, v: Any, lo: float, hi: float, *, open_lo: bool = True) -> float:
    ok = (
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and (lo < v if open_lo else lo <= v)
        and v <= hi
    )
    if not ok:
        raise ConfigError(f"{name}: need {lo:g} {'<' if open_lo else '<='} {key} <= {hi:g}, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class SquareQuery:
    """torchattacks' Square Attack (L∞, margin loss, one restart) inside the ε-ball."""

    name: ClassVar[str] = "query"
    norm: ClassVar[str] = "linf"
    kind: ClassVar[str] = "query"
    random: ClassVar[bool] = True

    eps: float = 8 / 255
    queries: int = 1000
    p_init: float = 0.8

    def spec(self) -> str:
        return f"{self.name}:eps={self.eps!r},queries={self.queries},p_init={self.p_init!r}"

    def __call__(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        import torchattacks

        module = as_module(model)
        with contextlib.redirect_stdout(io.StringIO()):  # "Failed to set device" for parameterless oracles
            attack = torchattacks.Square(
                module, norm="Linf", eps=self.eps, n_queries=self.queries, n_restarts=1, p_init=self.p_init
            )
        attack.set_device(x.device)
        # Square reseeds torch's global generator with its seed: draw that seed from ours, restore after
        with seeded(generator) as seed, torch.no_grad(), kept_modes(module):
            attack.seed = seed
            adv = attack(x.detach(), y)
        return (x + (adv.to(x.dtype) - x).clamp(-self.eps, self.eps)).clamp(0, 1).detach()


@ATTACKS.register(
    "query",
    summary="Square Attack, L∞, logits only: runs through any deployed pipeline (torchattacks)",
    usage="query:eps=8/255,queries=1000",
    source="torchattacks 3.5.1 Square; Andriushchenko et al. ECCV'20",
    realtime=False,
    random=True,
    examples=({"eps": 0.3, "queries": 100},),
    invalid=({"eps": 0}, {"eps": 1.5}, {"queries": 0}, {"queries": 2.5}, {"p_init": 0}, {"eps": "x"}),
    norm="linf",
    kind="query",
    minimal=False,
)
def query(eps: float = 8 / 255, queries: int = 1000, p_init: float = 0.8) -> SquareQuery:
    """``query:eps=8/255,queries=1000``.

    Args:
        eps: L∞ budget on [0, 1] pixels, in (0, 1].
        queries: model calls per input at most.
        p_init: initial fraction of pixels a square covers (Square's schedule shrinks it).
    """
    return SquareQuery(
        _real("query", "eps", eps, 0, 1),
        _whole("query", "queries", queries),
        _real("query", "p_init", p_init, 0, 1),
    )


def _p_schedule(it: int, queries: int, p_init: float) -> float:
    """Square's piecewise-constant schedule (Andriushchenko et al. 2020, for 10 000 queries), rescaled
    to ``queries``: the window's share of the patch halves at fixed fractions of the budget."""
    it = int(it / queries * 10000)
    for k, bound in enumerate((10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)):
        if it <= bound:
            return p_init / 2**k
    return p_init / 2**9


@dataclass(frozen=True)
class PatchQuery:
    """Random search over one rectangle: ``size`` of each side (fraction), at ``top``/``left``
    (fractions of height/width; ``None`` centres it). Pixels outside never change."""

    name: ClassVar[str] = "query-patch"
    norm: ClassVar[str] = "none"
    kind: ClassVar[str] = "query"
    random: ClassVar[bool] = True
    eps: ClassVar[float | None] = None

    size: float = 0.2
    queries: int = 1000
    top: float | None = None
    left: float | None = None
    p_init: float = 0.8

    def spec(self) -> str:
        where = "".join(f",{k}={v!r}" for k, v in (("top", self.top), ("left", self.left)) if v is not None)
        return f"{self.name}:size={self.size!r},queries={self.queries}{where},p_init={self.p_init!r}"

    def region(self, height: int, width: int) -> tuple[slice, slice]:
        """Rows and columns of the patch in an image of ``height`` × ``width``."""
        h, w = max(1, round(self.size * height)), max(1, round(self.size * width))
        r0 = (height - h) // 2 if self.top is None else min(round(self.top * height), height - h)
        c0 = (width - w) // 2 if self.left is None else min(round(self.left * width), width - w)
        return slice(r0, r0 + h), slice(c0, c0 + w)

    def __call__(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        rows, cols = self.region(x.shape[2], x.shape[3])
        b, c = len(x), x.shape[1]
        h, w = rows.stop - rows.start, cols.stop - cols.start
        dev = x.device

        def draw(*shape: int, high: int) -> torch.Tensor:
            return torch.randint(0, high, shape, generator=generator).to(dev)

        # start: vertical stripes, each a random corner of the colour cube (Square's L∞ start, in a patch)
        patch = draw(b, c, 1, w, high=2).to(x.dtype).expand(b, c, h, w).clone()
        adv = x.clone()
        adv[:, :, rows, cols] = patch
        with torch.no_grad():
            best = margin(model(adv), y)
        for it in range(1, self.queries):
            active = (best > 0).nonzero()[:, 0]
            if not len(active):
                break
            s = max(1, min(h, w, round(math.sqrt(_p_schedule(it, self.queries, self.p_init) * h * w))))
            r = draw(len(active), high=h - s + 1)
            q = draw(len(active), high=w - s + 1)
            colour = draw(len(active), c, high=2).to(x.dtype)
            cand = patch[active].clone()
            ii = torch.arange(s, device=dev)
            rr = (r[:, None] + ii)[:, :, None].expand(-1, s, s)
            cc = (q[:, None] + ii)[:, None, :].expand(-1, s, s)
            n = torch.arange(len(active), device=dev)[:, None, None].expand(-1, s, s)
            cand.permute(0, 2, 3, 1)[n, rr, cc] = colour[:, None, None, :].expand(-1, s, s, c)
            trial = x[active].clone()
            trial[:, :, rows, cols] = cand
            with torch.no_grad():
                loss = margin(model(trial), y[active])
            better = loss < best[active]
            keep = active[better]
            patch[keep] = cand[better]
            best[keep] = loss[better]
        adv[:, :, rows, cols] = patch
        return adv.detach()


@ATTACKS.register(
    "query-patch",
    summary="random search over a patch region (values free in [0, 1]), logits only, any pipeline",
    usage="query-patch:size=0.2,queries=500",
    source="hand-written, Sparse-RS patch updates (Croce et al. AAAI'22) on Square's schedule (ECCV'20)",
    realtime=False,
    random=True,
    examples=({"size": 0.5, "queries": 60},),
    invalid=({"size": 0}, {"size": 1.5}, {"queries": 0}, {"top": 1.5}, {"left": -0.1}, {"p_init": 0}),
    norm="none",
    kind="query",
    minimal=False,
)
def query_patch(
    size: float = 0.2,
    queries: int = 1000,
    top: float | None = None,
    left: float | None = None,
    p_init: float = 0.8,
) -> PatchQuery:
    """``query-patch:size=0.2,queries=500[,top=0,left=0]``.

    Args:
        size: each side of the patch as a fraction of the image's, in (0, 1].
        queries: model calls per input at most.
        top, left: the patch's corner as fractions of height/width in [0, 1] (clipped so the patch
            fits); ``None`` centres it.
        p_init: initial share of the patch a random square covers.
    """
    name = "query-patch"
    return PatchQuery(
        _real(name, "size", size, 0, 1),
        _whole(name, "queries", queries),
        None if top is None else _real(name, "top", top, 0, 1, open_lo=False),
        None if left is None else _real(name, "left", left, 0, 1, open_lo=False),
        _real(name, "p_init", p_init, 0, 1),
    )


__all__ = ["PatchQuery", "SquareQuery", "margin", "query", "query_patch"]
