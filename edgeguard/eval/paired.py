"""Side-by-side cost of two pipelines: runs interleaved A, B, A, B …, ratio B/A with a bootstrap interval.

On a shared or throttling machine the speed drifts during a benchmark; two pipelines timed one after
the other see different machines. Interleaving them call for call makes run ``i`` of A and run ``i``
of B neighbours in time, so drift hits both alike and cancels in their ratio ``b[i] / a[i]``. The
order within a pair alternates (A B, B A …) so that neither pipeline always runs second, on caches
and thread pools the other just warmed. Resampling the *pairs* (Efron & Tibshirani, *An Introduction
to the Bootstrap*, 1993, ch. 13: the percentile interval) gives an interval for the median
run-for-run ratio that holds under that noise.

numpy only (no scipy: ``scipy.stats.bootstrap`` is in the eval extra, and bench runs on the runtime
install; the paired percentile bootstrap of a median ratio is a few lines of numpy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..pipeline import Pipeline
from .bench import check_counts, frames, stage_samples, stats

SEED = 0
RESAMPLES = 2000


def bootstrap_ratios(
    a: Sequence[float], b: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED
) -> np.ndarray:
    """The median of ``b[i] / a[i]`` over ``resamples`` draws of paired run indices (with replacement)."""
    a_, b_ = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_.shape != b_.shape or a_.ndim != 1 or not a_.size:
        raise ConfigError(f"bootstrap: expected two equally long runs, got {a_.shape} and {b_.shape}")
    if not (a_ > 0).all():
        raise ConfigError("bootstrap: every time of A must be positive (B/A would divide by zero)")
    ratios = b_ / a_
    idx = np.random.default_rng(seed).integers(0, a_.size, (resamples, a_.size))
    return np.median(ratios[idx], axis=1)


def ratio_interval(
    a: Sequence[float],
    b: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, float]:
    """``{"ratio", "low", "high"}``: the median run-for-run ratio B/A and its bootstrap percentile interval.

    The statistic is the median of the paired ratios ``b[i] / a[i]`` (each pair ran back to back, so
    drift cancels inside each ratio), not the ratio of two medians.
    """
    if not 0 < level < 1:
        raise ConfigError(f"--level {level}: expected a confidence level between 0 and 1, e.g. 0.95")
    reps = bootstrap_ratios(a, b, resamples=resamples, seed=seed)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(reps, [tail, 100 - tail])
    ratio = float(np.median(np.asarray(b, dtype=np.float64) / np.asarray(a, dtype=np.float64)))
    return {"ratio": round(ratio, 4), "low": round(float(low), 4), "high": round(float(high), 4)}


def same_input(a: Pipeline, b: Pipeline, names: tuple[str, str]) -> None:
    """Raise ConfigError unless both pipelines take the same images (size, colour, input tensor shape).

    A ratio between pipelines fed different images would measure the images, not the pipelines.
    """
    sa, sb = a.engine.inputs[0], b.engine.inputs[0]
    if tuple(a.size) != tuple(b.size) or a.color != b.color or sa.shape[1:] != sb.shape[1:]:
        raise ConfigError(
            f"--compare: {names[0]} takes {a.size[0]}x{a.size[1]} {a.color} ({sa.describe()}) but "
            f"{names[1]} takes {b.size[0]}x{b.size[1]} {b.color} ({sb.describe()}); compare engines "
            f"with the same input"
        )


def compare(
    a: Pipeline,
    b: Pipeline,
    *,
    batch: int = 1,
    iters: int = 100,
    warmup: int = 10,
    images: Sequence[np.ndarray] | None = None,
    level: float = 0.95,
    seed: int = SEED,
) -> dict[str, Any]:
    """Run ``a`` and ``b`` alternately on the same frames; per stage their stats and the B/A ratio.

    Returns:
        ``{"batch", "iters", "warmup", "level", "stages": {stage: {"a": stats, "b": stats, "ratio",
        "low", "high"}}}`` for the stages both pipelines have (a host stage only one has appears with its
        side's stats and no ratio).
    """
    check_counts(iters, warmup)
    if not 0 < level < 1:
        raise ConfigError(f"--level {level}: expected a confidence level between 0 and 1, e.g. 0.95")
    imgs = list(images) if images is not None else frames()
    runs: dict[str, list[dict[str, float]]] = {"a": [], "b": []}
    with a, b:
        for i in range(warmup + iters):
            chunk = [imgs[(i * batch + j) % len(imgs)] for j in range(batch)]
            order = (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a))
            for key, pipe in order:  # A B, B A, A B …: neighbours in time, neither always second
                timing = dict(pipe(chunk)[0].timing_ms)
                if i >= warmup:
                    runs[key].append(timing)
    sa, sb = stage_samples(runs["a"]), stage_samples(runs["b"])
    stages: dict[str, dict[str, Any]] = {}
    for name in [*sa, *(k for k in sb if k not in sa)]:
        entry: dict[str, Any] = {}
        if name in sa:
            entry["a"] = stats(sa[name])
        if name in sb:
            entry["b"] = stats(sb[name])
        if name in sa and name in sb and len(sa[name]) == len(sb[name]) and min(sa[name]) > 0:
            entry.update(ratio_interval(sa[name], sb[name], level=level, seed=seed))
        stages[name] = entry
    return {
        "batch": batch,
        "iters": iters,
        "warmup": warmup,
        "level": level,
        "resamples": RESAMPLES,
        "statistic": "median of paired ratios B/A, bootstrap percentile interval",
        "stages": stages,
    }


__all__ = ["RESAMPLES", "SEED", "bootstrap_ratios", "compare", "ratio_interval", "same_input"]
