"""Export-time parity for detectors on what users act on: the decoded boxes, not only raw tensors.

Raw-tensor parity (``parity.py``) says the graph computes the head the reference computes; a tiny
difference there can still flip a box across ``conf`` or an NMS decision. So a detector export also
decodes both heads with the detection decision on real photographs and requires the same boxes (same
classes, in the same order, within ``px`` pixels and ``score`` in score). With in-graph NMS the same
check compares the host decode of the raw graph with the graph's own end-to-end output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..detection import detection
from ..engines.base import Engine
from ..errors import EngineError
from ..manifest import Manifest
from ..samples import photo_batch


@dataclass(frozen=True)
class BoxParity:
    images: int
    boxes: int
    max_px: float
    max_score: float
    what: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _decode(engine: Engine, x: np.ndarray, manifest: Manifest, conf: float, iou: float) -> list[list[dict]]:
    decide = detection(conf=conf, iou=iou)
    out: list[list[dict]] = []
    for i in range(len(x)):  # one image per call: fixed-batch graphs too
        res = engine(x[i : i + 1])
        out += [r["boxes"] for r in decide(res, manifest)]
    return out


def compare_boxes(
    reference: Engine,
    candidate: Engine,
    manifest: Manifest,
    candidate_manifest: Manifest,
    *,
    images: int,
    conf: float = 0.25,
    iou: float = 0.7,
    px: float = 1.0,
    score: float = 1e-3,
    what: str,
) -> BoxParity:
    """Decode both engines' outputs on ``images`` photos; EngineError when the boxes differ."""
    x = photo_batch(images, manifest.input.size)
    want = _decode(reference, x, manifest, conf, iou)
    got = _decode(candidate, x, candidate_manifest, conf, iou)
    worst_px = worst_s = 0.0
    total = 0
    for i, (a, b) in enumerate(zip(want, got)):
        if [r["index"] for r in a] != [r["index"] for r in b]:
            raise EngineError(
                f"box parity ({what}) failed on photo {i}: {len(b)} boxes {_classes(b)} where the reference "
                f"has {len(a)} {_classes(a)}; the file was not written"
            )
        if a:
            worst_px = max(
                worst_px, float(np.abs(np.array([r["xyxy"] for r in a]) - [r["xyxy"] for r in b]).max())
            )
            worst_s = max(
                worst_s, float(np.abs(np.array([r["score"] for r in a]) - [r["score"] for r in b]).max())
            )
        total += len(a)
    if worst_px > px or worst_s > score:
        raise EngineError(
            f"box parity ({what}) failed: boxes differ by up to {worst_px:.3g} px (limit {px}) and "
            f"{worst_s:.2g} in score (limit {score}); the file was not written"
        )
    return BoxParity(images, total, round(worst_px, 6), round(worst_s, 8), what)


def _classes(boxes: list[dict]) -> str:
    return "[" + ", ".join(str(r["index"]) for r in boxes[:8]) + (" …]" if len(boxes) > 8 else "]")


def check_export(
    tmp: Path, reference: Engine, data: Manifest, images: int, nms: dict[str, Any] | None
) -> tuple[Any, Manifest, list[BoxParity]]:
    """Box parity of the saved raw graph ``tmp`` against ``reference``; with ``nms`` options, append
    in-graph NMS and check it against the host decode. Returns (model or None, manifest, checks)."""
    import dataclasses

    import onnx

    from ..engines.onnxruntime import OnnxRuntimeEngine
    from .nms_graph import OUTPUT, add_nms

    checks = []
    with OnnxRuntimeEngine(tmp, provider="cpu") as raw:
        checks.append(
            compare_boxes(reference, raw, data, data, images=images, what="onnxruntime vs reference")
        )
        if nms is None:
            return None, data, checks
        head = raw.outputs[0]
        anchors = head.shape[2] or nms["max_det"]  # a dynamic anchor count: TopK takes max_det
        classes = len(data.labels) if data.labels else (head.shape[1] or 5) - 4
        model = add_nms(onnx.load(str(tmp)), output=head.name, classes=classes, anchors=anchors, **nms)
        nms_path = tmp.with_name(tmp.stem + ".nms.onnx")
        try:
            onnx.save(model, str(nms_path))
            outputs = (OUTPUT, *[o for o in data.outputs if o != head.name])
            data = dataclasses.replace(data, outputs=outputs)
            with OnnxRuntimeEngine(nms_path, provider="cpu") as graph:
                checks.append(
                    compare_boxes(
                        raw, graph, dataclasses.replace(data, outputs=(head.name,)), data,
                        images=images, conf=nms["conf"], iou=nms["iou"], what="in-graph NMS vs host NMS",
                    )
                )  # fmt: skip
        finally:
            nms_path.unlink(missing_ok=True)
    return model, data, checks


__all__ = ["BoxParity", "check_export", "compare_boxes"]
