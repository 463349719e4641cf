"""ONNX graph helpers shared by every export step (trace, compose, lower, quantise, build).

This module imports none of its users (``onnx.py``, ``compose.py``, ``precision.py``,
``quantize.py``, ``tensorrt.py``): it is the bottom of the export package, which is what keeps the
package free of import circles (issue #10). Heavy imports (onnx, onnxslim) stay inside functions.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..errors import ConfigError


def parse_normalize(text: str | None, default: tuple[tuple, tuple]) -> tuple[tuple, tuple] | None:
    """``None``/"default" → default; "none" → no normalisation; "imagenet"; or "m,m,m/s,s,s"."""
    if text is None or text == "default":
        return default
    if text == "none":
        return None
    if text == "imagenet":
        from ..models import IMAGENET_MEAN, IMAGENET_STD

        return IMAGENET_MEAN, IMAGENET_STD
    try:
        m, s = text.split("/")
        mean = tuple(float(v) for v in m.split(","))
        std = tuple(float(v) for v in s.split(","))
    except ValueError:
        mean = std = ()
    if len(mean) != 3 or len(std) != 3 or not all(v > 0 for v in std):
        raise ConfigError(
            f"--normalize {text!r}: expected none, imagenet or MEAN,MEAN,MEAN/STD,STD,STD (std > 0)"
        )
    return mean, std


def op_histogram(model: Any) -> Counter:
    """How many nodes of each op type the graph has (printed after an export)."""
    return Counter(node.op_type for node in model.graph.node)


def simplify(model: Any) -> Any:
    """Fold and clean the graph with onnxslim when it is installed; unchanged otherwise."""
    try:
        import onnxslim
    except ImportError:
        return model
    return onnxslim.slim(model)


def dedupe_opsets(model: Any) -> Any:
    """Keep one ``opset_import`` entry per domain (``""`` and ``"ai.onnx"`` are the same domain).

    ``merge_models`` can leave both spellings of the default domain; onnxruntime's quantiser then
    fails with "Failed to find proper ai.onnx domain".
    """
    best: dict[str, int] = {}
    for op in model.opset_import:
        dom = "" if op.domain == "ai.onnx" else op.domain
        best[dom] = max(best.get(dom, 0), op.version)
    del model.opset_import[:]
    for dom, ver in best.items():
        entry = model.opset_import.add()
        entry.domain, entry.version = dom, ver
    return model


__all__ = ["dedupe_opsets", "op_histogram", "parse_normalize", "simplify"]
