"""Parity: the exported graph must compute what the torch module computes, on real photographs.

Relative error is norm-wise, ``max|ort − ref| / max|ref|`` over the whole output batch: element-wise
relative error is meaningless for logits near zero. Export fails above the tolerance (1e-4 for fp32).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import EngineError
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


def compare(ref: np.ndarray, got: np.ndarray, tolerance: float) -> Parity:
    """Compare two output batches (``(B, …)``) with the norm-wise relative error above."""
    if ref.shape != got.shape:
        raise EngineError(f"parity: output shape {got.shape} differs from the torch output {ref.shape}")
    ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
    max_abs = float(np.max(np.abs(ref64 - got64))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref64))) if ref.size else 1.0
    agree = 1.0
    if ref.ndim == 2 and ref.shape[0]:
        agree = float(np.mean(ref.argmax(1) == got.argmax(1)))
    return Parity(int(ref.shape[0]), max_abs, max_abs / max(scale, 1e-12), tolerance, agree)


def check_onnx(
    onnx_path: Path,
    reference: Callable[[np.ndarray], np.ndarray],
    size: tuple[int, int],
    *,
    images: int = 4,
    tolerance: float = 1e-4,
    input_name: str = "input",
) -> Parity:
    """Run ``onnx_path`` in onnxruntime (CPU) and ``reference`` on the same photos and compare.

    The batch is run as one call (exercising the dynamic batch axis).
    """
    import onnxruntime as ort

    x = photo_batch(images, size)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {input_name: x})[0]
    return compare(reference(x), got, tolerance)
