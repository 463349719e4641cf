"""In-graph NMS: append ONNX ``NonMaxSuppression`` to a YOLO head so the engine outputs final boxes.

The raw head ``(B, 4 + nc, N)`` becomes the end-to-end layout ``(B, max_det, 6)`` = ``x1, y1, x2, y2,
score, class`` sorted by score (rows past the detections are zeros), which TensorRT 10 parses and the
detection decision reads without host NMS. ONNX ``NonMaxSuppression`` keeps a box once per class whose
score passes; Ultralytics (and edgeguard's host NMS) keeps each box only under its best class. So the
other class scores are zeroed first (``OneHot(ArgMax) · scores``): both then agree, which
:func:`edgeguard.exporter.detect_parity.check_nms` verifies on real photographs at export.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError

OUTPUT = "detections"


def add_nms(
    model: Any, *, output: str, classes: int, anchors: int, conf: float, iou: float, max_det: int
) -> Any:
    """Return a copy of ``model`` whose outputs are ``detections`` (B, max_det, 6) instead of ``output``.

    Args:
        model: an ``onnx.ModelProto`` (opset ≥ 11) with a ``(B, 4 + classes, anchors)`` output.
        output: that output's name (removed from the graph outputs; other outputs stay).
        conf, iou, max_det: the thresholds baked into the graph (host ``--conf`` can only raise conf).

    Raises:
        ConfigError: thresholds out of range.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not (0.0 <= conf <= 1.0 and 0.0 <= iou <= 1.0) or max_det < 1:
        raise ConfigError(f"in-graph NMS: conf {conf}, iou {iou} must lie in 0..1 and max_det {max_det} ≥ 1")
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    k = min(max_det, anchors)
    p = "nms/"
    # corners = xywh @ M: x1 = cx - w/2, y1 = cy - h/2, x2 = cx + w/2, y2 = cy + h/2
    to_xyxy = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [-0.5, 0, 0.5, 0], [0, -0.5, 0, 0.5]], np.float32)
    consts = {
        "M": to_xyxy,
        "split": np.array([4, classes], np.int64),
        "depth": np.array(classes, np.int64),
        "onoff": np.array([0, 1], np.float32),
        "max_out": np.array([max_det], np.int64),
        "iou": np.array([iou], np.float32),
        "conf": np.array([conf], np.float32),
        "k": np.array([k], np.int64),
    }
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=17)
    if opset < 13:
        raise ConfigError(f"in-graph NMS needs ONNX opset ≥ 13, the graph has {opset}")
    if opset >= 18:
        consts["axis1"] = np.array([1], np.int64)
    for name, value in consts.items():
        g.initializer.append(numpy_helper.from_array(value, p + name))
    n = helper.make_node
    g.node.extend(
        [
            n("Transpose", [output], [p + "t"], perm=[0, 2, 1]),  # (B, N, 4 + nc)
            n("Split", [p + "t", p + "split"], [p + "xywh", p + "cls"], axis=2),
            n("MatMul", [p + "xywh", p + "M"], [p + "boxes"]),  # (B, N, 4) corners
            n("ArgMax", [p + "cls"], [p + "best"], axis=2, keepdims=0),  # (B, N)
            n("OneHot", [p + "best", p + "depth", p + "onoff"], [p + "hot"], axis=-1),  # (B, N, nc)
            n("Mul", [p + "cls", p + "hot"], [p + "only"]),  # every class but the best scores 0
            n("Transpose", [p + "only"], [p + "scores"], perm=[0, 2, 1]),  # (B, nc, N)
            n(
                "NonMaxSuppression",
                [p + "boxes", p + "scores", p + "max_out", p + "iou", p + "conf"],
                [p + "sel"],
                center_point_box=0,
            ),  # (K, 3): batch, class, box
            # a dense (B, nc, N) map holding the kept boxes' scores, then per box its one kept score
            n("GatherND", [p + "scores", p + "sel"], [p + "sel_scores"]),
            n("ConstantOfShape", [p + "shape"], [p + "zeros"]),
            n("Shape", [p + "scores"], [p + "shape"]),
            n("ScatterND", [p + "zeros", p + "sel", p + "sel_scores"], [p + "kept"]),
            # (B, N); ReduceMax takes its axes as an input from opset 18, as an attribute before
            n("ReduceMax", [p + "kept", p + "axis1"], [p + "box_score"], keepdims=0)
            if opset >= 18
            else n("ReduceMax", [p + "kept"], [p + "box_score"], axes=[1], keepdims=0),
            n("TopK", [p + "box_score", p + "k"], [p + "top", p + "idx"], axis=1, largest=1, sorted=1),
            n("Unsqueeze", [p + "idx", p + "ax2"], [p + "idx3"]),
            n("Expand", [p + "idx3", p + "four"], [p + "idx4"]),
            n("GatherElements", [p + "boxes", p + "idx4"], [p + "top_boxes"], axis=1),  # (B, k, 4)
            n("Cast", [p + "best"], [p + "best_f"], to=TensorProto.FLOAT),
            n("GatherElements", [p + "best_f", p + "idx"], [p + "top_cls"], axis=1),  # (B, k)
            n("Unsqueeze", [p + "top", p + "ax2"], [p + "top3"]),
            n("Unsqueeze", [p + "top_cls", p + "ax2"], [p + "cls3"]),
            n("Concat", [p + "top_boxes", p + "top3", p + "cls3"], [OUTPUT], axis=2),
        ]
    )
    g.initializer.append(numpy_helper.from_array(np.array([2], np.int64), p + "ax2"))
    g.initializer.append(numpy_helper.from_array(np.array([1, 1, 4], np.int64), p + "four"))
    kept = [o for o in g.output if o.name != output]
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", k, 6]), *kept])
    _topological(g)
    return m


def _topological(graph: Any) -> None:
    """Order the nodes so each runs after its inputs exist (ONNX requires it; we appended freely)."""
    have = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    nodes, ordered = list(graph.node), []
    while nodes:
        ready = [x for x in nodes if all(i in have for i in x.input)]
        if not ready:
            raise ConfigError("in-graph NMS: the graph has a cycle or an undefined input")
        for x in ready:
            ordered.append(x)
            have.update(x.output)
            nodes.remove(x)
    del graph.node[:]
    graph.node.extend(ordered)


__all__ = ["OUTPUT", "add_nms"]
