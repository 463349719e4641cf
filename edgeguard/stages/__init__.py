"""Host stages: non-traceable defenses that run between preprocess and the engine.

``stages.create("tvm", keep=0.1, seed=0)``, ``stages.from_spec("nlm:11_3_4")``, ``stages.names()``,
``stages.REGISTRY`` (entries: traceable False, differentiable False, realtime, random). Every stage
is called as ``stage(batch)`` on a ``(B, 3, H, W)`` float batch in [0, 1] (torch or numpy) and
reports ``stage.last_info``. Attack them with ``edgeguard.attacks.bpda`` (identity backward) and, for
the random ones, ``edgeguard.attacks.eot_gradient`` (Athalye et al. ICML'18); ``stages.bpda``,
``stages.BPDA``, ``stages.eot_draws`` and ``stages.eot_gradient`` still resolve to them, lazily, so
importing ``stages`` never imports ``attacks``.
"""

from __future__ import annotations

from typing import Any

from ..registry import STAGES
from .base import HostStage
from .dip import DIP
from .jpeg import JPEG
from .kmeans import KMeans
from .nl_means import NLMeans, opencv_has_cuda
from .rof import ROF, rof_denoise
from .tvm import TVM, total_variation_minimize

# Each stage registers itself beside its class (``@STAGES.register(...)``, with its shorthand, help
# texts and contract-test examples); adding a stage is adding one module here.
REGISTRY = STAGES


# Moved to edgeguard.attacks (issue 10); resolved on first use so stages/ never imports attacks/.
_MOVED_TO_ATTACKS = {"BPDA": "bpda", "bpda": "bpda", "eot_draws": "eot", "eot_gradient": "eot"}


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_ATTACKS:
        from importlib import import_module

        return getattr(import_module(f"edgeguard.attacks.{_MOVED_TO_ATTACKS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
