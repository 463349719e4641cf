"""Average precision for detections (numpy only, no torch): matching, the PR curve, AP and recall.

Matching follows PASCAL VOC / COCO: per image, detections in descending score order each take the
unmatched ground-truth box of highest IoU ≥ ``iou``; a detection that finds none is a false positive.
Ground truth flagged ``ignore`` (heavily occluded people, or people outside a size range) counts
neither as a miss nor, when a detection matches it, as a false alarm (Caltech pedestrians; COCO's
``iscrowd``/area ranges). With a ``size`` range (box height in pixels, e.g. small people < 48 px), GT
outside it is ignored and so are unmatched detections outside it (COCO's area ranges). AP is the area
under the precision envelope at every recall step (VOC 2010+ "all points"), not the 11-point sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Boxes = np.ndarray  # (K, 4) xyxy


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of xyxy boxes (zero-area boxes have IoU 0 with everything)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass
class APResult:
    """``ap``; ``recall``/``precision`` at the lowest score kept; ``n_gt`` counted boxes; ``n_det``
    detections scored (ignored ones excluded); ``curve`` (recall, precision) arrays."""

    ap: float
    recall: float
    precision: float
    n_gt: int
    n_det: int
    curve: tuple[np.ndarray, np.ndarray]


def match_image(
    boxes: Boxes,
    scores: np.ndarray,
    gt: Boxes,
    gt_ignore: np.ndarray | None = None,
    iou: float = 0.5,
    size: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Match one image's detections. Returns ``(scores, is_tp, n_gt)`` of the counted detections."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    ign = np.zeros(len(gt), bool) if gt_ignore is None else np.asarray(gt_ignore, bool).copy()
    if size is not None:
        h = gt[:, 3] - gt[:, 1]
        ign |= (h < size[0]) | (h >= size[1])
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    ious = box_iou(boxes, gt)
    taken = np.zeros(len(gt), bool)
    keep = np.ones(len(boxes), bool)
    tp = np.zeros(len(boxes), bool)
    for d in range(len(boxes)):
        if len(gt) == 0:
            break
        cand = np.where(~ign & ~taken, ious[d], -1.0)
        g = int(np.argmax(cand))
        if cand[g] >= iou:
            taken[g] = tp[d] = True
            continue
        if np.any(ign & (ious[d] >= iou)):  # on an ignored person: neither hit nor false alarm
            keep[d] = False
    if size is not None:
        dh = boxes[:, 3] - boxes[:, 1]
        keep &= tp | ((dh >= size[0]) & (dh < size[1]))
    return scores[keep], tp[keep], int((~ign).sum())


def average_precision(
    detections: Sequence[tuple[Boxes, np.ndarray]],
    ground_truth: Sequence[tuple[Boxes, np.ndarray | None]],
    iou: float = 0.5,
    size: tuple[float, float] | None = None,
) -> APResult:
    """AP over a set of images: ``detections[i] = (boxes, scores)``, ``ground_truth[i] = (boxes, ignore)``."""
    if len(detections) != len(ground_truth):
        raise ValueError(f"{len(detections)} detection lists for {len(ground_truth)} images")
    all_s, all_tp, n_gt = [], [], 0
    for (b, s), (g, ig) in zip(detections, ground_truth, strict=True):
        sc, tp, n = match_image(b, s, g, ig, iou, size)
        all_s.append(sc)
        all_tp.append(tp)
        n_gt += n
    s = np.concatenate(all_s) if all_s else np.zeros(0)
    t = np.concatenate(all_tp) if all_tp else np.zeros(0, bool)
    order = np.argsort(-s, kind="stable")
    t = t[order]
    ctp, cfp = np.cumsum(t), np.cumsum(~t)
    rec = ctp / max(n_gt, 1)
    prec = ctp / np.maximum(ctp + cfp, 1)
    # precision envelope (monotone non-increasing from the right), summed over recall steps
    env = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
    steps = np.diff(np.concatenate([[0.0], rec]))
    ap = float(np.sum(steps * env)) if n_gt else float("nan")
    return APResult(
        ap=ap,
        recall=float(rec[-1]) if len(rec) else 0.0,
        precision=float(prec[-1]) if len(prec) else 1.0,
        n_gt=n_gt,
        n_det=len(t),
        curve=(rec, prec),
    )


__all__ = ["APResult", "average_precision", "box_iou", "match_image"]
