"""Feature-squeezing detector (Xu et al., "Feature Squeezing", NDSS'18), built to run inside the engine.

The deployed path ``f`` (fused defenses → normalisation → model) classifies the raw input ``x`` and
each squeezed copy ``s(x)`` (bit-depth reduction, median smoothing, … taken from the defense
registry); the adversarial score is Xu et al.'s joint detector::

    adv_score(x) = max over squeezers s of ‖softmax(f(x)) − softmax(f(s(x)))‖₁   (in [0, 2])

The squeezers act on the *raw* input, before the fused defenses, so a squeezer the engine already
applies scores 0 on every input (``bits=5`` behind a fused ``bits:5``): such a squeezer is refused.
All views run as ONE batched call of ``f`` (concatenated along the batch axis, split afterwards), so
the exported graph holds the model once.

A detector is not a prefix defense (it changes the graph's outputs, not its input), so it has its own
registry, :data:`~edgeguard.registry.DETECTORS`, with spec ``squeeze:bits=4,median=2x2``: each key is
a squeezer (a defense name), each value that defense's shorthand (``bits:4``, ``median:2x2``).
A frame is flagged when its score exceeds τ, the threshold chosen for a false-positive rate on clean
calibration images (:func:`threshold_at_fpr`; the exporter computes it on the engine's own scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..registry import DEFENSES, DETECTORS, Param
from ..spec import format_spec

# The squeezers a spec may name (defenses with a shorthand and a deterministic output). Xu et al.
# squeeze with bit depth and median smoothing; a gaussian blur is the local smoother closest to their
# non-local means that exports to a graph.
SQUEEZERS: tuple[str, ...] = ("bits", "median", "gaussian")


def _shorthand_text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "x".join(str(int(v)) for v in value)
    return str(value)


@DETECTORS.register(
    "squeeze",
    params=(
        Param("bits", None, "bit-depth squeezer: bits kept, 1..8 (e.g. 4)"),
        Param("median", None, "median squeezer: window HxW (e.g. 2x2)"),
        Param("gaussian", None, "gaussian squeezer: sigma in pixels (e.g. 1.0)"),
    ),
    summary="feature squeezing: max L1 distance of softmax(f(x)) and softmax(f(squeezer(x)))",
    usage="squeeze:bits=4,median=2x2",
    source="Xu et al. NDSS'18 (Feature Squeezing)",
    traceable=True,
    differentiable=True,
    examples=({"bits": 4}, {"median": (2, 2)}, {"bits": 4, "median": (2, 2)}, {"gaussian": 1.0}),
    invalid=({}, {"bits": 9}, {"median": (4, 4)}),
)
class Squeezers(nn.Module):
    """The squeezer list of a detector spec: ``views[i]`` is the defense module of ``specs[i]``.

    Args:
        **squeezers: defense name → its shorthand value (``bits=4``, ``median=(2, 2)`` or ``"2x2"``).

    Raises:
        ConfigError: no squeezer, an unknown one, or a parameter the defense refuses.
    """

    def __init__(self, **squeezers: Any) -> None:
        super().__init__()
        if not squeezers:
            raise ConfigError(
                "squeeze: name at least one squeezer, e.g. squeeze:bits=4,median=2x2 "
                f"(squeezers: {', '.join(SQUEEZERS)})"
            )
        specs = []
        for name, value in squeezers.items():
            if name not in SQUEEZERS:
                raise ConfigError(
                    f"squeeze: {name!r} is not a squeezer (squeezers: {', '.join(SQUEEZERS)}; "
                    f"e.g. squeeze:bits=4,median=2x2)"
                )
            specs.append(DEFENSES.canonical(f"{name}:{_shorthand_text(value)}"))
        self.params = dict(squeezers)
        self.specs: tuple[str, ...] = tuple(specs)  # canonical defense specs
        self.keys: tuple[str, ...] = tuple(f"{k}={_shorthand_text(v)}" for k, v in squeezers.items())
        self.views = nn.ModuleList([DEFENSES.from_spec(s) for s in specs])

    def spec(self) -> str:
        """Canonical detector spec (``squeeze:bits=4,median=2x2``)."""
        return format_spec("squeeze", self.params)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [view(x) for view in self.views]


def from_spec(spec: str) -> Squeezers:
    """``squeeze:bits=4,median=2x2`` → :class:`Squeezers` (ConfigError naming what is wrong)."""
    return DETECTORS.from_spec(spec)


class SqueezeDetector(nn.Module):
    """``x`` → ``(logits, adv_score)``: ``f`` on ``x`` and on every squeezed view, in one batched call.

    Args:
        f: the deployed path, ``(B, 3, H, W)`` in [0, 1] → logits ``(B, C)`` (defenses included).
        squeezers: the views, acting on the raw input.

    Shape:
        (B, 3, H, W) → ((B, C), (B,))
    """

    def __init__(self, f: nn.Module, squeezers: Squeezers) -> None:
        super().__init__()
        self.f = f
        self.squeezers = squeezers

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        views = torch.cat([x, *self.squeezers(x)], dim=0)
        out = self.f(views)
        parts = out.reshape(len(self.squeezers.views) + 1, -1, out.shape[-1])
        return parts[0], squeeze_score(parts)


def squeeze_score(parts: torch.Tensor) -> torch.Tensor:
    """Xu et al.'s joint score from ``(1 + k, B, C)`` logits (row 0: the raw input): ``(B,)`` in [0, 2]."""
    p = torch.softmax(parts, dim=-1)
    return (p[1:] - p[:1]).abs().sum(dim=-1).amax(dim=0)


class DetectionSqueeze(nn.Module):
    """``x`` → ``(head, adv_score)`` for a YOLO-layout detector ``f`` (``(B, 4 + nc, N)`` heads).

    Xu et al.'s score adapted to detection (:func:`detection_squeeze_score`): the L1 distance between
    the per-anchor best class score maps of ``x`` and of each squeezed view, the largest over the
    squeezers. All views run as one batched call of ``f``.

    Shape:
        (B, 3, H, W) → ((B, 4 + nc, N), (B,))
    """

    def __init__(self, f: nn.Module, squeezers: Squeezers) -> None:
        super().__init__()
        self.f = f
        self.squeezers = squeezers

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        views = torch.cat([x, *self.squeezers(x)], dim=0)
        out = self.f(views)
        parts = out.reshape(len(self.squeezers.views) + 1, -1, *out.shape[1:])
        return parts[0], detection_squeeze_score(parts)


def detection_squeeze_score(parts: torch.Tensor) -> torch.Tensor:
    """``(1 + k, B, 4 + nc, N)`` heads (row 0: the raw input) → ``(B,)`` scores.

    ``m(v)`` is the per-anchor best class score map (``max`` over the ``nc`` class scores, in [0, 1]);
    the score is ``max over squeezers s of Σ_anchors |m(x) − m(s(x))|``. A hiding patch works by pushing
    the scores of the anchors on the person down with a fragile high-frequency pattern; squeezing
    (bit depth, median) weakens the pattern, so those anchors' scores move back up and the map changes
    far more than on a clean frame (Xu et al.'s argument, on the score map instead of the softmax). The
    box regressions are left out: they move a lot on anchors whose score is near zero, which is noise.
    """
    m = parts[:, :, 4:, :].amax(dim=2)  # (1 + k, B, N)
    return (m[1:] - m[:1]).abs().sum(dim=-1).amax(dim=0)


def refuse_redundant(squeezers: Squeezers, defenses: Sequence[str], size: tuple[int, int] = (32, 32)) -> None:
    """Refuse a squeezer the fused ``defenses`` (canonical specs, in order) already apply.

    The score compares ``f(x)`` with ``f(s(x))`` where ``f`` starts with the defenses ``D``; it is 0 on
    every input when ``D(s(x)) == D(x)``. Two checks:

    * a bit-depth squeezer no coarser than a fused bit depth (``bits=b`` behind ``bits:c``, ``c ≤ b``):
      ``D`` rounds ``s(x)`` back onto its own levels, so ``D(s(x)) = D(x)`` for ``b = c`` and almost
      every pixel for ``b > c`` — such a squeezer measures nothing;
    * any squeezer with ``D(s(x)) == D(x)`` exactly on a probe batch (uniform noise and ramps).

    Raises:
        ConfigError: naming the squeezer, the defense that makes it redundant and what to use instead.
    """
    fused_bits = []
    for d in defenses:
        entry, params = DEFENSES.resolve(d)
        if entry.name == "bits":
            fused_bits.append(entry.factory(**params).bits)
    for key, view in zip(squeezers.keys, squeezers.views):
        if key.startswith("bits=") and fused_bits and view.bits >= min(fused_bits):
            c = min(fused_bits)
            raise ConfigError(
                f"detector squeezer {key} is redundant: the engine already fuses bits:{c}, which rounds "
                f"the squeezed image back onto its own {2**c} levels, so this squeezer scores (almost) 0 "
                f"on every input; use a coarser one (bits < {c}) or another squeezer such as median=2x2"
            )
    if not defenses:
        return
    chain = nn.Sequential(*[DEFENSES.from_spec(s) for s in defenses])
    probe = _probe(size)
    with torch.no_grad():
        plain = chain(probe)
        for key, view in zip(squeezers.keys, squeezers.views):
            if torch.equal(chain(view(probe)), plain):
                raise ConfigError(
                    f"detector squeezer {key} is redundant: the fused defenses {' → '.join(defenses)} "
                    f"already remove everything it changes, so it scores 0 on every input; choose a "
                    f"squeezer the defenses do not already apply"
                )


def _probe(size: tuple[int, int]) -> torch.Tensor:
    """Uniform noise and smooth ramps: inputs on which a non-redundant squeezer changes ``D(x)``."""
    g = torch.Generator().manual_seed(0)
    h, w = size
    noise = torch.rand(4, 3, h, w, generator=g)
    across = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(1, 3, h, w)
    down = torch.linspace(0, 1, h).view(1, 1, h, 1).expand(1, 3, h, w)
    return torch.cat([noise, across, down])


def threshold_at_fpr(scores: np.ndarray | Sequence[float], fpr: float) -> float:
    """τ such that at most a fraction ``fpr`` of ``scores`` is flagged (``score > τ``).

    The ``(1 − fpr)`` empirical quantile taken as an order statistic: with ``n`` scores sorted
    ascending, ``k = ⌊fpr·n⌋`` of them may lie above τ, so τ is the ``(n − 1 − k)``-th one. On held-out
    clean data the flagged fraction is then ``fpr`` within sampling error (its true value is
    Beta(k + 1, n − k) distributed over calibration draws).

    Raises:
        ConfigError: no scores, a non-finite score, or ``fpr`` outside [0, 1).
    """
    s = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    if s.size == 0:
        raise ConfigError("detector calibration: no clean scores to set the threshold from")
    if not np.isfinite(s).all():
        raise ConfigError("detector calibration: a clean score is NaN or Inf; the engine is broken")
    check_fpr(fpr)
    k = int(np.floor(fpr * s.size))
    return float(s[s.size - 1 - k])


def check_fpr(fpr: Any) -> float:
    """``--detector-fpr``: a number in [0, 1)."""
    ok = isinstance(fpr, (int, float)) and not isinstance(fpr, bool) and 0.0 <= float(fpr) < 1.0
    if not ok:
        raise ConfigError(f"--detector-fpr {fpr!r}: expected a false-positive rate in [0, 1), e.g. 0.05")
    return float(fpr)


__all__ = [
    "SQUEEZERS",
    "DetectionSqueeze",
    "SqueezeDetector",
    "Squeezers",
    "check_fpr",
    "detection_squeeze_score",
    "from_spec",
    "refuse_redundant",
    "squeeze_score",
    "threshold_at_fpr",
]
