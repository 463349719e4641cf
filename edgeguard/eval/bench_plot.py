"""``edgeguard bench --plot``: median end-to-end latency vs batch (one line per input size) and vs size.

matplotlib comes with the ``eval`` extra; the CLI checks for it before measuring anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .bench import Point


def plot_points(points: Sequence[Point], path: str | Path, title: str = "") -> None:
    """Write a PNG: left, ms per image vs batch (a line per size); right, ms per call vs input size."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    sizes = sorted({p.size for p in points})
    batches = sorted({p.batch for p in points})
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for size in sizes:
        row = sorted((p for p in points if p.size == size), key=lambda p: p.batch)
        left.plot(
            [p.batch for p in row],
            [p.stages["total"]["p50"] / p.batch for p in row],
            marker="o",
            label=f"{size[0]}x{size[1]}",
        )
    left.set(xlabel="batch", ylabel="end to end, ms per image (p50)", xscale="log")
    left.set_xticks(batches, [str(b) for b in batches])
    left.legend(title="input size")
    for b in batches:
        row = sorted((p for p in points if p.batch == b), key=lambda p: p.size)
        right.plot(
            [p.size[0] * p.size[1] for p in row],
            [p.stages["total"]["p50"] for p in row],
            marker="o",
            label=f"batch {b}",
        )
    right.set(xlabel="input pixels (H×W)", ylabel="end to end, ms per call (p50)")
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(str(path), format="png", dpi=100)
    plt.close(fig)


__all__ = ["plot_points"]
