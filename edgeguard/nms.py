"""Boxes on the host: ``xywh → xyxy``, IoU and greedy non-maximum suppression in numpy.

The inference path must not import torch (a Jetson runtime install has none), so NMS here is numpy.
It is hand-written because neither runtime dependency offers a drop-in equal to
``torchvision.ops.nms``: ``cv2.dnn.NMSBoxes`` takes ``(x, y, w, h)`` lists, filters by a score
threshold of its own and was no faster on clustered detections (benchmarks/detect_decode.py). The
rule is torchvision's: highest score first; a box is suppressed when its IoU with a kept box is
*greater than* the threshold; boxes with equal scores keep their input order (stable sort).

Class-aware NMS uses the offset trick of Ultralytics' ``non_max_suppression`` (every class's boxes are
shifted by ``class × 7680`` so boxes of different classes never overlap), which returns exactly what
per-class NMS returns.
"""

from __future__ import annotations

import numpy as np

MAX_WH = 7680.0  # Ultralytics' max_wh: larger than any box side, so shifted classes never overlap


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

    Args:
        boxes: ``(N, 4)`` ``x1, y1, x2, y2`` with ``x1 ≤ x2``, ``y1 ≤ y2``, finite.
        scores: ``(N,)`` finite scores.
        iou: suppress a box whose IoU with a kept box is greater than this.

    Returns:
        ``(K,)`` int64 indices into ``boxes``.

    Shape:
        boxes ``(N, 4)``, scores ``(N,)`` → ``(K,)``, ``K ≤ N``.
    """
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


__all__ = ["MAX_WH", "batched_nms", "box_iou", "nms", "xywh_to_xyxy"]
