"""The scenario's pictures: a grid of example frames with each configuration's reading, and the
annotated drive-by video (the approach with the naive sticker, every configuration's reading per frame).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

GREEN, RED, ORANGE, WHITE = (40, 180, 40), (40, 40, 220), (0, 150, 255), (255, 255, 255)


def grid_png(
    path: Path,
    examples: Mapping[tuple[str, str], Mapping[str, Any]],
    configs: Sequence[str],
    stickers: Sequence[str],
    condition: str,
) -> None:
    """Rows: configurations; columns: stickers; each cell the example frame that configuration saw
    (its own adaptive/query sticker) titled with its reading — green stop, red fooled, orange flagged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(configs), len(stickers), figsize=(2.1 * len(stickers), 2.3 * len(configs)), squeeze=False
    )
    for i, cfg in enumerate(configs):
        for j, kind in enumerate(stickers):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            ex = examples.get((cfg, kind))
            if ex is None:
                ax.axis("off")
                continue
            ax.imshow(cv2.cvtColor(ex["crop"], cv2.COLOR_BGR2RGB))
            colour = "orange" if ex["flagged"] else ("green" if ex["stop"] else "red")
            ax.set_title(ex["label"] + (" [flagged]" if ex["flagged"] else ""), fontsize=7, color=colour)
            if j == 0:
                ax.set_ylabel(cfg, fontsize=8)
            if i == 0:
                ax.set_xlabel(kind, fontsize=8)
                ax.xaxis.set_label_position("top")
    fig.suptitle(f"stop sign at {condition}: each configuration's reading per sticker", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=90)
    plt.close(fig)


def annotate(
    frame: np.ndarray,
    roi: tuple[int, int, int, int],
    readings: Sequence[tuple[str, Mapping[str, Any]]],
    title: str,
) -> np.ndarray:
    """One video frame: the ROI box and one line per configuration (its label, fooled / flagged)."""
    img = frame.copy()
    x, y, w, h = roi
    cv2.rectangle(img, (x, y), (x + w, y + h), (255, 255, 0), 1)
    cv2.rectangle(img, (0, 0), (330, 22 + 18 * len(readings)), (0, 0, 0), -1)
    cv2.putText(img, title, (6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, WHITE, 1, cv2.LINE_AA)
    for k, (name, r) in enumerate(readings):
        colour = ORANGE if r["flagged"] else (GREEN if r["stop"] else RED)
        text = f"{name}: {r['label']}" + (" [flagged]" if r["flagged"] else "")
        cv2.putText(img, text[:48], (6, 34 + 18 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return img


def video(
    path: Path,
    frames: Sequence[np.ndarray],
    rois: Sequence[tuple[int, int, int, int]],
    readings: Mapping[str, Sequence[Mapping[str, Any]]],
    title: str,
    fps: float = 15.0,
) -> bool:
    """Write the annotated approach as MP4 (``mp4v``); ``False`` when OpenCV cannot encode here."""
    if not frames:
        return False
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        return False
    try:
        for i, (frame, roi) in enumerate(zip(frames, rois)):
            writer.write(annotate(frame, roi, [(c, rs[i]) for c, rs in readings.items()], title))
    finally:
        writer.release()
    return True


__all__ = ["annotate", "grid_png", "video"]
