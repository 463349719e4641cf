"""Score one deployed configuration on the scenario's frames: one record per condition × sticker.

Frames: for each condition, ``n`` crops of the stop sign wearing the sticker, rendered with fresh
nuisances (:mod:`edgeguard.eval.driveby`); the nuisance draws depend only on the seed and the
condition, so every sticker and every configuration is scored on the same viewing conditions (paired).
The ``approach``: the camera loop's synthetic drive-by (32 m → 5 m at 0°) with the sticker pasted onto
the sign template, cropped at the sign's ROI as the camera loop does.

Each frame goes through the deployed :class:`~edgeguard.pipeline.Pipeline` one at a time (batch 1, as
a camera runs it) and is timed end to end (preprocess of the BGR crop → host stages → engine →
decision → masking rounds / escalation). A frame is *fooled* when it is read as anything but ``stop``
and not flagged by the detector (a flagged frame is a caught attack: the event fires).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ..camera.synthetic import DriveBy, DriveBySequence
from ..data.templates import render_sign
from ..eval.driveby import frames as render_frames
from ..eval.records import wilson
from .conditions import APPROACH, Condition
from .stickers import Sticker

FACE_PX = 256
APPROACH_SEED_OFFSET = 7919


def face() -> tuple[np.ndarray, np.ndarray]:
    """The stop sign's front view (RGB uint8) and coverage at :data:`FACE_PX`."""
    rgb, mask = render_sign("stop", FACE_PX)
    return np.array(rgb), np.array(mask)


def condition_frames(sticker: Sticker, cond: Condition, index: int, n: int, seed: int) -> list[np.ndarray]:
    """``n`` BGR crops of the stickered sign at ``cond`` (nuisances seeded by ``seed`` and ``index``)."""
    rgb, alpha = face()
    gen = torch.Generator().manual_seed(seed * 1_000_003 + 101 * (index + 1))
    return render_frames(sticker.on_face(rgb, alpha), alpha, cond.geometry(), n, gen)


def approach(sticker: Sticker, n: int, seed: int) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """The drive-by approach: ``n`` full frames (BGR, 640×480) and the sign's ROI in each — the camera
    loop's ``synthetic:stop-sign?sticker=PATH`` source (the sticker pasted on the face as the attack
    composited it, :mod:`edgeguard.camera.sticker_art`)."""
    path = str(sticker.path) if sticker.path is not None else False
    seq = DriveBySequence(DriveBy(frames=n, angles=(0.0,), seed=seed + APPROACH_SEED_OFFSET, sticker=path))
    out, rois = [], []
    for i in range(n):
        frame, roi = seq.render(i)
        out.append(frame)
        rois.append(roi)
    return out, rois


def crop(frame: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = roi
    return np.ascontiguousarray(frame[y : y + h, x : x + w])


def reading(decision: dict[str, Any]) -> int:
    """The class the pipeline decided: double masking's label when masking, else the top-1."""
    masking = decision.get("masking")
    if isinstance(masking, dict) and "index" in masking:
        return int(masking["index"])
    return int(decision["top"][0]["index"])


def run_frames(pipe: Any, crops: list[np.ndarray]) -> list[dict[str, Any]]:
    """Each crop through ``pipe`` alone; per frame: ``index``, ``flagged``, ``certified``, ``ms``."""
    out = []
    for c in crops:
        t0 = time.perf_counter()
        r = pipe([c])[0]
        ms = (time.perf_counter() - t0) * 1e3
        out.append({"index": reading(r.decision), "flagged": r.flagged, "certified": r.certified, "ms": ms})
    return out


def rates(
    per_frame: list[dict[str, Any]], stop: int, target: int | None, certified: list[bool] | None
) -> dict[str, Any]:
    """The record's numbers from per-frame readings (``certified``: per clean frame, certified AND stop)."""
    n = len(per_frame)
    right = sum(f["index"] == stop for f in per_frame)
    fooled = sum(f["index"] != stop and not f["flagged"] for f in per_frame)
    hit = sum(target is not None and f["index"] == target and not f["flagged"] for f in per_frame)
    flagged = sum(bool(f["flagged"]) for f in per_frame)
    out: dict[str, Any] = {
        "n": n,
        "accuracy": right / n if n else float("nan"),
        "accuracy_ci": list(wilson(right, n)),
        "fooled": fooled / n if n else float("nan"),
        "fooled_ci": list(wilson(fooled, n)),
        "targeted_success": hit / n if n and target is not None else None,
        "flagged": flagged / n if n else float("nan"),
        "latency_ms": float(np.mean([f["ms"] for f in per_frame])) if n else None,
        "latency_p95_ms": float(np.percentile([f["ms"] for f in per_frame], 95)) if n else None,
        "certified": None,
        "certified_n": 0,
    }
    if certified is not None:
        out["certified"] = sum(certified) / len(certified) if certified else None
        out["certified_n"] = len(certified)
    return out


def certified_frames(pipe_cert: Any, crops: list[np.ndarray], stop: int) -> list[bool]:
    """Per crop: the double-masking label is ``stop`` and certified (every two-mask prediction stop)."""
    out = []
    for c in crops:
        r = pipe_cert([c])[0]
        out.append(bool(r.certified) and reading(r.decision) == stop)
    return out


def interleaved_latency(pipes: dict[str, Any], crops: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Per configuration: mean / median / p95 ms per frame over ``crops``, the configurations taking
    turns frame by frame, so a shared machine's load changes hit them all alike (the choice of the
    real-time configuration compares these, not the per-cell means measured minutes apart)."""
    times: dict[str, list[float]] = {name: [] for name in pipes}
    for c in crops:
        for name, pipe in pipes.items():
            t0 = time.perf_counter()
            pipe([c])
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {
        name: {
            "mean": float(np.mean(t)),
            "median": float(np.median(t)),
            "p95": float(np.percentile(t, 95)),
            "frames": len(t),
        }
        for name, t in times.items()
        if t
    }


def pooled(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Frames of several conditions pooled (weighted by n) into one record's numbers."""
    n = sum(r["n"] for r in records)

    def mean(key: str, weight: str = "n") -> float | None:
        vals = [(r[key], r[weight]) for r in records if r.get(key) is not None and r[weight]]
        w = sum(k for _, k in vals)
        return sum(v * k for v, k in vals) / w if w else None

    right = round(sum(r["accuracy"] * r["n"] for r in records))
    fooled = round(sum(r["fooled"] * r["n"] for r in records))
    cn = sum(r["certified_n"] for r in records)
    return {
        "n": n,
        "accuracy": right / n,
        "accuracy_ci": list(wilson(right, n)),
        "fooled": fooled / n,
        "fooled_ci": list(wilson(fooled, n)),
        "targeted_success": mean("targeted_success"),
        "flagged": mean("flagged"),
        "latency_ms": mean("latency_ms"),
        "latency_p95_ms": max(r["latency_p95_ms"] for r in records),
        "certified": mean("certified", "certified_n") if cn else None,
        "certified_n": cn,
    }


__all__ = [
    "APPROACH",
    "approach",
    "certified_frames",
    "condition_frames",
    "crop",
    "pooled",
    "rates",
    "reading",
]
