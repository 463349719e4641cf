"""The camera loop's last stage: overlay, recording, display, events, snapshots and statistics.

Runs on the main thread (an OpenCV window must), in frame order: class-changed events and the tracker
of detection engines depend on the previous frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import overlay
from .compare import Tally
from .detect import DetectionWatch, draw_boxes
from .infer import Result
from .outputs import Window
from .sources import Box


class Presenter:
    """Callable stage: :class:`~.infer.Result` → drawn, recorded, shown, logged and counted."""

    def __init__(
        self,
        *,
        draw_overlay: bool,
        threshold: float | None,
        recorder: Any,
        window: Window | None,
        snapshots: Any,
        event: Callable[[dict[str, Any]], None],
        stop: Callable[[str], None],
        stats: Any,
        lock: Any,
        watch: DetectionWatch | None,
        auto_roi: bool,
        tally: Tally,
        titles: tuple[str, str] | None = None,
    ) -> None:
        self.draw_overlay = draw_overlay
        self.threshold = threshold
        self.recorder = recorder
        self.window = window
        self.snapshots = snapshots
        self.event = event
        self.stop = stop
        self.stats = stats
        self.lock = lock
        self.watch = watch
        self.auto_roi = auto_roi
        self.tally = tally
        self.titles = titles  # (defended, undefended) panel titles when a comparison engine runs
        self.prev_label: str | None = None

    def __call__(self, r: Result) -> None:
        t0 = time.perf_counter()
        img, decision, label, flagged = r.frame.image, r.decision, r.label, r.flagged
        found = self._detections(img, decision, r.roi, r.frame.index)
        self.tally.add(r)
        if self.draw_overlay:
            self._draw(img, r)
        t1 = time.perf_counter()
        if self.recorder is not None:
            self.recorder.write(img)
        if self.window is not None and not self.window.show(img):
            self.stop("window closed")
        changed = label != self.prev_label
        if flagged or changed:
            kinds = (["flagged"] if flagged else []) + (["class_changed"] if changed else [])
            top = decision.get("top") or []
            record: dict[str, Any] = {
                "event": kinds,
                "frame": r.frame.index,
                "label": label,
                "score": round(top[0]["prob"], 5) if top else None,
                "previous": self.prev_label,
                "adv_score": decision.get("adv_score"),
                "flagged": flagged,
                "escalated": r.escalated,
                "latency_ms": round(r.latency_ms, 3),
                "timing_ms": {k: round(v, 3) for k, v in r.timing.items()},
            }
            if r.compare is not None:
                other = r.compare.get("top") or []
                record["compare_label"] = other[0]["label"] if other else None
            if self.snapshots is not None:
                record["snapshot"] = self.snapshots.save(img, r.frame.index)
            self.event(record)
        for record in found:  # a tracked person vanished while the scene stayed still (seed 004)
            if self.snapshots is not None:
                record["snapshot"] = self.snapshots.save(img, r.frame.index)
            self.event(record)
        self.prev_label = label
        timing = r.timing
        timing["overlay"] = (t1 - t0) * 1e3
        timing["output"] = (time.perf_counter() - t1) * 1e3
        with self.lock:
            self.stats.escalated += int(r.escalated is not None)
            self.stats.add(timing, label, flagged, r.latency_ms)
            self.stats.busy("output", (time.perf_counter() - t0) * 1e3)

    def _draw(self, img: np.ndarray, r: Result) -> None:
        if self.watch is not None:
            draw_boxes(img, r.decision)
        fps_e2e, fps_eng = self.stats.live_fps()
        truth = self.tally.truth
        overlay.draw(
            img,
            r.decision,
            overlay.OverlayInfo(
                fps_e2e=fps_e2e,
                fps_engine=fps_eng,
                timing_ms=r.timing,
                threshold=self.threshold,
                roi=r.roi,
                frame_index=r.frame.index,
                escalated=r.escalated,
                title=self.titles[0] if self.titles else None,
                truth=truth,
            ),
        )
        if self.titles is not None and r.compare is not None:
            note = ""
            if truth is not None:
                f = self.tally.fooled
                n = self.tally.frames
                note = f"fooled so far: undefended {f['undefended']}, defended {f['defended']} / {n}"
            overlay.draw_compare(img, r.compare, self.titles[1], truth, note)

    def _detections(
        self, img: np.ndarray, decision: dict[str, Any], roi: Box | None, index: int
    ) -> list[dict[str, Any]]:
        """Boxes into frame pixels (the pipeline saw the ROI alone under auto), tracks, vanish events."""
        if self.watch is None:
            return []
        if self.auto_roi and roi is not None:
            for b in decision.get("boxes") or []:
                b["xyxy"] = [v + roi[k % 2] for k, v in enumerate(b["xyxy"])]
        return self.watch.update(img, decision, index)


__all__ = ["Presenter"]
