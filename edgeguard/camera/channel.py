"""Hand-over between the capture thread and inference, and the reconnect schedule.

:class:`FrameChannel` with ``keep_latest=True`` is a one-slot mailbox that overwrites (and counts) stale
frames, so a slow model never works on old camera frames (REFERENCE complaint 9); with
``keep_latest=False`` it is a small blocking queue, so files are processed in order with no drops.
"""

from __future__ import annotations

import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .sources import Box

END = object()  # end-of-stream marker in the frame channel


@dataclass(frozen=True)
class Backoff:
    """Reconnect schedule: ``initial_s`` × ``factor``^k, capped at ``max_s``; give up after ``attempts``
    consecutive failed re-opens (``0`` = do not reconnect at all, ``-1`` = never give up)."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 8.0
    attempts: int = 10

    def delays(self) -> Iterator[float]:
        d, k = self.initial_s, 0
        while self.attempts < 0 or k < self.attempts:
            yield min(d, self.max_s)
            d *= self.factor
            k += 1


@dataclass
class Frame:
    image: np.ndarray
    index: int
    t_capture: float
    roi: Box | None = None


class FrameChannel:
    """Hand-over between capture and inference: ``keep_latest`` overwrites (live), else blocks (files)."""

    def __init__(self, keep_latest: bool, maxsize: int = 4) -> None:
        self.keep_latest = keep_latest
        self.items: deque[Any] = deque()
        self.maxsize = 1 if keep_latest else maxsize
        self.cond = threading.Condition()

    def put(self, item: Any, stop: threading.Event) -> int:
        """Queue ``item``; returns how many stale frames it displaced (live) — 0 for blocking channels."""
        with self.cond:
            dropped = 0
            if self.keep_latest:
                while self.items and len(self.items) >= self.maxsize and self.items[-1] is not END:
                    self.items.popleft()
                    dropped += 1
            else:
                while len(self.items) >= self.maxsize and not stop.is_set():
                    self.cond.wait(0.1)
            self.items.append(item)
            self.cond.notify_all()
            return dropped

    def close(self) -> None:
        with self.cond:
            self.items.append(END)
            self.cond.notify_all()

    def get(self, timeout: float) -> Any:
        """The next item, ``END``, or ``None`` on timeout."""
        with self.cond:
            if not self.items:
                self.cond.wait(timeout)
            if not self.items:
                return None
            item = self.items.popleft()
            self.cond.notify_all()
            return item


@contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM call ``stop("signal SIGINT")`` instead of killing the process.

    Only the main thread may install handlers; elsewhere (a test runner's thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, lambda num, _frame: stop(f"signal {signal.Signals(num).name}"))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


__all__ = ["END", "Backoff", "Frame", "FrameChannel", "stop_on_signals"]
