"""``edgeguard bench``: per-stage latency and throughput of a pipeline over batch sizes and input sizes.

Measured the one way :mod:`edgeguard.eval.latency` measures (``pipeline(frames)`` on BGR frames, so
preprocessing is timed; :func:`~edgeguard.eval.latency.time_calls`), reported as min / p50 / p95 / p99
per stage: percentiles, because one scheduler hiccup on a shared CPU moves a mean a lot and a median
hardly at all. Throughput is images per second at the median end-to-end time of one call.

No torch here: bench runs on the runtime install (numpy, onnxruntime, OpenCV).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..pipeline import Pipeline
from ..provenance import versions
from .latency import stage_sort, time_calls

QUANTILES = ("min", "p50", "p95", "p99")
# What shapes the numbers: the array libraries and the engines' runtimes (distribution names).
BENCH_PACKAGES = (
    "numpy",
    "onnxruntime",
    "onnxruntime-gpu",
    "opencv-python",
    "opencv-python-headless",
    "tensorrt",
    "tritonclient",
)
# The frames fed to the pipeline: camera-like VGA frames, so preprocessing does a real resize.
FRAME_SHAPE = (480, 640, 3)
N_FRAMES = 8


def stats(values: Sequence[float]) -> dict[str, float]:
    """``{"min", "p50", "p95", "p99", "mean"}`` of ``values`` (milliseconds), rounded to µs."""
    a = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    out = {"min": a.min(), "p50": p50, "p95": p95, "p99": p99, "mean": a.mean()}
    return {k: round(float(v), 4) for k, v in out.items()}


def stage_samples(samples: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    """``{stage: [ms per call …]}`` in data-path order (escalation only over the calls it ran in)."""
    out: dict[str, list[float]] = {}
    for timing in samples:
        for k, v in timing.items():
            out.setdefault(k, []).append(float(v))
    return dict(sorted(out.items(), key=lambda kv: stage_sort(kv[0])))


def frames(seed: int = 0) -> list[np.ndarray]:
    """``N_FRAMES`` fixed random BGR uint8 frames of ``FRAME_SHAPE`` (the same every run)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8) for _ in range(N_FRAMES)]


def check_counts(iters: int, warmup: int) -> None:
    """Raise ConfigError unless ``iters`` ≥ 1 and ``warmup`` ≥ 0."""
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ConfigError(f"--iters {iters}: must be at least 1")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"--warmup {warmup}: must be 0 or more")


def parse_ints(text: str | None, what: str) -> list[int] | None:
    """``"1,2,4"`` → ``[1, 2, 4]`` (positive, no repeats); ``None`` stays ``None``."""
    if text is None:
        return None
    out = []
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise ConfigError(f"{what} {text!r}: expected comma-separated integers such as 1,2,4") from None
        if value < 1:
            raise ConfigError(f"{what} {text!r}: every value must be at least 1")
        if value in out:
            raise ConfigError(f"{what} {text!r}: {value} is given twice")
        out.append(value)
    return out


def batch_range(pipeline: Pipeline) -> tuple[int, int | None]:
    """The batch sizes the engine accepts: ``(min, max)``, ``max`` None when unbounded.

    A fixed batch axis in the input allows exactly that size; a TensorRT plan its profile's min..max.
    """
    spec = pipeline.engine.inputs[0] if pipeline.engine.inputs else None
    fixed = spec.shape[0] if spec is not None and spec.shape else None
    if fixed:
        return fixed, fixed
    trt = getattr(pipeline.manifest, "tensorrt", None)
    if trt is not None:
        return trt.profile.min, trt.profile.max
    return 1, None


def check_batches(pipeline: Pipeline, batches: list[int] | None, name: str) -> list[int]:
    """The batch sizes to time: the given ones (each inside the engine's range) or 1 and 8 where allowed.

    Raises:
        ConfigError: a batch outside the engine's batch profile (the message names the profile).
    """
    lo, hi = batch_range(pipeline)
    if batches is None:
        return [b for b in (1, 8) if lo <= b <= (hi or b)] or [lo]
    for b in batches:
        if b < lo or (hi is not None and b > hi):
            allowed = f"only batch {lo}" if lo == hi else f"batch {lo}..{hi if hi is not None else '∞'}"
            raise ConfigError(f"--batch {b}: engine {name} accepts {allowed}")
    return batches


def dynamic_hw(pipeline: Pipeline) -> bool:
    """Whether the engine's input has dynamic height and width (it then takes any size)."""
    spec = pipeline.engine.inputs[0] if pipeline.engine.inputs else None
    return spec is not None and len(spec.shape) == 4 and spec.shape[2] is None and spec.shape[3] is None


def check_sizes(pipeline: Pipeline, sizes: list[int] | None, name: str) -> list[tuple[int, int]]:
    """The input sizes to time: ``[(s, s) …]``, or the manifest's size when none are given.

    Raises:
        ConfigError: sizes given for an engine whose height and width are fixed (named in the message).
    """
    if sizes is None:
        return [tuple(pipeline.size)]  # type: ignore[list-item]
    if not dynamic_hw(pipeline):
        h, w = pipeline.size
        raise ConfigError(
            f"--size: engine {name} has a fixed input size {h}x{w}; --size needs an engine exported "
            f"with dynamic height and width"
        )
    return [(s, s) for s in sizes]


@dataclass
class Point:
    """One measured configuration: batch, input size, per-stage stats (ms per call), images/s."""

    batch: int
    size: tuple[int, int]
    stages: dict[str, dict[str, float]]

    @property
    def images_per_s(self) -> float:
        p50 = self.stages["total"]["p50"]
        return round(self.batch * 1e3 / p50, 2) if p50 > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "size": list(self.size),
            "stages_ms": self.stages,
            "images_per_s": self.images_per_s,
        }


def sweep(
    pipeline: Pipeline,
    batches: Sequence[int],
    sizes: Sequence[tuple[int, int]],
    *,
    iters: int,
    warmup: int,
    images: Sequence[np.ndarray] | None = None,
) -> list[Point]:
    """Time ``pipeline`` at every (size, batch): ``warmup`` discarded calls, then ``iters`` timed ones."""
    check_counts(iters, warmup)
    imgs = list(images) if images is not None else frames()
    original = pipeline.size
    points = []
    try:
        with pipeline:
            for size in sizes:
                pipeline.size = size  # a dynamic-H/W engine takes any size; preprocess resizes to it
                for b in batches:
                    samples = time_calls(pipeline, imgs, b, warmup, iters)
                    points.append(Point(b, size, {k: stats(v) for k, v in stage_samples(samples).items()}))
    finally:
        pipeline.size = original
    return points


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine(pipeline: Pipeline | None = None) -> dict[str, Any]:
    """Device, CPU model, cores, OS and Python of this machine (the bench header and JSON)."""
    device = str(getattr(pipeline.engine, "provider", "") or "unknown") if pipeline else "unknown"
    trt = getattr(pipeline.manifest, "tensorrt", None) if pipeline else None
    if trt is not None:  # a plan runs only on the GPU it was built for: name it
        device = f"{device} on {trt.device.name} (sm {trt.device.compute_capability})"
    out: dict[str, Any] = {
        "device": device,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    return out


def library_versions() -> dict[str, str]:
    """edgeguard and the installed array/engine libraries (nothing imported to find them)."""
    return versions(BENCH_PACKAGES)


__all__ = [
    "QUANTILES",
    "Point",
    "batch_range",
    "check_batches",
    "check_counts",
    "check_sizes",
    "cpu_model",
    "dynamic_hw",
    "frames",
    "library_versions",
    "machine",
    "parse_ints",
    "stage_samples",
    "stats",
    "sweep",
]
