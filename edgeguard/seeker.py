"""Certified masking for detection, host side: ObjectSeeker (Xiang et al., IEEE S&P'23).

A patch can hide an object from a detector (Thys et al. 2019); ObjectSeeker's answer is
*patch-agnostic masking*: ``k`` horizontal and ``k`` vertical split lines cut the frame, and each line
gives two half-images in which one side is filled with a constant. Wherever a patch sits, some of
these ``4k`` masked copies contain none of it, and the vanilla detector sees the object there as it
would on a clean frame. The exported engine evaluates the frame and its ``4k`` copies as ONE batched
call (graph part: :mod:`edgeguard.defenses.seeker`; ``edgeguard export DETECTOR --masking lines=30``);
this module (numpy only: the inference path imports no torch) merges them (the paper's Algorithm 1,
IoA pruning):

1. **base boxes**: the vanilla detector's boxes on the frame (the pipeline's detection decision);
2. **masked boxes**: every copy's boxes above ``masked_conf`` (τ_mask, high: a masked copy sees half a
   scene, so only confident boxes count), NMS within each copy as the vanilla detector does;
3. **pruning**: a masked box ``b`` is dropped when a base box ``B`` of its class covers it,
   ``IoA(b, B) = |b ∩ B| / |b| ≥ prune`` (the object is already detected);
4. **merging**: the remaining masked boxes of each class are clustered (DBSCAN with ``min_samples = 1``
   on the distance ``1 − max(IoA(b, b'), IoA(b', b))``, radius ``eps``) and each cluster becomes the
   union of its boxes (score: the cluster's best);
5. output = base boxes ∪ merged boxes (the merged ones marked ``recovered``).

The certificate (which objects no patch of a given size can hide) is computed from the same masked
copies: :mod:`edgeguard.eval.seeker`.

Geometry: line ``i`` of ``k`` lies at ``⌊i·n/(k+1)⌋`` (``i = 1..k``) along each axis (the positions of
ART's ObjectSeeker; the paper's code uses the stride ``⌈n/(k+1)⌉``, the same lines when ``k+1`` divides
``n``); for each line the four copies are, in order: rows above masked, rows below masked, columns left
masked, columns right masked (the paper's order). ``fill`` (default 0, as the paper and ART, which
multiply by the mask) is the value of masked pixels in the engine's [0, 1] input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import ConfigError
from .manifest import Manifest
from .spec import format_spec, split_spec

OUTPUT = "masked_heads"  # the engine output (edgeguard.defenses.seeker.OUTPUT)
DEFAULT_LINES = 30  # the paper's k: 4·30 = 120 masked copies + the frame
DEFAULT_FILL = 0.0
DEFAULT_MASKED_CONF = 0.8  # the paper's τ_mask (--masked-conf-thres default)
DEFAULT_PRUNE = 0.6  # the paper's τ_ioa (--ioa-prune-thres default)
DEFAULT_EPS = 0.1  # DBSCAN radius of the paper's code and ART
SIDES = ("top", "bottom", "left", "right")
_KEYS = ("lines", "fill", "masked_conf", "prune")


@dataclass(frozen=True)
class SplitSet:
    """The masked copies of an ``(H, W)`` engine input: ``lines`` split lines per axis, 4 copies each."""

    lines: int
    size: tuple[int, int]
    fill: float

    @property
    def count(self) -> int:
        return 4 * self.lines

    def positions(self, axis: int) -> list[int]:
        """Split line positions along ``axis`` (0: rows, 1: columns)."""
        n = self.size[axis]
        return [i * n // (self.lines + 1) for i in range(1, self.lines + 1)]

    def copies(self) -> list[tuple[str, int]]:
        """``(side, position)`` of every copy in engine order: per line, top, bottom, left, right."""
        out = []
        for r, c in zip(self.positions(0), self.positions(1), strict=True):
            out += [("top", r), ("bottom", r), ("left", c), ("right", c)]
        return out

    def rects(self) -> np.ndarray:
        """``(M, 4)`` int64 masked region of every copy: ``y0, y1, x0, x1`` (rows ``y0 ≤ y < y1``)."""
        h, w = self.size
        out = []
        for side, p in self.copies():
            half = {"top": (0, p, 0, w), "bottom": (p, h, 0, w), "left": (0, h, 0, p), "right": (0, h, p, w)}
            out.append(half[side])
        return np.asarray(out, np.int64).reshape(-1, 4)

    def keep(self) -> np.ndarray:
        """``(M, 1, H, W)`` float32: 0 in copy ``i``'s masked half, 1 elsewhere."""
        h, w = self.size
        out = np.ones((self.count, 1, h, w), np.float32)
        for i, (y0, y1, x0, x1) in enumerate(self.rects()):
            out[i, 0, y0:y1, x0:x1] = 0.0
        return out

    def apply(self, x: np.ndarray, index: int) -> np.ndarray:
        """Frame batch ``(B, 3, H, W)`` with copy ``index``'s half filled."""
        y0, y1, x0, x1 = (int(v) for v in self.rects()[index])
        out = np.array(x, np.float32, copy=True)
        out[:, :, y0:y1, x0:x1] = np.float32(self.fill)
        return out

    def spec(self) -> str:
        """Canonical option text (``lines=30,fill=0.0``)."""
        return format_spec("masking", {"lines": self.lines, "fill": self.fill})[len("masking:") :]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "count": self.count}


def split_set(lines: Any, size: tuple[int, int], *, fill: Any = DEFAULT_FILL) -> SplitSet:
    """The split-line geometry for an ``(H, W)`` input.

    Raises:
        ConfigError: ``lines`` not an integer in 1..min(H, W) − 1, or ``fill`` outside [0, 1].
    """
    h, w = size
    top = min(h, w) - 1
    if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= min(top, 256):
        raise ConfigError(
            f"--masking lines={lines!r}: expected the number of split lines per axis, 1..{min(top, 256)} "
            f"(the paper uses 30: 120 masked copies a frame)"
        )
    ok = isinstance(fill, (int, float)) and not isinstance(fill, bool) and math.isfinite(fill)
    if not ok or not 0.0 <= fill <= 1.0:
        raise ConfigError(f"--masking fill={fill!r}: expected the masked pixels' value in [0, 1]")
    return SplitSet(int(lines), (int(h), int(w)), float(fill))


def parse(text: Any, size: tuple[int, int]) -> tuple[SplitSet, SeekerOptions]:
    """``lines=30[,fill=0,masked_conf=0.8,prune=0.6]`` (``--masking`` for a detector) → the geometry
    and the host merge's options."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"--masking {text!r}: expected options such as lines=30 for a detector")
    _, short, params = split_spec(f"masking:{text}")
    if short is not None:
        raise ConfigError(f"--masking {text!r}: expected key=value options such as lines=30")
    unknown = sorted(set(params) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"--masking: {unknown[0]!r} is not an option for a detector (takes {', '.join(_KEYS)}; "
            f"patch= is the classifiers' PatchCleanser geometry)"
        )
    splits = split_set(params.get("lines", DEFAULT_LINES), size, fill=params.get("fill", DEFAULT_FILL))
    opts = SeekerOptions(
        masked_conf=params.get("masked_conf", DEFAULT_MASKED_CONF), prune=params.get("prune", DEFAULT_PRUNE)
    )
    return splits, opts.check()


def options_of(manifest: Manifest) -> SeekerOptions:
    """The host merge options a detection engine's manifest records (the defaults without one)."""
    s = getattr(manifest, "seeker", None)
    return SeekerOptions() if s is None else SeekerOptions(masked_conf=s.masked_conf, prune=s.prune)


def split_set_of(manifest: Manifest) -> SplitSet | None:
    """The split geometry a detection engine's manifest records (``None``: no masked copies)."""
    s = getattr(manifest, "seeker", None)
    if s is None or manifest.task != "detection":
        return None
    return SplitSet(s.lines, tuple(manifest.input.size), s.fill)  # type: ignore[arg-type]


# -- box arithmetic ------------------------------------------------------------------------------------


def box_ioa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` intersection over the area of each box of ``a`` (0 for a zero-area ``a``)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)[:, None]
    return np.where(area > 0, inter / np.where(area > 0, area, 1.0), 0.0)


def prune(masked: np.ndarray, base: np.ndarray, threshold: float, *, match_class: bool = True) -> np.ndarray:
    """Rows ``x1 y1 x2 y2 score class`` of ``masked`` that no base box covers (``IoA ≥ threshold``)."""
    masked = np.asarray(masked, np.float32).reshape(-1, 6)
    base = np.asarray(base, np.float32).reshape(-1, 6)
    if not len(masked) or not len(base):
        return masked
    ioa = box_ioa(masked[:, :4], base[:, :4])
    if match_class:
        ioa = np.where(masked[:, None, 5] == base[None, :, 5], ioa, 0.0)
    return masked[ioa.max(axis=1) < threshold]


def clusters(boxes: np.ndarray, eps: float) -> np.ndarray:
    """Cluster ids (0..K−1, in order of first member) of ``boxes`` (N, 4): DBSCAN, ``min_samples=1``.

    With ``min_samples = 1`` every box is a core point, so DBSCAN's clusters are the connected
    components of the graph linking boxes at distance ``1 − max(IoA(i, j), IoA(j, i)) ≤ eps`` —
    computed here by a flood fill (scikit-learn is not part of the runtime install; the tests check
    the result against ``sklearn.cluster.DBSCAN``).
    """
    n = len(boxes)
    if n == 0:
        return np.zeros(0, np.int64)
    ioa = box_ioa(boxes, boxes)
    near = (1.0 - np.maximum(ioa, ioa.T)) <= eps
    label = np.full(n, -1, np.int64)
    k = 0
    for start in range(n):
        if label[start] >= 0:
            continue
        label[start] = k
        stack = [start]
        while stack:
            i = stack.pop()
            for j in np.flatnonzero(near[i] & (label < 0)):
                label[j] = k
                stack.append(int(j))
        k += 1
    return label


def unionize(rows: np.ndarray, eps: float) -> np.ndarray:
    """Per class, merge each cluster of ``rows`` (``x1 y1 x2 y2 score class``) into its union box."""
    rows = np.asarray(rows, np.float32).reshape(-1, 6)
    out = []
    for c in np.unique(rows[:, 5]):
        sel = rows[rows[:, 5] == c]
        ids = clusters(sel[:, :4], eps)
        for k in range(int(ids.max()) + 1 if len(ids) else 0):
            m = sel[ids == k]
            out.append([*m[:, :2].min(0), *m[:, 2:4].max(0), m[:, 4].max(), c])
    return np.asarray(out, np.float32).reshape(-1, 6)


def clip(rows: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = np.array(rows, np.float32, copy=True).reshape(-1, 6)
    h, w = size
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out


@dataclass(frozen=True)
class SeekerOptions:
    """The host-side merge parameters (the paper's names in brackets)."""

    masked_conf: float = DEFAULT_MASKED_CONF  # [τ_mask] masked boxes kept above this score
    prune: float = DEFAULT_PRUNE  # [τ_ioa] IoA with a base box at which a masked box is dropped
    eps: float = DEFAULT_EPS  # DBSCAN radius on 1 − IoA
    match_class: bool = True  # prune and merge within a class only (the paper's --match-class)

    def check(self) -> SeekerOptions:
        for name in ("masked_conf", "prune", "eps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"--masking {name}={v!r}: expected a number in 0..1")
        return self


def masked_rows(
    heads: np.ndarray, decide: Any, ids: np.ndarray | None, size: tuple[int, int], masked_conf: float
) -> list[np.ndarray]:
    """Each copy's boxes (``x1 y1 x2 y2 score class`` rows, engine pixels, clipped) above ``masked_conf``.

    ``heads``: one frame's ``(M, 4 + nc, N)`` masked heads; ``decide``: the pipeline's
    :class:`~edgeguard.detection.Detect` (its NMS IoU, candidate cap and class filter ``ids`` are
    reused: a masked copy is decoded as the vanilla detector decodes a frame).
    """
    from .detection import Detect

    d = Detect(masked_conf, decide.iou, decide.agnostic, decide.classes, decide.max_det, decide.max_nms, None)
    return [clip(d._raw(np.asarray(h), ids)[0], size) for h in heads]


def merge(base: np.ndarray, masked: Sequence[np.ndarray], opts: SeekerOptions) -> np.ndarray:
    """ObjectSeeker's recovered boxes: masked boxes pruned against ``base``, then unionised per cluster."""
    rows = np.concatenate([np.asarray(m, np.float32).reshape(-1, 6) for m in masked] or [np.zeros((0, 6))])
    kept = prune(rows, base, opts.prune, match_class=opts.match_class)
    if not opts.match_class:  # one pool: merge across classes, keep the class of the best box
        kept = np.concatenate([kept[:, :5], np.zeros((len(kept), 1), np.float32)], axis=1)
    return unionize(kept, opts.eps)


def finish(
    decide: Any,
    manifest: Manifest,
    splits: SplitSet,
    outputs: dict[str, np.ndarray],
    decided: list[dict[str, Any]],
    geometry: Sequence[Any] | None,
    opts: SeekerOptions,
) -> None:
    """Add ObjectSeeker's recovered boxes to each detection decision of the batch (in place).

    Each recovered box is appended to ``boxes`` with ``"recovered": True``; ``counts`` include them;
    ``objectseeker`` says how many masked boxes were found, pruned and merged.
    """
    name = manifest.seeker.output  # type: ignore[union-attr]
    head_name = decide.output_name(manifest, list(outputs))
    labels = manifest.labels or ()
    ids = decide.class_ids(labels)
    size = tuple(manifest.input.size)
    for i, d in enumerate(decided):
        base = clip(decide._raw(np.asarray(outputs[head_name][i]), ids)[0], size)  # type: ignore[arg-type]
        masked = masked_rows(np.asarray(outputs[name][i]), decide, ids, size, opts.masked_conf)  # type: ignore[arg-type]
        found = sum(len(m) for m in masked)
        rec = merge(base, masked, opts)
        geo = geometry[i] if geometry is not None and i < len(geometry) else None
        xyxy = geo.to_frame(rec[:, :4]) if geo is not None else rec[:, :4]
        for box, row in zip(np.round(xyxy.astype(np.float64), 3).tolist(), rec):
            j = int(row[5])
            label = labels[j] if 0 <= j < len(labels) else str(j)
            d["boxes"].append(
                {"xyxy": box, "score": round(float(row[4]), 6), "label": label, "index": j, "recovered": True}
            )
            d.setdefault("counts", {})[label] = d["counts"].get(label, 0) + 1
        d["objectseeker"] = {"masked_boxes": found, "recovered": len(rec), "copies": splits.count}


__all__ = [
    "DEFAULT_LINES",
    "OUTPUT",
    "SIDES",
    "SeekerOptions",
    "SplitSet",
    "box_ioa",
    "clusters",
    "finish",
    "masked_rows",
    "merge",
    "options_of",
    "parse",
    "prune",
    "split_set",
    "split_set_of",
    "unionize",
]
