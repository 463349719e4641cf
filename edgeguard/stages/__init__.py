"""Host stages: non-traceable defenses that run between preprocess and the engine.

``stages.create("tvm", keep=0.1, seed=0)``, ``stages.from_spec("nlm:11_3_4")``, ``stages.names()``,
``stages.REGISTRY`` (entries: traceable False, differentiable False, realtime, random). Every stage
is called as ``stage(batch)`` on a ``(B, 3, H, W)`` float batch in [0, 1] (torch or numpy) and
reports ``stage.last_info``. Attack them with :func:`bpda` (identity backward) and, for the random
ones, :func:`eot_gradient` (Athalye et al. ICML'18).
"""

from __future__ import annotations

from typing import Any

from ..registry import Entry, Registry, params_of
from .base import HostStage, number_shorthand
from .bpda import BPDA, bpda
from .dip import DIP
from .eot import eot_draws, eot_gradient
from .jpeg import JPEG, parse_jpeg_shorthand
from .kmeans import KMeans, parse_kmeans_shorthand
from .nl_means import NLMeans, opencv_has_cuda, parse_nlm_shorthand
from .rof import ROF, rof_denoise
from .tvm import TVM, total_variation_minimize

REGISTRY = Registry("stage")

_HELP = {
    "keep": "probability a pixel is kept, (0, 1]",
    "lam": "TV weight (skimage scale; Guo's λ is 2·lam)",
    "iters": "iterations",
    "weight": "TV weight, skimage denoise_tv_chambolle scale",
    "window": "search window (odd) / DIP plateau window",
    "patch": "patch side (odd)",
    "h": "filter strength on the 0..255 scale (also hColor)",
    "quality": "JPEG quality 1..100",
    "k": "number of colours >= 2",
    "attempts": "k-means restarts",
    "stop": "iters | plateau",
    "budget_s": "wall-time cap per call, seconds",
    "lr": "Adam learning rate",
    "tol": "plateau: relative loss improvement per window",
    "channels": "network channels",
    "scales": "network scales",
    "device": "cpu | cuda",
    "seed": "int for reproducible draws; none = fresh entropy",
}


_short_rof = number_shorthand("rof", "weight", "a TV weight", "rof:0.1 or rof:weight=0.1", integer=False)


def _entry(cls: type[HostStage], function: Any, summary: str, source: str, shorthand: Any = None) -> Entry:
    return Entry(
        cls.name,
        cls,
        function,
        traceable=False,
        differentiable=False,
        realtime=cls.realtime,
        random=cls.random,
        params=params_of(cls.__init__, _HELP),
        shorthand=shorthand,
        summary=summary,
        source=source,
    )


for _e in (
    _entry(
        TVM, total_variation_minimize, "random pixel drop + TV minimisation", "seed 000; Guo et al. ICLR'18"
    ),
    _entry(
        ROF, rof_denoise, "ROF total-variation denoising", "seed 003; Rudin-Osher-Fatemi 1992", _short_rof
    ),
    _entry(
        NLMeans,
        None,
        "OpenCV fast NL-means (FS NLM a_b_c)",
        "seed 003; Xu et al. NDSS'18",
        parse_nlm_shorthand,
    ),
    _entry(JPEG, None, "JPEG re-encoding", "Guo et al. ICLR'18", parse_jpeg_shorthand),
    _entry(KMeans, None, "k-means colour quantisation", "seed 000", parse_kmeans_shorthand),
    _entry(DIP, None, "Deep Image Prior purification", "seed 001; Ulyanov et al. CVPR'18"),
):
    REGISTRY.register(_e)


def names() -> list[str]:
    """Registered stage names, sorted."""
    return REGISTRY.names()


def create(name: str, **params: Any) -> HostStage:
    """Build stage ``name`` with keyword params (validated; ``ConfigError`` on unknown names)."""
    return REGISTRY.create(name, **params)


def from_spec(spec: str) -> HostStage:
    """Build a stage from ``NAME``, ``NAME:SHORTHAND`` or ``NAME:key=value,...``."""
    return REGISTRY.from_spec(spec)


__all__ = [
    "REGISTRY",
    "names",
    "create",
    "from_spec",
    "HostStage",
    "TVM",
    "ROF",
    "NLMeans",
    "JPEG",
    "KMeans",
    "DIP",
    "BPDA",
    "bpda",
    "eot_draws",
    "eot_gradient",
    "total_variation_minimize",
    "rof_denoise",
    "opencv_has_cuda",
]
