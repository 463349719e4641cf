"""What the camera loop does with detections: tracks, per-class counts, boxes drawn, vanishing people.

Seed 004 (Thys et al. 2019): a printed patch makes a person detector lose a person who is still
there. On a fixed camera that has a signature: a person tracked for a while disappears while the
scene is otherwise static (nothing moved enough to carry them out of view) and away from the frame
border. :class:`DetectionWatch` keeps a :class:`~edgeguard.camera.tracker.ByteTracker` over the boxes
and fires a ``track_vanished`` event for such a track; ``flagged`` events (adversarial score above τ)
come from the loop as for classification.

Scene motion is the mean absolute difference of consecutive frames at 64×36 grey (cheap, and blind to
sensor noise at that scale); "static" = its median over the frames since the track was last seen is
at most ``static_motion`` grey levels (the median ignores the one frame where a patch appears).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

import cv2
import numpy as np

from .overlay import FONT, RED, short
from .tracker import ByteTracker, Track

PALETTE = [(80, 200, 80), (0, 170, 255), (255, 120, 40), (200, 80, 200), (40, 220, 220), (160, 160, 255)]


class DetectionWatch:
    """Per-run detection state of the camera loop.

    Args:
        labels: the engine's labels (class index → name).
        watch: labels whose vanishing is an event (default: ``person`` when the engine has it, else all).
        min_hits: frames a track must have been seen before its vanishing counts.
        vanish_after: frames without a match after which a watched track has vanished.
        static_motion: most mean grey-level change per frame for the scene to count as static.
        border: a track whose last box came within this fraction of the frame edge left; not vanished.
    """

    def __init__(
        self,
        labels: tuple[str, ...] | None,
        *,
        watch: tuple[str, ...] | None = None,
        min_hits: int = 5,
        vanish_after: int = 3,
        static_motion: float = 2.0,
        border: float = 0.03,
    ) -> None:
        self.labels = labels or ()
        if watch is None:
            watch = ("person",) if "person" in self.labels else None
        self.watch = None if watch is None else {self.labels.index(w) for w in watch if w in self.labels}
        self.min_hits, self.vanish_after = min_hits, vanish_after
        self.static_motion, self.border = static_motion, border
        self.tracker = ByteTracker()
        self.objects: Counter[str] = Counter()  # boxes per class over the run
        self.dropped = 0
        self.vanished = 0
        self._prev: np.ndarray | None = None
        self._motion: deque[float] = deque(maxlen=256)
        self._reported: set[int] = set()

    def _scene_motion(self, frame: np.ndarray) -> float:
        small = cv2.cvtColor(cv2.resize(frame, (64, 36), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        small = small.astype(np.float32)
        motion = float(np.abs(small - self._prev).mean()) if self._prev is not None else 0.0
        self._prev = small
        self._motion.append(motion)
        return motion

    def update(self, frame: np.ndarray, decision: dict[str, Any], index: int) -> list[dict[str, Any]]:
        """Account one frame's boxes (frame pixels); return the events it raises. Call before drawing."""
        motion = self._scene_motion(frame)
        boxes = decision.get("boxes") or []
        self.dropped += int(decision.get("dropped", 0))
        self.objects.update(b["label"] for b in boxes)
        xyxy = np.array([b["xyxy"] for b in boxes], np.float32).reshape(-1, 4)
        seen = self.tracker.update(
            xyxy, np.array([b["score"] for b in boxes], np.float32), np.array([b["index"] for b in boxes])
        )
        ids = {id(t) for t in seen}
        for b in boxes:  # each box gets the id of the track it matched (None: too weak to track)
            b["track"] = next((t.id for t in seen if np.allclose(t.box, b["xyxy"], atol=1e-3)), None)
        events = []
        h, w = frame.shape[:2]
        for t in self.tracker.tracks:
            if id(t) in ids or t.missed != self.vanish_after or t.id in self._reported:
                continue
            if self.watch is not None and t.label not in self.watch:
                continue
            recent = list(self._motion)[-(t.missed + 1) :]
            scene = float(np.median(recent)) if recent else 0.0
            if t.hits >= self.min_hits and scene <= self.static_motion and not self._at_border(t, w, h):
                self._reported.add(t.id)
                self.vanished += 1
                events.append(
                    {
                        "event": ["track_vanished"],
                        "frame": index,
                        "track": t.id,
                        "label": self._name(t.label),
                        "last_box": [round(float(v), 1) for v in t.box],
                        "frames_seen": t.hits,
                        "scene_motion": round(scene, 3),
                        "motion_now": round(motion, 3),
                    }
                )
        return events

    def _at_border(self, t: Track, w: int, h: int) -> bool:
        mx, my = self.border * w, self.border * h
        x1, y1, x2, y2 = t.box
        return bool(x1 <= mx or y1 <= my or x2 >= w - mx or y2 >= h - my)

    def _name(self, j: int) -> str:
        return self.labels[j] if 0 <= j < len(self.labels) else str(j)

    def summary(self) -> dict[str, Any]:
        return {
            "objects": dict(self.objects.most_common()),
            "dropped_boxes": self.dropped,
            "tracks": self.tracker.next_id - 1,
            "vanished": self.vanished,
        }


def draw_boxes(frame: np.ndarray, decision: dict[str, Any]) -> None:
    """Boxes with label, score and track id, and a per-class count line at the bottom left."""
    h, w = frame.shape[:2]
    s = max(0.4, min(1.0, w / 1280.0))
    for b in decision.get("boxes") or []:
        x1, y1, x2, y2 = (int(round(v)) for v in b["xyxy"])
        colour = RED if decision.get("flagged") else PALETTE[int(b["index"]) % len(PALETTE)]
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, max(1, int(2 * s)))
        tag = f"{short(b['label'], 20)} {b['score']:.2f}" + (f" #{b['track']}" if b.get("track") else "")
        (tw, th), base = cv2.getTextSize(tag, FONT, 0.5 * s, 1)
        ty = max(th + base, y1)
        cv2.rectangle(frame, (x1, ty - th - base), (x1 + tw + 4, ty), colour, -1)
        cv2.putText(frame, tag, (x1 + 2, ty - base), FONT, 0.5 * s, (0, 0, 0), 1, cv2.LINE_AA)
    counts = decision.get("counts") or {}
    line = "  ".join(f"{short(k, 20)}: {v}" for k, v in list(counts.items())[:6]) or "no objects"
    if decision.get("dropped"):
        line += f"  (dropped {decision['dropped']})"
    (tw, th), base = cv2.getTextSize(line, FONT, 0.6 * s, 1)
    cv2.rectangle(frame, (0, h - th - base - 8), (tw + 8, h), (0, 0, 0), -1)
    cv2.putText(frame, line, (4, h - base - 4), FONT, 0.6 * s, (255, 255, 255), 1, cv2.LINE_AA)


__all__ = ["DetectionWatch", "draw_boxes"]
