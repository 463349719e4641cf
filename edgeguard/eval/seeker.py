"""ObjectSeeker's certificate: which objects no patch of a given size can hide (Xiang et al., S&P'23).

**Definition** (the paper's Algorithm 2, IoA robustness). Threat: ONE square patch of ``s × s`` pixels
anywhere in the frame (it may stick out of the frame), content arbitrary. An object with ground-truth
box ``g`` and class ``c`` is *certified* for a set of patch locations when, for EVERY location in the
set, the defended detector's output is guaranteed to contain a box ``o`` of class ``c`` with
``IoA(o, g) = |o ∩ g| / |g| > T``. It is checked from the clean frame's masked copies only:

* a masked copy whose masked half contains the whole patch sees the same pixels as on the clean
  frame, so its boxes are the clean ones whatever the patch holds;
* such a copy *recovers* ``g`` when it outputs a box ``b`` of class ``c`` above ``τ_mask`` with
  ``(τ_prune · |b| − |b ∖ g|) / |g| > T``. Then the final output contains either ``b``'s cluster union
  (⊇ ``b``: IoA with ``g`` at least ``|b ∩ g| / |g|``, above the bound) or, when ``b`` was pruned, a
  base box ``B`` with ``|b ∩ B| ≥ τ_prune · |b|``, hence ``|B ∩ g| ≥ τ_prune · |b| − |b ∖ g|``: in both
  cases some output box has ``IoA > T``, whatever the patch did to the base detector;
* a location is *robust* when some copy that masks it recovers ``g``. The masked halves of one side
  are nested (``rows < p`` grows with ``p``), so per side the recovering copies' union is one half-plane
  and a location is robust iff the patch fits in the top half-plane ``rows < R_top``, or the bottom
  ``rows ≥ R_bottom``, or the left, or the right one.

Locations are split as in the paper: *over* (the patch overlaps the object's box), *close* (it
overlaps the box grown by ``offset`` = 10 % of the frame side on each side, but not the box) and *far*
(the rest). Certified recall = the fraction of objects certified for every location of the set. An
over-patch (a patch on the person, as Thys et al.'s) is the hard case: a copy that masks the patch
masks part of the person too. The certificate holds for the engine's input: host stages that mix
pixels (TVM, NL-means) can spread a patch beyond its square and are outside it.

ART's ``ObjectSeekerMixin.certify`` is not this procedure (it checks box geometry only, never the
masked copies), so it is not used as an oracle here; its ``predict`` is, for the inference
(``tests/test_seeker.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..seeker import DEFAULT_PRUNE, SplitSet

DEFAULT_IOA = 0.5  # T: the paper's --certify-ioa-thres default
DEFAULT_OFFSET = 0.1  # the paper's far/close boundary: 10 % of the frame side


def patch_pixels(patch: float, size: tuple[int, int]) -> int:
    """Side in pixels of a square patch covering ``patch²`` of the frame's area (0.1 → 1 %, as the
    paper's default 1 % patch)."""
    return max(1, round(patch * math.sqrt(size[0] * size[1])))


def recovering(
    masked: list[np.ndarray],
    gt: np.ndarray,
    gt_class: np.ndarray,
    *,
    prune: float = DEFAULT_PRUNE,
    ioa: float = DEFAULT_IOA,
    match_class: bool = True,
) -> np.ndarray:
    """``(M, G)`` bool: does copy ``m`` (its rows ``x1 y1 x2 y2 score class`` above τ_mask) recover
    object ``g``?"""
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    out = np.zeros((len(masked), len(gt)), bool)
    area_g = np.prod(np.clip(gt[:, 2:] - gt[:, :2], 0, None), axis=1)
    for m, rows in enumerate(masked):
        rows = np.asarray(rows, np.float64).reshape(-1, 6)
        if not len(rows) or not len(gt):
            continue
        b = rows[:, :4]
        area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
        lt = np.maximum(b[:, None, :2], gt[None, :, :2])
        rb = np.minimum(b[:, None, 2:], gt[None, :, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=2)  # (K, G)
        bound = (prune * area_b[:, None] - (area_b[:, None] - inter)) / np.maximum(area_g[None], 1e-9)
        ok = bound > ioa
        if match_class:
            ok &= rows[:, None, 5] == np.asarray(gt_class).reshape(1, -1)
        out[m] = ok.any(axis=0)
    return out


@dataclass(frozen=True)
class Certificate:
    """One object's certificate for the three location sets (``True``: no such patch can hide it)."""

    far: bool
    close: bool
    over: bool


def certify_objects(
    flags: np.ndarray, gt: np.ndarray, splits: SplitSet, patch_px: int, offset: float = DEFAULT_OFFSET
) -> list[Certificate]:
    """Certificates of the objects ``gt`` (G, 4) given ``flags`` (M, G) from :func:`recovering`.

    Patch locations: top-left corner ``(y0, x0)`` with ``1 − s ≤ y0 ≤ H − 1`` (at least one row in the
    frame), the patch covering rows ``y0 ≤ y < y0 + s``. A box covers the pixel rows
    ``⌊y1⌋ ≤ y < ⌈y2⌉``; the close band adds ``round(offset · H)`` rows (columns alike) on each side.
    """
    h, w = splits.size
    s = int(patch_px)
    ys = np.arange(1 - s, h)
    xs = np.arange(1 - s, w)
    copies = splits.copies()
    off_y, off_x = round(offset * h), round(offset * w)
    out = []
    for g, box in enumerate(np.asarray(gt, np.float64).reshape(-1, 4)):
        rec = flags[:, g]
        ext = {
            "top": max([p for (side, p), f in zip(copies, rec) if f and side == "top"], default=0),
            "bottom": min([p for (side, p), f in zip(copies, rec) if f and side == "bottom"], default=h),
            "left": max([p for (side, p), f in zip(copies, rec) if f and side == "left"], default=0),
            "right": min([p for (side, p), f in zip(copies, rec) if f and side == "right"], default=w),
        }
        row_ok = (ys + s <= ext["top"]) | (ys >= ext["bottom"])
        col_ok = (xs + s <= ext["left"]) | (xs >= ext["right"])
        vulnerable = ~row_ok[:, None] & ~col_ok[None, :]
        y1, y2 = math.floor(box[1]), math.ceil(box[3])
        x1, x2 = math.floor(box[0]), math.ceil(box[2])
        over = ((ys < y2) & (ys + s > y1))[:, None] & ((xs < x2) & (xs + s > x1))[None, :]
        near = ((ys < y2 + off_y) & (ys + s > y1 - off_y))[:, None] & (
            (xs < x2 + off_x) & (xs + s > x1 - off_x)
        )[None, :]
        out.append(
            Certificate(
                far=not bool((vulnerable & ~near).any()),
                close=not bool((vulnerable & near & ~over).any()),
                over=not bool((vulnerable & over).any()),
            )
        )
    return out


__all__ = ["DEFAULT_IOA", "DEFAULT_OFFSET", "Certificate", "certify_objects", "patch_pixels", "recovering"]
