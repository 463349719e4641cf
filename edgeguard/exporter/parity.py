"""Parity: the exported graph must compute what the torch module computes, on real photographs.

The comparison itself is :func:`edgeguard.engines.compare.compare` (norm-wise relative error
``max|ort − ref| / max|ref|`` over the whole output batch: element-wise relative error is meaningless
for logits near zero). Here it is judged: export fails above the tolerance (1e-4 for fp32).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..engines.base import Engine
from ..engines.compare import OutputDiff, compare
from ..samples import photo_batch


@dataclass
class Parity:
    images: int
    max_abs: float
    max_rel: float
    tolerance: float
    top1_agreement: float

    @property
    def ok(self) -> bool:
        return self.max_rel <= self.tolerance

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def judge(cls, diff: OutputDiff, tolerance: float) -> Parity:
        """The comparator's figures for one output, judged against ``tolerance``."""
        return cls(diff.images, diff.max_abs, diff.max_rel, tolerance, diff.top1_agreement)


def check_engines(reference: Engine, candidate: Engine, x: np.ndarray, tolerance: float) -> Parity:
    """Compare ``candidate`` with ``reference`` on the batch ``x``: the first output, and every further
    output both have by name (a detector's ``adv_score``); the worst error over them is judged."""
    first = reference.outputs[0].name
    names = {s.name for s in candidate.outputs}
    pairs = {first: candidate.outputs[0].name}
    pairs.update({s.name: s.name for s in reference.outputs[1:] if s.name in names})
    diffs = compare(reference, candidate, x, outputs=pairs)
    worst = Parity.judge(diffs[first], tolerance)
    for name in list(pairs)[1:]:
        other = Parity.judge(diffs[name], tolerance)
        worst.max_abs, worst.max_rel = max(worst.max_abs, other.max_abs), max(worst.max_rel, other.max_rel)
    return worst


def check_onnx(
    onnx_path: Path,
    reference: Engine,
    size: tuple[int, int],
    *,
    images: int = 4,
    tolerance: float = 1e-4,
) -> Parity:
    """Run ``onnx_path`` in onnxruntime (CPU) and ``reference`` on the same photos and compare.

    The batch is run as one call (exercising the dynamic batch axis).
    """
    from ..engines.onnxruntime import OnnxRuntimeEngine

    with OnnxRuntimeEngine(onnx_path, provider="cpu") as candidate:
        return check_engines(reference, candidate, photo_batch(images, size), tolerance)
