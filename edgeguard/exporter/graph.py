"""ONNX graph helpers shared by every export step (trace, compose, lower, quantise, build).

This module imports none of its users (``onnx.py``, ``compose.py``, ``precision.py``,
``quantize.py``, ``tensorrt.py``): it is the bottom of the export package, which is what keeps the
package free of import circles (issue #10). Heavy imports (onnx, onnxslim) stay inside functions.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from ..errors import ConfigError

MIN_OPSET = 17
# The TorchScript exporter (dynamo=False, see exporter/onnx.py) writes opsets up to this one.
MAX_TORCH_OPSET = 20


def check_opset(opset: object) -> int:
    """``--opset`` as an int in MIN_OPSET..MAX_TORCH_OPSET.

    Raises:
        ConfigError: not an integer or outside the range this torch can write.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_TORCH_OPSET:
        raise ConfigError(
            f"--opset {opset!r}: expected an integer in {MIN_OPSET}..{MAX_TORCH_OPSET} (the opsets "
            f"edgeguard's exporter writes)"
        )
    return opset


MIN_USER_OPSET = 7  # onnx.version_converter lifts graphs from here to the export opset


@functools.cache
def max_opset() -> int:
    """The newest default-domain opset both onnx and this onnxruntime support.

    onnxruntime has no public query for it, so ask it: the newest opset for which a one-node
    Identity graph opens (a few milliseconds, once per process).
    """
    import onnx
    import onnx.helper as oh
    import onnxruntime as ort

    x = oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = oh.make_graph([oh.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # the probe's refusals are expected, not worth printing
    for version in range(onnx.defs.onnx_opset_version(), MAX_TORCH_OPSET, -1):
        model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", version)])
        try:
            ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        except Exception:
            continue
        return version
    return MAX_TORCH_OPSET


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
