"""Multi-object tracking by detection, ByteTrack-style, in numpy (the camera runtime has no scipy).

ByteTrack (Zhang et al., ECCV 2022) associates in two rounds: confident detections first, then the
low-score ones — often a partly occluded or patched person whose score dropped — to the tracks still
unmatched, instead of throwing them away. Tracks predict their next box with a smoothed constant
velocity (ByteTrack uses a Kalman filter; at camera frame rates a damped velocity is enough for
IoU association) and are kept ``max_age`` frames after their last match.

Hand-written because the maintained implementations do not fit the runtime install (numpy, OpenCV,
onnxruntime): ``trackers``/``supervision`` bring scipy, requests and the non-headless OpenCV wheel,
``boxmot`` torch, ``norfair``/``motpy`` filterpy + scipy, and ``bytetracker`` is unmaintained since
2023 and needs ``lap``. Association is greedy on IoU (highest pair first, within one class) instead
of the Hungarian solver — equal whenever each object overlaps one track, which is the camera case.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..nms import box_iou


@dataclass
class Track:
    """One tracked object. ``missed`` = frames since its last match (0 = seen in this frame)."""

    id: int
    box: np.ndarray
    label: int
    score: float
    hits: int = 1
    missed: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity * (1 + self.missed)


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs ``(row, col)`` taken by descending IoU, each row and column at most once, IoU ≥ threshold."""
    pairs = []
    if iou.size == 0:
        return pairs
    rows, cols = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[rows, cols], kind="stable")
    used_r, used_c = set(), set()
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


class ByteTracker:
    """Track boxes frame by frame; :meth:`update` returns the tracks seen in this frame.

    Args:
        high: detections scoring at least this are matched first and may start tracks.
        low: detections between ``low`` and ``high`` only keep existing tracks alive (ByteTrack's
            second round).
        match_iou: least IoU between a predicted track box and a detection to match them.
        max_age: frames a track survives without a match before it is removed.
    """

    def __init__(
        self, high: float = 0.5, low: float = 0.1, match_iou: float = 0.3, max_age: int = 30
    ) -> None:
        self.high, self.low, self.match_iou, self.max_age = high, low, match_iou, max_age
        self.tracks: list[Track] = []
        self.next_id = 1
        self.removed: list[Track] = []  # tracks removed by the last update (their last state)

    def update(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> list[Track]:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        labels = np.asarray(labels, np.int64).reshape(-1)
        for t in self.tracks:
            t.missed += 1
        high = np.flatnonzero(scores >= self.high)
        low = np.flatnonzero((scores >= self.low) & (scores < self.high))
        all_tracks = list(range(len(self.tracks)))
        unmatched, used = self._associate(all_tracks, high, boxes, scores, labels, self.match_iou)
        recent = [i for i in unmatched if self.tracks[i].missed == 1]  # tracked until the last frame
        self._associate(recent, low, boxes, scores, labels, max(self.match_iou, 0.5))
        for j in high:  # a confident detection no track claimed starts a track
            if int(j) not in used:
                self.tracks.append(Track(self.next_id, boxes[j].copy(), int(labels[j]), float(scores[j])))
                self.next_id += 1
        self.removed = [t for t in self.tracks if t.missed > self.max_age]
        self.tracks = [t for t in self.tracks if t.missed <= self.max_age]
        return [t for t in self.tracks if t.missed == 0]

    def _associate(
        self,
        track_idx: list[int],
        det_idx: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        labels: np.ndarray,
        threshold: float,
    ) -> tuple[list[int], set[int]]:
        """Match detections ``det_idx`` to tracks ``track_idx``: (tracks left unmatched, detections used)."""
        if not track_idx or det_idx.size == 0:
            return track_idx, set()
        tracks = [self.tracks[i] for i in track_idx]
        pred = np.stack([t.predicted() for t in tracks])
        iou = box_iou(pred, boxes[det_idx])
        same = np.array([t.label for t in tracks])[:, None] == labels[det_idx][None, :]
        iou = np.where(same, iou, 0.0)
        matched, used = set(), set()
        for r, c in greedy_match(iou, threshold):
            t, j = tracks[r], int(det_idx[c])
            new = boxes[j].copy()
            t.velocity = 0.5 * t.velocity + 0.5 * (new - t.box) / t.missed
            t.box, t.score, t.hits, t.missed = new, float(scores[j]), t.hits + 1, 0
            matched.add(r)
            used.add(j)
        return [i for k, i in enumerate(track_idx) if k not in matched], used


__all__ = ["ByteTracker", "Track", "greedy_match"]
