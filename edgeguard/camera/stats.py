"""Run statistics with constant memory: counters, label histogram, and per-stage timing windows.

Timings go into fixed-size ring buffers (the last :data:`WINDOW` frames), so a loop that runs for days
does not grow; percentiles are over that window and means over the whole run. Two FPS figures are kept
apart on purpose (REFERENCE complaint 11, "which FPS is real"): *end-to-end* = frames the loop finished
per second of wall time (capture, preprocess, stages, engine, decision, overlay, outputs, waiting),
*engine-only* = 1000 / mean engine milliseconds (what a network benchmark reports).

The loop's three stages (capture, inference, output) run concurrently; each records the milliseconds a
frame cost it (busy time, not waiting), and the summary's ``pipeline`` part is that per-stage budget:
the slowest stage bounds end-to-end throughput, and ``efficiency`` says how close the loop came to it.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import numpy as np

WINDOW = 8192


class Ring:
    """Fixed-size float ring buffer with a running sum over everything ever added."""

    def __init__(self, size: int = WINDOW) -> None:
        self.buf = np.empty(size, np.float64)
        self.n = 0
        self.total = 0.0

    def add(self, v: float) -> None:
        if not math.isfinite(v):
            return
        self.buf[self.n % self.buf.size] = v
        self.n += 1
        self.total += v

    def values(self) -> np.ndarray:
        return self.buf[: min(self.n, self.buf.size)]

    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

    def pct(self, q: float) -> float:
        v = self.values()
        return float(np.percentile(v, q)) if v.size else float("nan")

    def recent_mean(self, k: int) -> float:
        v = self.values()
        if not v.size:
            return float("nan")
        if self.n <= self.buf.size:
            return float(v[-k:].mean())
        idx = (np.arange(self.n - k, self.n)) % self.buf.size
        return float(self.buf[idx].mean())


class RunStats:
    """Everything the summary reports."""

    def __init__(self) -> None:
        self.frames = 0
        self.dropped = 0
        self.empty = 0
        self.disconnects = 0
        self.reconnects = 0
        self.flagged = 0
        self.escalated = 0
        self.events = 0
        self.labels: Counter[str] = Counter()
        self.stages: dict[str, Ring] = {}
        self.latency = Ring()
        self.frame_wall = Ring()  # wall time between consecutive results, for the live FPS figure
        self.busy_ms: dict[str, Ring] = {}  # per loop stage: milliseconds of work per frame
        self.t_start: float | None = None
        self.t_last: float | None = None

    def busy(self, stage: str, ms: float) -> None:
        """Record that one frame cost loop stage ``stage`` ``ms`` milliseconds of work."""
        self.busy_ms.setdefault(stage, Ring()).add(ms)

    def budget(self) -> dict[str, Any]:
        """The per-stage budget: mean/p50/p95 busy ms per frame and the FPS each stage allows; the
        slowest stage; end-to-end FPS as a fraction of it (measured inside the loop, where the stages
        share the CPU: a stage timed alone is faster, see benchmarks/camera_pipeline.py)."""
        stages = {
            k: {
                "mean": _r(v.mean()),
                "p50": _r(v.pct(50)),
                "p95": _r(v.pct(95)),
                "fps_bound": _r(1e3 / v.mean(), 1) if v.n and v.mean() > 0 else None,
            }
            for k, v in self.busy_ms.items()
        }
        means = {k: v.mean() for k, v in self.busy_ms.items() if v.n}
        if not means:
            return {"stages": stages, "slowest": None, "efficiency": None}
        slowest = max(means, key=lambda k: means[k])
        bound = 1e3 / means[slowest] if means[slowest] > 0 else float("nan")
        e2e = self.fps_e2e()
        eff = e2e / bound if math.isfinite(e2e) and math.isfinite(bound) and bound > 0 else float("nan")
        return {"stages": stages, "slowest": slowest, "efficiency": _r(eff)}

    def start(self) -> None:
        self.t_start = time.perf_counter()

    def add(self, timing: dict[str, float], label: str | None, flagged: bool, latency_ms: float) -> None:
        now = time.perf_counter()
        if self.t_last is not None:
            self.frame_wall.add((now - self.t_last) * 1e3)
        self.t_last = now
        self.frames += 1
        for key, v in timing.items():
            self.stages.setdefault(key, Ring()).add(float(v))
        if label is not None:
            self.labels[label] += 1
        self.flagged += int(flagged)
        self.latency.add(latency_ms)

    @property
    def wall_s(self) -> float:
        if self.t_start is None:
            return 0.0
        return max(1e-9, (self.t_last or time.perf_counter()) - self.t_start)

    def fps_e2e(self) -> float:
        return self.frames / self.wall_s if self.frames else float("nan")

    def fps_engine(self) -> float:
        ring = self.stages.get("engine")
        m = ring.mean() if ring else float("nan")
        return 1e3 / m if m and math.isfinite(m) and m > 0 else float("nan")

    def live_fps(self, k: int = 30) -> tuple[float, float]:
        """(end-to-end, engine-only) FPS over the last ``k`` frames, for the overlay."""
        wall = self.frame_wall.recent_mean(k)
        eng = self.stages["engine"].recent_mean(k) if "engine" in self.stages else float("nan")
        return (1e3 / wall if wall > 0 else float("nan"), 1e3 / eng if eng > 0 else float("nan"))

    def to_dict(self) -> dict[str, Any]:
        def r(v: float, n: int = 3) -> float | None:
            return round(v, n) if math.isfinite(v) else None

        e2e, eng = self.fps_e2e(), self.fps_engine()
        return {
            "frames": self.frames,
            "dropped": self.dropped,
            "empty": self.empty,
            "disconnects": self.disconnects,
            "reconnects": self.reconnects,
            "wall_s": r(self.wall_s),
            "fps": {
                "end_to_end": r(e2e, 2),
                "engine_only": r(eng, 2),
                "ratio": r(e2e / eng, 3) if math.isfinite(e2e) and math.isfinite(eng) and eng else None,
            },
            "latency_ms": {"p50": r(self.latency.pct(50)), "p95": r(self.latency.pct(95))},
            "stage_ms": {
                k: {"p50": r(v.pct(50)), "p95": r(v.pct(95)), "mean": r(v.mean())}
                for k, v in self.stages.items()
            },
            "labels": dict(self.labels.most_common()),
            "flagged": self.flagged,
            "escalated": self.escalated,
            "events": self.events,
            "window": WINDOW,
            "pipeline": self.budget(),
        }


def _r(v: float, n: int = 3) -> float | None:
    return round(v, n) if math.isfinite(v) else None


__all__ = ["Ring", "RunStats", "WINDOW"]
