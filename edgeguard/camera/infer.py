"""The camera loop's second stage: run the pipeline (and the comparison engine) on one frame.

Under ``--crop auto`` a classifier sees the source's region of interest (the synthetic drive-by's sign
box); the crop is passed with every pipeline call and the pipeline's own is never changed. With a
comparison engine (``--compare-engine``; the demo's undefended ``signs``) the same view goes through it
too, so the overlay and summary can set the two readings side by side (issue #12).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .channel import Frame
from .sources import Box


def center_box(w: int, h: int, aspect: float) -> Box:
    """The box ``crop='center'`` takes from a ``w``×``h`` frame (same rule as preprocess.crop)."""
    cw, ch = (int(round(h * aspect)), h) if w / h > aspect else (w, int(round(w / aspect)))
    return (w - cw) // 2, (h - ch) // 2, cw, ch


def top_label(decision: dict[str, Any] | None) -> str | None:
    top = (decision or {}).get("top") or []
    return top[0]["label"] if top else None


@dataclass
class Result:
    """One frame after inference: what the overlay, the outputs and the statistics need."""

    frame: Frame
    roi: Box | None
    decision: dict[str, Any]
    timing: dict[str, float]
    latency_ms: float
    escalated: str | None = None
    compare: dict[str, Any] | None = None  # the comparison engine's decision on the same view
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str | None:
        return top_label(self.decision)

    @property
    def flagged(self) -> bool:
        return bool(self.decision.get("flagged", False))


class Inference:
    """Callable stage: ``Frame`` → :class:`Result` (the pipeline, then the comparison engine)."""

    def __init__(self, pipe: Any, compare: Any | None, crop: str | Box, *, auto_roi: bool) -> None:
        self.pipe = pipe
        self.compare = compare
        self.opt_crop = crop
        self.auto_roi = auto_roi
        # passed with every pipeline call; the pipeline's own ``crop`` is never changed from here
        self.crop: str | Box = "resize" if crop == "auto" else crop

    def roi(self, frame: Frame) -> Box | None:
        if self.auto_roi:
            return frame.roi
        if isinstance(self.opt_crop, tuple):
            return self.opt_crop
        if self.opt_crop == "center":
            h, w = frame.image.shape[:2]
            return center_box(w, h, self.pipe.size[1] / self.pipe.size[0])
        return None

    def __call__(self, frame: Frame) -> Result:
        img = frame.image
        roi = self.roi(frame)
        view = img
        if self.auto_roi and roi is not None:
            x, y, w, h = roi
            view = img[y : y + h, x : x + w]
        crop = "resize" if self.auto_roi else self.crop
        result = self.pipe([view], crop=crop)[0]
        latency = (time.perf_counter() - frame.t_capture) * 1e3
        timing = dict(result.timing_ms)
        compare = None
        if self.compare is not None:
            other = self.compare([view], crop=crop)[0]
            compare = other.decision
            timing["compare"] = float(other.timing_ms.get("total", np.nan))
        escalated = result.escalation["stage"] if result.escalation else None
        return Result(frame, roi, result.decision, timing, latency, escalated, compare)

    def warmup(self) -> None:
        """First-call allocation is not latency users see; "resize": a crop box may not fit this frame."""
        for pipe in (self.pipe, self.compare):
            if pipe is None:
                continue
            h, w = pipe.size
            pipe([np.zeros((h, w, 3), np.uint8)], crop="resize")
            pipe.engine.timings_ms.clear()


__all__ = ["Inference", "Result", "center_box", "top_label"]
