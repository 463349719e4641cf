"""The detection decision: YOLO-layout engine outputs → boxes in frame pixels (threshold, NMS, mapping).

Two output layouts are decoded (Ultralytics' contract, which TensorRT/DeepStream users deploy):

* ``(B, 4 + nc, N)`` — YOLOv8/11 raw head: per anchor ``cx, cy, w, h`` in input pixels, then ``nc``
  class scores. Each anchor keeps only its best class; candidates above ``conf`` (at most ``max_nms``
  of them, highest first) go through NMS (class-aware unless ``agnostic``), ``max_det`` survive.
  ``max_nms`` defaults to 1,000, not Ultralytics' 30,000: a frame where all 8,400 anchors of a
  640×640 YOLO pass the threshold then costs ~8 ms on one core instead of ~450 ms
  (benchmarks/detect_decode.py); boxes past the 1,000 best candidates almost never survive NMS.
* ``(B, max_det, 6)`` — end-to-end heads (NMS in the graph, YOLOv10/26 or edgeguard's in-graph NMS
  export): ``x1, y1, x2, y2, score, class`` per row; rows above ``conf`` are kept, no NMS.

The order of operations, the strict ``> conf`` test, the class filter after the best-class choice and
the mapping back through the letterbox follow Ultralytics' ``non_max_suppression`` and
``scale_boxes``, so the boxes equal what its predictor returns on the same ONNX file
(tests/fixtures/ultralytics, generated once outside the project). Deliberate difference: boxes that
are NaN/Inf or have no area (before NMS, or after clipping to the frame) are dropped and counted in
``dropped`` — a broken frame must not stop a camera, and it must not pass silently either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, EngineError
from .letterbox import Geometry
from .manifest import Manifest
from .nms import batched_nms, xywh_to_xyxy
from .registry import DECISIONS

LAYOUTS = "(B, 4 + classes, anchors) as YOLOv8/11 or (B, max_det, 6) as end-to-end heads"


def layout_of(shape: Sequence[int | None], classes: int | None = None) -> str:
    """``"yolo"`` or ``"end2end"`` for an output shape, or raise EngineError naming both layouts.

    A last axis of 6 is the end-to-end layout (as Ultralytics decides), unless the manifest's labels
    say the rows are ``4 + classes`` (a 2-class raw head with 6 anchors is not worth guessing at).
    """
    dims = tuple(shape)
    if len(dims) == 3:
        rows, cols = dims[1], dims[2]
        if cols == 6 and not (classes is not None and rows == 4 + classes):
            return "end2end"
        if classes is not None and rows is not None and rows >= 5 and rows != 4 + classes:
            raise EngineError(
                f"detection output {list(dims)}: {rows} rows are 4 box values + {rows - 4} class scores, "
                f"but the manifest names {classes} labels; the engine and its labels do not match"
            )
        if rows is None or (rows >= 5 and (cols is None or cols >= rows or rows == 4 + (classes or 0))):
            return "yolo"
    raise EngineError(f"detection output of shape {list(dims)} matches neither layout ({LAYOUTS})")


class Detect:
    """A configured detection decision (see :func:`detection`); ``decide(outputs, manifest, geometry)``."""

    takes_geometry = True  # the pipeline passes each frame's Geometry so boxes map back to it

    def __init__(
        self,
        conf: float,
        iou: float,
        agnostic: bool,
        classes: tuple[str | int, ...] | None,
        max_det: int,
        max_nms: int,
        output: str | None,
    ) -> None:
        self.conf, self.iou, self.agnostic = conf, iou, agnostic
        self.classes, self.max_det, self.max_nms, self.output = classes, max_det, max_nms, output
        self._class_ids: dict[tuple[str, ...] | None, np.ndarray | None] = {}

    # -- setup ------------------------------------------------------------------------------------
    def output_name(self, manifest: Manifest, names: Sequence[str]) -> str:
        """The engine output holding the predictions (``output``, else the first non-detector one)."""
        if self.output is not None:
            if names and self.output not in names:
                raise ConfigError(
                    f"detection output {self.output!r} is not an engine output ({', '.join(names)})"
                )
            return self.output
        skip = {manifest.detector.output} if manifest.detector else set()
        for name in (*manifest.outputs, *names):
            if name not in skip and (not names or name in names):
                return name
        raise ConfigError(f"no detection output among the engine outputs ({', '.join(names) or 'none'})")

    def nonfinite_ok(self, manifest: Manifest, names: Sequence[str]) -> frozenset[str]:
        """Outputs whose NaN/Inf rows this decision drops and counts (the pipeline checks the others)."""
        return frozenset({self.output_name(manifest, names)})

    def check(self, manifest: Manifest, outputs: Sequence[Any]) -> None:
        """Check an engine's output specs (``name``, ``shape``) and the class filter before any frame."""
        names = [o.name for o in outputs]
        name = self.output_name(manifest, names)
        for spec in outputs:
            if spec.name == name:
                layout_of(spec.shape, len(manifest.labels) if manifest.labels else None)
        self.class_ids(manifest.labels)

    def class_ids(self, labels: Sequence[str] | None) -> np.ndarray | None:
        """``classes`` as indices (names looked up in ``labels``); ConfigError naming an unknown one."""
        key = tuple(labels) if labels else None
        if key in self._class_ids:
            return self._class_ids[key]
        if self.classes is None:
            ids = None
        else:
            found = []
            for c in self.classes:
                if isinstance(c, str) and not c.isdigit():
                    if not key or c not in key:
                        known = (
                            ", ".join(key[:12]) + (" …" if key and len(key) > 12 else "") if key else "none"
                        )
                        raise ConfigError(f"--classes {c!r}: not a label of this engine (labels: {known})")
                    found.append(key.index(c))
                else:
                    found.append(int(c))
            ids = np.asarray(sorted(set(found)), np.int64)
        self._class_ids[key] = ids
        return ids

    # -- per batch --------------------------------------------------------------------------------
    def __call__(
        self,
        outputs: dict[str, np.ndarray],
        manifest: Manifest,
        geometry: Sequence[Geometry] | None = None,
    ) -> list[dict[str, Any]]:
        name = self.output_name(manifest, list(outputs))
        if name not in outputs:
            raise EngineError(f"the engine returned no output {name!r} (got {', '.join(outputs)})")
        pred = np.asarray(outputs[name])
        labels = manifest.labels or ()
        kind = layout_of(pred.shape, len(labels) if labels else None)
        ids = self.class_ids(labels)
        det = manifest.detector
        scores = outputs.get(det.output) if det else None
        h, w = manifest.input.size
        results = []
        for i in range(pred.shape[0]):
            rows, dropped = (self._raw if kind == "yolo" else self._end2end)(pred[i], ids)
            geo = geometry[i] if geometry is not None and i < len(geometry) else None
            boxes = geo.to_frame(rows[:, :4]) if geo is not None else _clip(rows[:, :4], w, h)
            area_ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            dropped += int((~area_ok).sum())
            res = self._result(boxes[area_ok], rows[area_ok], labels, dropped)
            if scores is not None:
                s = float(np.asarray(scores[i]).reshape(-1)[0])
                res["adv_score"] = s
                res["flagged"] = bool(s > det.threshold)  # type: ignore[union-attr]
            results.append(res)
        return results

    def _raw(self, p: np.ndarray, ids: np.ndarray | None) -> tuple[np.ndarray, int]:
        """One image's ``(4 + nc, N)`` raw head → rows ``x1 y1 x2 y2 score class`` after NMS."""
        cls = p[4:]
        best = cls.max(axis=0)
        dropped = int((~np.isfinite(best)).sum())
        idx = np.flatnonzero(best > self.conf)  # NaN compares False: never a candidate
        label = cls[:, idx].argmax(axis=0)
        if ids is not None:  # the class filter acts on each anchor's best class, as Ultralytics'
            keep = np.isin(label, ids)
            idx, label = idx[keep], label[keep]
        xyxy = xywh_to_xyxy(p[:4, idx].T.astype(np.float32))
        sane = np.isfinite(xyxy).all(axis=1) & (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        dropped += int((~sane).sum())
        idx, label, xyxy = idx[sane], label[sane], xyxy[sane]
        if idx.size > self.max_nms:  # Ultralytics' max_nms: only the highest-scoring candidates
            top = np.argsort(-best[idx], kind="stable")[: self.max_nms]
            idx, label, xyxy = idx[top], label[top], xyxy[top]
        score = best[idx]
        order = batched_nms(xyxy, score, label, self.iou, agnostic=self.agnostic)[: self.max_det]
        rows = np.concatenate([xyxy[order], score[order, None], label[order, None]], axis=1)
        return rows.astype(np.float32), dropped

    def _end2end(self, p: np.ndarray, ids: np.ndarray | None) -> tuple[np.ndarray, int]:
        """One image's ``(max_det, 6)`` end-to-end rows above ``conf`` (then ``max_det``, then classes)."""
        p = p.astype(np.float32)
        finite = np.isfinite(p).all(axis=1)
        below = np.isfinite(p[:, 4]) & ~(p[:, 4] > self.conf)  # a row under the threshold is not a loss
        dropped = int((~finite & ~below).sum())
        keep = finite & (p[:, 4] > self.conf)
        if ids is not None:
            keep &= np.isin(p[:, 5].astype(np.int64), ids)
        p = p[keep][: self.max_det]
        sane = (p[:, 2] > p[:, 0]) & (p[:, 3] > p[:, 1])
        return p[sane], dropped + int((~sane).sum())

    @staticmethod
    def _result(boxes: np.ndarray, rows: np.ndarray, labels: Sequence[str], dropped: int) -> dict[str, Any]:
        out = []
        counts: Counter[str] = Counter()
        f64 = np.float64  # rounded in double: float32 0.9 would print as 0.8999999761581421
        xyxy = np.round(boxes.astype(f64), 3).tolist()
        score, index = np.round(rows[:, 4].astype(f64), 6).tolist(), rows[:, 5].tolist()
        for box, s, j in zip(xyxy, score, index):
            j = int(j)
            label = labels[j] if 0 <= j < len(labels) else str(j)
            counts[label] += 1
            out.append({"xyxy": box, "score": s, "label": label, "index": j})
        return {"boxes": out, "counts": dict(counts), "dropped": dropped}


def _clip(xyxy: np.ndarray, w: int, h: int) -> np.ndarray:
    out = np.array(xyxy, np.float32, copy=True)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out


def parse_classes(value: Any) -> tuple[str | int, ...] | None:
    """``"person,car"`` / ``["person", 2]`` / ``None`` → a tuple of names and indices (ConfigError else)."""
    if value is None:
        return None
    items = (
        value.split(",")
        if isinstance(value, str)
        else list(value)
        if isinstance(value, (list, tuple))
        else None
    )
    if items is None:
        raise ConfigError(f"classes {value!r}: expected names or indices (person,car or 0,2)")
    out: list[str | int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, np.integer)):
            raise ConfigError(f"classes: {item!r} is neither a label nor a class index")
        text = str(item).strip()
        if not text or (text.lstrip("-").isdigit() and int(text) < 0):
            raise ConfigError(f"classes: {item!r} is neither a label nor a class index ≥ 0")
        out.append(int(text) if text.isdigit() else text)
    if not out:
        raise ConfigError("classes: expected at least one label or index")
    return tuple(out)


def _example_outputs(batch: int, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Contract-test outputs: a raw YOLO head (B, 4 + nc, 64) of random anchors on an 8×8 input."""
    rng = np.random.default_rng(0)
    xywh = np.concatenate([rng.uniform(0, 8, (batch, 2, 64)), rng.uniform(1, 4, (batch, 2, 64))], axis=1)
    cls = rng.uniform(0, 1, (batch, len(labels), 64))
    return {"output0": np.concatenate([xywh, cls], axis=1).astype(np.float32)}


@DECISIONS.register(
    "detection",
    summary="YOLO boxes: threshold, NMS, letterbox undone (+ adversarial score and flag with a detector)",
    usage="detection",
    help={
        "conf": "keep boxes whose best class score is above this (Ultralytics' default 0.25)",
        "iou": "NMS: suppress a box overlapping a kept one by more than this IoU (default 0.7)",
        "agnostic": "NMS across classes (default: within each class)",
        "classes": "only these labels or class indices (e.g. person or 0,2)",
        "max_det": "most boxes per image after NMS",
        "max_nms": "most candidates entering NMS, highest scores first (bounds a frame where all pass; "
        "Ultralytics: 30000)",
        "output": "engine output holding the predictions (default: the first that is not a detector's)",
    },
    examples=({}, {"conf": 0.5, "iou": 0.45, "agnostic": True}, {"classes": "class 1,2", "max_det": 5}),
    invalid=({"conf": 1.5}, {"iou": -0.1}, {"max_det": 0}, {"max_nms": 0}, {"classes": ""}),
    example_outputs=_example_outputs,
)
def detection(
    conf: float = 0.25,
    iou: float = 0.7,
    agnostic: bool = False,
    classes: Any = None,
    max_det: int = 300,
    max_nms: int = 1000,
    output: str | None = None,
) -> Detect:
    """Boxes from a YOLO-layout engine output (see the module docstring)."""
    for flag, value in (("--conf", conf), ("--iou", iou)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"{flag} {value!r}: expected a number in 0..1")
    for flag, value in (("--max-det", max_det), ("--max-nms", max_nms)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{flag} {value!r}: expected an integer ≥ 1")
    return Detect(float(conf), float(iou), bool(agnostic), parse_classes(classes), max_det, max_nms, output)


__all__ = ["LAYOUTS", "Detect", "detection", "layout_of", "parse_classes"]
