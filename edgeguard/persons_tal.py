"""Task-aligned assignment and IoU-aware class targets for the ``persons`` detector (stage 3).

Stages 1-2 (:mod:`edgeguard.train_persons`) pick positives by geometry alone, so a person's anchors that
give partial boxes are still trained towards a high score; with NMS at IoU 0.7 those partial boxes and
near-duplicates survive (test precision 10 % at conf 0.25). Task-aligned assignment (Feng et al. 2021,
TOOD; the YOLOv8 assigner) ranks each person's candidate anchors by the alignment metric
``t = score^α · IoU^β`` (α = 1, β = 6), keeps the top ``k`` as positives, and sets each positive's class
target to ``t / max t · max IoU`` of its person, so only the best-localised box scores near its IoU and
the others fall off steeply; every other anchor is a negative with target 0. The class loss is BCE on
these soft targets over all anchors (YOLOv8) normalised by the target sum, so distractors and background
are pushed down at full weight rather than the varifocal ``p²`` down-weighting; the GIoU box loss is
weighted by the target. Written here because the maintained implementation (Ultralytics) is AGPL.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TAL_ALPHA = 1.0
TAL_BETA = 6.0


def _pair_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box ``a (B, N, 4)`` with every box ``b (B, K, 4)`` → ``(B, N, K)``."""
    a, b = a[:, :, None], b[:, None]
    lt, rb = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1) + (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area - inter + 1e-7)


@torch.no_grad()
def task_aligned_targets(
    cand: torch.Tensor, scores: torch.Tensor, pred: torch.Tensor, gt: torch.Tensor, topk: int = 10
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positives ``(B, N)``, the person each anchor regresses ``(B, N)`` and class targets ``(B, N)``.

    ``cand (B, N, K)``: the geometric candidates (anchor j may represent person k); ``scores (B, N)``
    predicted probabilities; ``pred (B, N, 4)`` and ``gt (B, K, 4)`` xyxy boxes.
    """
    iou = _pair_iou(pred, gt).clamp(min=0) * cand  # (B, N, K)
    align = scores[..., None].clamp(min=0) ** TAL_ALPHA * iou**TAL_BETA
    k = min(topk, align.shape[1])
    top = align.topk(k, dim=1).indices  # (B, k, K)
    sel = torch.zeros_like(cand).scatter_(1, top, True) & cand
    # an anchor chosen by two people regresses the one it overlaps most (as the YOLOv8 assigner)
    multi = sel.sum(2) > 1
    best = torch.where(sel, iou, torch.full_like(iou, -1.0)).argmax(2)
    one = F.one_hot(best, sel.shape[2]).bool()
    sel = torch.where(multi[..., None], one & cand, sel)
    fg = sel.any(2)
    idx = sel.float().argmax(2)
    a_sel = align * sel
    norm = iou.mul(sel).amax(1, keepdim=True) / (a_sel.amax(1, keepdim=True) + 1e-9)  # (B, 1, K)
    target = (a_sel * norm).amax(2)
    return fg, idx, target


def tal_loss(
    logit: torch.Tensor,
    pred: torch.Tensor,
    gt: torch.Tensor,
    cand: torch.Tensor,
    ignore: torch.Tensor,
    giou_fn,
    topk: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class loss, box loss and positive count for logits ``(B, N)`` and predicted boxes ``(B, N, 4)``."""
    fg, idx, target = task_aligned_targets(cand, logit.detach().sigmoid(), pred.detach(), gt, topk)
    norm = target.sum().clamp(min=1.0)
    w = (~ignore | fg).float()
    cls = (F.binary_cross_entropy_with_logits(logit, target, reduction="none") * w).sum() / norm
    tgt = torch.gather(gt, 1, idx[..., None].expand(-1, -1, 4))
    _, giou = giou_fn(pred, tgt)
    box = ((1 - giou) * target)[fg].sum() / norm
    return cls, box, fg.sum()


__all__ = ["TAL_ALPHA", "TAL_BETA", "tal_loss", "task_aligned_targets"]
