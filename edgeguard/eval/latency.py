"""Per-stage latency of a deployed :class:`~edgeguard.pipeline.Pipeline`, measured one way everywhere.

The report puts robust accuracy next to latency, so both must come from the same pipeline (the one
the final accuracy was measured on) and latency must be measured the same way for every
configuration: real frames through the whole data path (``pipeline(frames)``, so preprocessing is
timed too), ``warmup`` discarded calls, then ``runs`` calls at batch 1, cycling through the images,
and p50 / p95 / mean per stage from :attr:`Result.timing_ms <edgeguard.pipeline.Result>` —
``preprocess``, each ``stage:NAME``, ``engine``, ``decision`` (``escalation`` when it ran), ``total``.
Percentiles, not means, are the headline: one scheduler hiccup on a shared CPU moves a mean a lot and
a median hardly at all (the camera loop's statistics, :mod:`edgeguard.camera.stats`, report p50/p95
for the same reason).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from ..pipeline import Pipeline

STAGE_ORDER = ("preprocess", "stage:", "engine", "decision", "escalation", "total")
Frames = Sequence[np.ndarray | str | Path] | np.ndarray  # BGR uint8 frames / paths, or float (N, 3, H, W)


def as_frames(images: Frames, color: str = "RGB") -> list[np.ndarray | str | Path]:
    """What ``pipeline(frames)`` takes: BGR uint8 frames or image paths.

    A float ``(N, 3, H, W)`` batch in [0, 1] in the engine's channel order (what the evaluation data
    is) becomes BGR uint8 frames, so the preprocessing step runs as it would on camera frames.

    Raises:
        InputError: no images, or an array that is not ``(N, 3, H, W)`` in [0, 1].
    """
    if isinstance(images, np.ndarray) and images.dtype != np.uint8:
        if images.ndim != 4 or images.shape[1] != 3 or not len(images):
            raise InputError(f"latency: expected a (N, 3, H, W) float batch, got shape {images.shape}")
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise InputError("latency: the float batch must hold finite values in [0, 1]")
        hwc = np.rint(images * 255).astype(np.uint8).transpose(0, 2, 3, 1)
        if color == "RGB":
            hwc = hwc[..., ::-1]
        return [np.ascontiguousarray(f) for f in hwc]
    frames = list(images)
    if not frames:
        raise InputError("latency: no images to time")
    return frames


def summarise(samples: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """``{stage: {"p50", "p95", "mean"}}`` over per-call timing dicts, stages in first-seen order.

    A stage present in only some calls (escalation) is summarised over the calls it ran in.
    """
    stages: dict[str, list[float]] = {}
    for timing in samples:
        for k, v in timing.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                stages.setdefault(k, []).append(float(v))
    out = {}
    for k, values in stages.items():
        a = np.asarray(values)
        out[k] = {
            "p50": float(np.percentile(a, 50)),
            "p95": float(np.percentile(a, 95)),
            "mean": float(a.mean()),
        }
    if "total" in out:  # total last, as in the data path
        out["total"] = out.pop("total")
    return out


def time_calls(
    pipeline: Pipeline, frames: Sequence, batch: int, warmup: int, runs: int
) -> list[dict[str, float]]:
    """Per-call ``timing_ms`` dicts of ``runs`` calls at ``batch`` after ``warmup`` discarded calls.

    Each call takes the next ``batch`` frames, cycling through ``frames``; the one way every
    latency figure (``eval``'s report, ``edgeguard bench``) is measured.
    """
    samples = []
    for i in range(warmup + runs):
        start = (i * batch) % len(frames)
        chunk = [frames[(start + j) % len(frames)] for j in range(batch)]
        timing = dict(pipeline(chunk)[0].timing_ms)  # the batch's timings (every Result shares them)
        if i >= warmup:
            samples.append(timing)
    return samples


def measure_latency(
    pipeline: Pipeline, images: Frames, *, warmup: int = 10, runs: int = 50, batch: int | None = None
) -> dict[str, Any]:
    """Time ``pipeline`` per stage on real images; the dict for ``configs[i]["latency_ms"]``.

    Args:
        pipeline: the deployed pipeline (``edgeguard.load(...)`` / ``eval.deploy(...)``).
        images: BGR uint8 frames or image paths, or a float ``(N, 3, H, W)`` batch in [0, 1].
        warmup: calls run first and discarded (allocations, onnxruntime's first-run work, caches).
        runs: timed calls at batch 1.
        batch: also time ``runs`` calls at this batch size (per-image figures: milliseconds / batch).

    Returns:
        ``{"preprocess": {"p50", "p95", "mean"}, "stage:NAME": …, "engine": …, "decision": …,
        "total": …, "runs": runs, "warmup": warmup}`` in milliseconds per batch-1 call, plus
        ``"batch": {"size": B, STAGE: {…} …}`` in milliseconds per image when ``batch`` is given.

    Raises:
        ConfigError: ``runs`` < 1, ``warmup`` < 0 or ``batch`` < 2.
        InputError: no usable images.
    """
    for name, value, low in (("runs", runs, 1), ("warmup", warmup, 0), ("batch", batch or 2, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"latency: {name} = {value!r}; expected an integer >= {low}")
    frames = as_frames(images, pipeline.color)
    out: dict[str, Any] = summarise(time_calls(pipeline, frames, 1, warmup, runs))
    if batch:
        per_batch = summarise(time_calls(pipeline, frames, batch, max(1, warmup // batch), runs))
        scaled = {k: {q: v / batch for q, v in s.items()} for k, s in per_batch.items()}
        out["batch"] = {"size": batch, **scaled}
    out["runs"] = runs
    out["warmup"] = warmup
    return out


def stage_sort(name: str) -> tuple[int, str]:
    """Sort key putting stage names in data-path order."""
    for i, prefix in enumerate(STAGE_ORDER):
        if name == prefix or (prefix.endswith(":") and name.startswith(prefix)):
            return (i, "")  # host stages keep their pipeline order (dicts keep insertion order)
    return (len(STAGE_ORDER) - 1, name)


def latency_stages(latency: Any) -> dict[str, Mapping[str, Any]]:
    """The per-stage entries of a ``latency_ms`` dict (``{stage: {"p50", "p95"}}``), in pipeline order.

    A stage given as a bare number is taken as its p50.
    """
    if not isinstance(latency, Mapping):
        return {}
    out = {}
    for k, v in latency.items():
        if isinstance(v, Mapping) and "p50" in v:
            out[k] = v
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("runs", "warmup", "batch"):
            out[k] = {"p50": v}
    return dict(sorted(out.items(), key=lambda kv: stage_sort(kv[0])))


def total_ms(latency: Mapping[str, Any] | None) -> float:
    """End-to-end p50 milliseconds per image (a record's ``latency_ms``); ``nan`` when not measured."""
    total = latency_stages(latency).get("total")
    return float(total["p50"]) if total else float("nan")


__all__ = [
    "as_frames",
    "latency_stages",
    "measure_latency",
    "stage_sort",
    "summarise",
    "time_calls",
    "total_ms",
]
