"""Boxes on the host: ``xywh → xyxy``, IoU and greedy non-maximum suppression in numpy.

The inference path must not import torch (a Jetson runtime install has none). :func:`nms` runs
OpenCV's ``cv2.dnn.NMSBoxes`` (C++; about 4× faster than numpy on a frame's clustered candidates,
benchmarks/detect_decode.py) and falls back to :func:`nms_numpy` — the same greedy rule written in
numpy — where OpenCV was built without its dnn module. The rule is torchvision's: highest score
first; a box is suppressed when its IoU with a kept box is *greater than* the threshold; equal scores
keep their input order (stable sort). Both equal ``torchvision.ops.nms`` index for index on random
boxes (tests/test_detection.py); OpenCV computes IoU in double precision, so a pair whose IoU is
within ~1e-7 of the threshold could be decided differently from torchvision's float32.

Class-aware NMS uses the offset trick of Ultralytics' ``non_max_suppression`` (every class's boxes are
shifted by ``class × 7680`` so boxes of different classes never overlap), which returns exactly what
per-class NMS returns.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_WH = 7680.0  # Ultralytics' max_wh: larger than any box side, so shifted classes never overlap
_NMS_BOXES = getattr(getattr(cv2, "dnn", None), "NMSBoxes", None)


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """``(…, 4)`` centre x, centre y, width, height → ``x1, y1, x2, y2`` (same dtype)."""
    xywh = np.asarray(xywh)
    out = np.empty_like(xywh)
    half_w, half_h = xywh[..., 2] / 2, xywh[..., 3] / 2
    out[..., 0] = xywh[..., 0] - half_w
    out[..., 1] = xywh[..., 1] - half_h
    out[..., 2] = xywh[..., 0] + half_w
    out[..., 3] = xywh[..., 1] + half_h
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(N, M)`` of ``xyxy`` boxes ``a (N, 4)`` and ``b (M, 4)`` (0 where both are empty)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, highest score first (``torchvision.ops.nms``'s rule).

    OpenCV's implementation when it has one (see the module docstring), else :func:`nms_numpy`.

    Args:
        boxes: ``(N, 4)`` ``x1, y1, x2, y2`` with ``x1 ≤ x2``, ``y1 ≤ y2``, finite.
        scores: ``(N,)`` finite scores.
        iou: suppress a box whose IoU with a kept box is greater than this.

    Returns:
        ``(K,)`` int64 indices into ``boxes``.

    Shape:
        boxes ``(N, 4)``, scores ``(N,)`` → ``(K,)``, ``K ≤ N``.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    # OpenCV drops scores ≤ its threshold, which must be ≥ 0: scores ≤ 0 go the numpy way
    if boxes.shape[0] == 0 or _NMS_BOXES is None or not scores.min() > 0:
        return nms_numpy(boxes, scores, iou)
    xywh = np.empty(boxes.shape, np.float64)
    xywh[:, :2] = boxes[:, :2]
    xywh[:, 2:] = boxes[:, 2:] - boxes[:, :2]
    try:
        keep = _NMS_BOXES(xywh, scores, 0.0, float(iou))  # every score is > 0: all boxes take part
    except cv2.error:  # an OpenCV build that refuses these arguments: the numpy loop gives the same
        return nms_numpy(boxes, scores, iou)
    return np.asarray(keep, np.int64).reshape(-1)


def nms_numpy(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """:func:`nms` in numpy (same arguments and result): the greedy loop, one IoU row per kept box."""
    boxes = np.asarray(boxes, np.float32)
    scores = np.asarray(scores, np.float32)
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    area = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 (two empty boxes) is NaN: kept
            overlap = inter / (area[i] + area[rest] - inter)  # float32 as torchvision computes it
        order = rest[~(overlap > iou)]
    return np.asarray(keep, np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, *, agnostic: bool = False
) -> np.ndarray:
    """NMS within each class (or across classes when ``agnostic``); indices, highest score first."""
    if agnostic or boxes.shape[0] == 0:
        return nms(boxes, scores, iou)
    shifted = np.asarray(boxes, np.float32) + (np.asarray(classes, np.float32) * MAX_WH)[:, None]
    return nms(shifted, scores, iou)


__all__ = ["MAX_WH", "batched_nms", "box_iou", "nms", "nms_numpy", "xywh_to_xyxy"]
