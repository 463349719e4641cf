"""Helpers for camera tests: a scriptable fake live source and a video frame counter."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edgeguard.errors import SourceError


def count_frames(path: Path) -> tuple[int, tuple[int, int] | None]:
    """Decode a video completely with OpenCV: (frames, (w, h) of the first)."""
    cap = cv2.VideoCapture(str(path))
    n, size = 0, None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        size = size or (frame.shape[1], frame.shape[0])
        n += 1
    cap.release()
    return n, size


def odd_frames() -> list[np.ndarray]:
    """Frames of unexpected size, channels and depth: gray, BGRA, 16-bit, 1-channel, tiny, large."""
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
        rng.integers(0, 255, (120, 90), dtype=np.uint8),
        rng.integers(0, 255, (30, 40, 4), dtype=np.uint8),
        rng.integers(0, 65535, (64, 64, 3), dtype=np.uint16),
        rng.integers(0, 255, (20, 20, 1), dtype=np.uint8),
        rng.integers(0, 255, (200, 320, 3), dtype=np.uint8),
    ]


class FakeLive:
    """A live source: ``per_connection`` frames, then a drop (``read`` → None); ``drops`` drops in all.

    After the last drop it delivers ``tail`` more frames and ends (``None`` again, and every re-open
    fails, so the loop gives up). ``fail_reopen`` makes the first N re-opens fail. ``empty_every``
    returns an empty array on every N-th read.
    """

    live = True
    fps = 30.0
    roi = None
    name = "fake live camera"

    def __init__(
        self,
        drops: int = 100,
        per_connection: int = 2,
        frames: Sequence[np.ndarray] | None = None,
        fail_reopen: int = 0,
        empty_every: int = 0,
        tail: int = 2,
    ) -> None:
        self.frames = list(frames) if frames is not None else [np.full((48, 64, 3), 128, np.uint8)]
        self.drops_left = drops
        self.per = per_connection
        self.fail_reopen = fail_reopen
        self.empty_every = empty_every
        self.tail = tail
        self.opens = self.reads = self.delivered = self.in_conn = 0
        self.up = True
        self.finished = False

    def open(self) -> None:
        self.opens += 1
        if self.finished:
            raise SourceError("fake camera: gone for good")
        if self.fail_reopen > 0:
            self.fail_reopen -= 1
            raise SourceError("fake camera: still down")
        self.up, self.in_conn = True, 0

    def read(self) -> np.ndarray | None:
        if not self.up:
            return None
        self.reads += 1
        if self.empty_every and self.reads % self.empty_every == 0:
            return np.empty((0, 0, 3), np.uint8)
        limit = self.per if self.drops_left > 0 else self.tail
        if self.in_conn >= limit:
            if self.drops_left > 0:
                self.drops_left -= 1
            else:
                self.finished = True
            self.up = False
            return None
        self.in_conn += 1
        frame = self.frames[self.delivered % len(self.frames)]
        self.delivered += 1
        return frame

    def close(self) -> None:
        self.up = False


class Scripted:
    """A live source that plays a fixed script of reads (arrays, empty arrays, ``None`` = drop).

    Re-opening succeeds while script items remain and fails once it is used up (the loop then gives up).
    """

    live = True
    fps = 30.0
    roi = None
    name = "scripted camera"

    def __init__(self, script: Sequence[np.ndarray | None]) -> None:
        self.script = list(script)
        self.opens = 0

    def open(self) -> None:
        self.opens += 1
        if not self.script:
            raise SourceError("scripted camera: nothing left")

    def read(self) -> np.ndarray | None:
        return self.script.pop(0) if self.script else None

    def close(self) -> None:
        pass
