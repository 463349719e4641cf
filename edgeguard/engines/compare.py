"""Compare two engines on the same inputs, output by output (a Polygraphy-style comparator).

Every parity and precision check in edgeguard goes through :func:`compare`: exported graph vs torch
eager, FP16/INT8 graph vs FP32 graph, composed graph vs prefix + original graph. The figures are:

* ``max_abs`` — largest absolute difference over the whole output batch;
* ``max_rel`` — *norm-wise* relative error, ``max|got − ref| / max|ref|``: element-wise relative error
  is meaningless for logits near zero (one logit at 1e-7 would dominate);
* ``top1_agreement`` — fraction of rows whose arg-max agrees, for ``(B, C)`` outputs (1.0 otherwise).

The comparator only measures; the caller owns its thresholds (export parity 1e-4, FP16 1e-2, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import EngineError
from .base import Engine


@dataclass(frozen=True)
class OutputDiff:
    """How one output of the candidate differs from the reference's."""

    name: str
    images: int
    max_abs: float
    max_rel: float
    top1_agreement: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def diff_arrays(ref: np.ndarray, got: np.ndarray, name: str = "output") -> OutputDiff:
    """Compare two output batches shaped ``(B, …)`` with the figures in the module docstring."""
    if ref.shape != got.shape:
        raise EngineError(f"compare: output {name!r} has shape {got.shape}, the reference has {ref.shape}")
    ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
    max_abs = float(np.max(np.abs(ref64 - got64))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref64))) if ref.size else 1.0
    agree = 1.0
    if ref.ndim == 2 and ref.shape[0]:
        agree = float(np.mean(ref.argmax(1) == got.argmax(1)))
    images = int(ref.shape[0]) if ref.ndim else 1
    return OutputDiff(name, images, max_abs, max_abs / max(scale, 1e-12), agree)


def compare(
    reference: Engine,
    candidate: Engine,
    inputs: np.ndarray | Mapping[str, np.ndarray],
    *,
    outputs: Mapping[str, str] | None = None,
) -> dict[str, OutputDiff]:
    """Run both engines on ``inputs`` and compare their outputs.

    Args:
        reference: the engine taken as truth (torch eager, the FP32 graph …).
        candidate: the engine under test.
        inputs: one batch (fed to each engine's single input) or named arrays.
        outputs: reference output name → candidate output name; default: every output name the two
            engines share, in the reference's order.

    Returns:
        One :class:`OutputDiff` per compared output, keyed by the reference's output name, in order.

    Raises:
        EngineError: no output to compare, an output missing from a result, or differing shapes.
        InputError: ``inputs`` do not fit an engine (from the engines' own validation).
    """
    if outputs is None:
        cand_names = {s.name for s in candidate.outputs}
        outputs = {s.name: s.name for s in reference.outputs if s.name in cand_names}
    if not outputs:
        raise EngineError(
            "compare: the engines share no output name (reference: "
            f"{[s.name for s in reference.outputs]}, candidate: {[s.name for s in candidate.outputs]}); "
            "say which outputs to pair"
        )
    ref_out, got_out = reference(inputs), candidate(inputs)
    result = {}
    for ref_name, got_name in outputs.items():
        if ref_name not in ref_out or got_name not in got_out:
            missing = ref_name if ref_name not in ref_out else got_name
            raise EngineError(f"compare: output {missing!r} is missing from an engine's result")
        ref = np.asarray(ref_out[ref_name])
        got = np.asarray(got_out[got_name])
        result[ref_name] = diff_arrays(ref, got, ref_name)
    return result


__all__ = ["OutputDiff", "compare", "diff_arrays"]
