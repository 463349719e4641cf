"""Annotate a frame with what the pipeline decided and what it cost.

Drawn in place on a BGR uint8 frame: a translucent panel with the top-k labels and confidences, the
adversarial score with a bar (and the detector threshold as a tick), both FPS figures labelled
(end-to-end vs engine-only, REFERENCE complaint 11), per-stage milliseconds, the ROI the classifier saw,
and a red border when the frame is flagged. With a comparison engine (the demo's undefended model) a
second panel at the bottom left shows its reading beside the defended one (:func:`draw_compare`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, GREY, RED, GREEN, YELLOW, AMBER = (
    (255, 255, 255),
    (190, 190, 190),
    (40, 40, 230),
    (80, 200, 80),
    (0, 220, 255),
    (0, 170, 255),
)
SHORT = {"preprocess": "pre", "engine": "eng", "decision": "dec", "escalation": "esc", "total": "total"}


@dataclass
class OverlayInfo:
    """Everything the overlay shows besides the decision itself."""

    fps_e2e: float = float("nan")
    fps_engine: float = float("nan")
    timing_ms: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None
    roi: tuple[int, int, int, int] | None = None
    frame_index: int = 0
    escalated: str | None = None
    title: str | None = None  # a first row naming the engine (set when a comparison panel is drawn)
    truth: str | None = None  # the true label, when the source knows it: other readings are drawn red


def _fps(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def stage_line(timing: dict[str, float]) -> str:
    """``pre 0.4  jpeg 1.2  eng 0.9 …  total 2.8 ms`` (stage names shortened)."""
    parts = []
    for key, v in timing.items():
        name = SHORT.get(key, key.removeprefix("stage:"))
        parts.append(f"{name} {v:.1f}" if v < 100 else f"{name} {v:.0f}")
    return "  ".join(parts) + " ms"


# Longest label drawn: a frame shows ~60 characters at most, and cv2.getTextSize/putText walk every
# character (a 1 MB label once cost 2 s per frame; issue #10). The events and summary keep it whole.
LABEL_MAX = 40


def short(label: object, limit: int = LABEL_MAX) -> str:
    """A label cut to ``limit`` characters ("..." marks the cut; OpenCV's Hershey fonts are ASCII)."""
    text = str(label)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _label(
    img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int]
) -> None:
    """Text on a filled dark box (readable over any background)."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    x, y = org
    y = max(th + base + 2, y)
    cv2.rectangle(img, (x, y - th - base - 2), (x + tw + 4, y + 2), (0, 0, 0), -1)
    cv2.putText(img, text, (x + 2, y - base + 1), FONT, scale, colour, 1, cv2.LINE_AA)


def draw(frame: np.ndarray, decision: dict[str, Any], info: OverlayInfo) -> np.ndarray:
    """Draw the overlay onto ``frame`` (modified in place and returned)."""
    h, w = frame.shape[:2]
    s = max(0.4, min(1.2, w / 1280.0 * 1.1))  # text scale follows the frame width
    top = decision.get("top") or []
    flagged = bool(decision.get("flagged", False))
    score = decision.get("adv_score")
    # (text, scale, colour, thickness); the adversarial-score row gets a bar after its text.
    rows: list[tuple[str, float, tuple[int, int, int], int]] = []
    if info.title:
        rows.append((info.title, 0.65 * s, YELLOW, 1))
    if top:
        wrong = info.truth is not None and top[0]["label"] != info.truth
        colour = RED if flagged or wrong else WHITE
        rows.append((f"{short(top[0]['label'])}  {top[0]['prob']:.1%}", 1.1 * s, colour, 2))
        rows += [(f"  {short(t['label'])}  {t['prob']:.1%}", 0.75 * s, GREY, 1) for t in top[1:3]]
    elif "boxes" in decision:
        rows.append((f"{len(decision['boxes'])} objects", 1.1 * s, WHITE, 2))
    adv_row = len(rows)
    if score is None:
        rows.append(("adversarial score: n/a (no detector in engine)", 0.7 * s, GREY, 1))
    else:
        rows.append(
            (
                f"adversarial {score:.3f}" + ("  FLAGGED" if flagged else ""),
                0.7 * s,
                RED if flagged else GREEN,
                1 + int(flagged),
            )
        )
    if info.escalated:
        rows.append((f"escalated via {info.escalated}", 0.7 * s, AMBER, 1))
    rows.append(
        (f"FPS end-to-end {_fps(info.fps_e2e)} | engine-only {_fps(info.fps_engine)}", 0.7 * s, WHITE, 1)
    )
    if info.timing_ms:
        rows.append((stage_line(info.timing_ms), 0.6 * s, GREY, 1))
    sizes = [cv2.getTextSize(t, FONT, sc, th) for t, sc, _, th in rows]
    pad = max(4, int(8 * s))
    border = max(4, int(min(h, w) * 0.015)) if flagged else 0
    bar_w = int(120 * s / 0.55) if score is not None else 0
    pw = min(
        w - border,
        max(sz[0][0] + (bar_w + pad if i == adv_row else 0) for i, sz in enumerate(sizes)) + 2 * pad,
    )
    heights = [sz[0][1] + sz[1] + pad for sz in sizes]
    ph = min(h - border, sum(heights) + pad)
    panel = frame[border : border + ph, border : border + pw]
    panel[:] = (panel.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken to 40 %: text stays readable
    y = pad + border
    for i, ((text, sc, colour, th), hgt, sz) in enumerate(zip(rows, heights, sizes)):
        base_y = y + sz[0][1]
        cv2.putText(frame, text, (border + pad, base_y), FONT, sc, colour, th, cv2.LINE_AA)
        if i == adv_row and score is not None:
            thr = info.threshold if info.threshold and info.threshold > 0 else None
            full = 2.0 * thr if thr else 1.0  # the bar spans 0 .. 2 × threshold (or 0 .. 1)
            bx, by, bh = border + pad + sz[0][0] + pad, base_y - sz[0][1], sz[0][1]
            fill = int(bar_w * min(1.0, max(0.0, score / full)))
            cv2.rectangle(frame, (bx, by), (bx + fill, by + bh), RED if flagged else GREEN, -1)
            cv2.rectangle(frame, (bx, by), (bx + bar_w, by + bh), GREY, 1)
            if thr:
                cv2.line(frame, (bx + bar_w // 2, by - 3), (bx + bar_w // 2, by + bh + 3), WHITE, 2)
        y += hgt
    if info.roi is not None:
        x, yy, bw, bh = info.roi
        colour = RED if flagged else YELLOW
        cv2.rectangle(frame, (x, yy), (x + bw - 1, yy + bh - 1), colour, max(1, int(2 * s)))
        if top:
            _label(frame, short(top[0]["label"]), (x, yy - 2), 0.6 * s, colour)
    tag = f"#{info.frame_index}"
    (tw, _), _ = cv2.getTextSize(tag, FONT, 0.55 * s, 1)
    _label(frame, tag, (w - tw - 8 - border, h - 4 - border), 0.55 * s, GREY)
    if flagged:
        cv2.rectangle(
            frame, (border // 2, border // 2), (w - 1 - border // 2, h - 1 - border // 2), RED, border
        )
    return frame


def draw_compare(
    frame: np.ndarray, decision: dict[str, Any] | None, title: str, truth: str | None, note: str = ""
) -> np.ndarray:
    """A second panel at the bottom left (clear of the roadside sign, which ends up large at the right):
    ``title`` and that engine's top-1 reading (red when it is not ``truth``), plus ``note`` (e.g. the
    running fooled counts). Modified in place and returned."""
    h, w = frame.shape[:2]
    s = max(0.4, min(1.2, w / 1280.0 * 1.1))
    top = (decision or {}).get("top") or []
    rows: list[tuple[str, float, tuple[int, int, int], int]] = [(title, 0.65 * s, YELLOW, 1)]
    if top:
        wrong = truth is not None and top[0]["label"] != truth
        rows.append((f"{short(top[0]['label'])}  {top[0]['prob']:.1%}", 1.1 * s, RED if wrong else WHITE, 2))
    if note:
        rows.append((note, 0.6 * s, GREY, 1))
    sizes = [cv2.getTextSize(t, FONT, sc, th) for t, sc, _, th in rows]
    pad = max(4, int(8 * s))
    pw = min(w // 2, max(sz[0][0] for sz in sizes) + 2 * pad)
    heights = [sz[0][1] + sz[1] + pad for sz in sizes]
    ph = min(h, sum(heights) + pad)
    border = max(4, int(min(h, w) * 0.015))  # clear of a flagged frame's red border
    y0 = max(0, h - ph - border)
    panel = frame[y0 : y0 + ph, border : border + pw]
    panel[:] = (panel.astype(np.uint16) * 2 // 5).astype(np.uint8)
    y = y0 + pad
    for (text, sc, colour, th), hgt, sz in zip(rows, heights, sizes):
        cv2.putText(frame, text, (border + pad, y + sz[0][1]), FONT, sc, colour, th, cv2.LINE_AA)
        y += hgt
    return frame


__all__ = ["OverlayInfo", "draw", "draw_compare", "stage_line"]
