"""The camera loop's first stage: read frames from the source, reconnect a live one that drops.

Runs in its own thread and hands frames to inference through a :class:`~.channel.FrameChannel`: for live
sources a one-slot mailbox where the newest frame wins (stale frames are dropped and counted, REFERENCE
complaint 9), for files and the synthetic source a small blocking queue (every frame, in order). A live
source that stops delivering (or delivers only empty frames) is closed and re-opened with bounded
exponential backoff; each disconnect/reconnect is an event.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import SourceError
from .channel import Backoff, Frame, FrameChannel
from .sources import Source, clean_frame


class Capture:
    """The capture stage: :meth:`run` is the thread body.

    Args:
        source: an opened source (or a fake with ``read/open/close/live/fps/roi/name``).
        channel: where frames go (closed with ``END`` when capture ends, whatever the reason).
        stop: set by the loop to end every stage.
        sleep: how the reconnect backoff waits.
        event: writes one event record (thread-safe).
        busy: records the milliseconds one frame cost this stage (reading + cleaning, not waiting).
        dropped: counts stale frames the mailbox displaced.
        gave_up: called with the error once a live source stays down (the frames queued still run).
    """

    def __init__(
        self,
        source: Source,
        channel: FrameChannel,
        *,
        live: bool,
        realtime: bool,
        backoff: Backoff,
        empty_limit: int,
        stop: threading.Event,
        sleep: Callable[[float], None],
        log: Callable[[str], None],
        event: Callable[[dict[str, Any]], None],
        stats: Any,
        lock: threading.Lock,
        gave_up: Callable[[str], None],
    ) -> None:
        self.source = source
        self.channel = channel
        self.live = live
        self.realtime = realtime
        self.backoff = backoff
        self.empty_limit = empty_limit
        self._stop = stop
        self._sleep = sleep
        self.log = log
        self.event = event
        self.stats = stats
        self.lock = lock
        self.gave_up = gave_up

    def reconnect(self, reason: str, frame_index: int) -> bool:
        """Close and re-open a live source with backoff; False when it stays down (or on stop)."""
        with self.lock:
            self.stats.disconnects += 1
        again = "not reconnecting" if self.backoff.attempts == 0 else "reconnecting"
        self.log(f"source dropped ({reason}); {again}")
        self.event({"event": "disconnect", "frame": frame_index, "reason": reason})
        with contextlib.suppress(Exception):  # a broken device may fail to close; we re-open it anyway
            self.source.close()
        last = ""
        for attempt, delay in enumerate(self.backoff.delays(), 1):
            self._sleep(delay)
            if self._stop.is_set():
                return False
            try:
                self.source.open()
            except SourceError as err:
                last = str(err)
                continue
            with self.lock:
                self.stats.reconnects += 1
            self.event({"event": "reconnect", "frame": frame_index, "attempt": attempt, "after_s": delay})
            self.log(f"source back after {attempt} attempt(s)")
            return True
        name = getattr(self.source, "name", "source")
        if self.backoff.attempts == 0:
            error = f"{name} dropped ({reason}); not reconnecting (--reconnect-attempts 0)"
        else:
            error = f"{name} stayed down after {self.backoff.attempts} reconnect attempts ({last or reason})"
        self.gave_up(error)
        self.event({"event": "gave_up", "frame": frame_index, "reason": error})
        return False

    def run(self) -> None:
        idx, empties = 0, 0
        period = 1.0 / (getattr(self.source, "fps", None) or 30.0)
        pace = self.realtime and not self.live
        next_t = time.perf_counter()
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    raw, why = self.source.read(), "no frame"
                except Exception as exc:  # a driver error mid-stream is a drop, not a crash
                    raw, why = None, f"{type(exc).__name__}: {exc}"
                if raw is None:
                    if not self.live or not self.reconnect(why, idx):
                        break
                    continue
                img = clean_frame(raw)
                if img is None:
                    with self.lock:
                        self.stats.empty += 1
                    empties += 1
                    if self.live and empties >= self.empty_limit:
                        empties = 0
                        if not self.reconnect(f"{self.empty_limit} empty frames in a row", idx):
                            break
                    continue
                empties = 0
                busy = (time.perf_counter() - t0) * 1e3
                if pace:
                    next_t += period
                    self._stop.wait(max(0.0, next_t - time.perf_counter()))
                frame = Frame(img, idx, time.perf_counter(), getattr(self.source, "roi", None))
                idx += 1
                dropped = self.channel.put(frame, self._stop)
                with self.lock:
                    self.stats.busy("capture", busy)
                    self.stats.dropped += dropped
        finally:
            self.channel.close()


__all__ = ["Capture"]
