"""High-resolution traffic-sign templates drawn with OpenCV (no external assets).

Each template is an RGB image plus a uint8 coverage mask (255 inside the sign). Templates are drawn at
a high resolution (default 256 px) and warped *down* by :mod:`edgeguard.data.render`, so digits and
pictograms stay recognisable at 64×64. The camera drive-by source and sticker (RP2, seed 004)
attacks reuse :func:`render_sign` as their sign source.

Shapes and colours follow the Vienna-convention signs (European road signs, as in GTSRB). A
:class:`SignLook` changes how a sign is drawn (font, stroke width, proportions, palette, arrow heads,
border style) without changing what it is; the default look draws the classic templates, pixel for
pixel (:mod:`edgeguard.data.looks` samples the "wide" and held-out "unseen" looks).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..errors import ConfigError

# Class order is part of the shipped weights' contract: never reorder, only append.
CLASSES: tuple[str, ...] = (
    "stop",
    "yield",
    "no_entry",
    "speed_limit_30",
    "speed_limit_50",
    "speed_limit_60",
    "speed_limit_80",
    "priority_road",
    "pedestrian_crossing",
    "keep_right",
    "turn_left_ahead",
    "turn_right_ahead",
    "no_parking",
)
LABELS: tuple[str, ...] = tuple(c.replace("_", " ") for c in CLASSES)

RED = (200, 22, 32)
WHITE = (246, 246, 242)
BLUE = (0, 82, 170)
YELLOW = (250, 196, 0)
BLACK = (22, 22, 22)
GREY = (60, 60, 60)  # the priority-road diamond's dark edge

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class SignLook:
    """How a sign is drawn. The defaults are the classic templates (the shipped models' training data).

    Multipliers are 1.0 by default and applied last, so the default look reproduces the classic
    arithmetic exactly (x * 1.0 == x in IEEE floats): classic pixels never change.
    """

    font: int = cv2.FONT_HERSHEY_DUPLEX  # Hershey stroke font (cv2.putText), optionally | FONT_ITALIC
    ttf: str | None = None  # a TrueType font file instead (outline glyphs; the held-out "unseen" look)
    thick: float = 1.0  # glyph / bar stroke width ×
    text_w: float = 1.0  # text width ×
    text_h: float = 1.0  # TrueType glyph height / width stretch (condensed > 1)
    text_dy: float = 0.0  # vertical text offset, fraction of the sign's side
    rim: float = 1.0  # white border ring width ×
    inner: float = 1.0  # inner shapes (speed-limit disc, yield/priority/no-parking inner) ×
    arrow_w: float = 1.0  # arrow shaft width ×
    arrow_head: float = 1.0  # arrow head size ×
    chevron: bool = False  # open V arrow heads instead of filled triangles
    corner: float = 0.0  # corner rounding radius of polygons, fraction of the sign's radius
    outline: float = 0.0  # dark outer outline width, fraction of the sign's side
    red: RGB = RED
    white: RGB = WHITE
    blue: RGB = BLUE
    yellow: RGB = YELLOW
    black: RGB = BLACK
    grey: RGB = GREY


CLASSIC_LOOK = SignLook()


def class_index(cls: int | str) -> int:
    """Index of a class given its index, id (``speed_limit_30``) or label (``speed limit 30``).

    Raises:
        ConfigError: unknown name or index out of range (close names suggested).
    """
    if isinstance(cls, (int, np.integer)) and not isinstance(cls, bool):
        if 0 <= int(cls) < len(CLASSES):
            return int(cls)
        raise ConfigError(f"sign class index {cls} out of range 0..{len(CLASSES) - 1}")
    key = str(cls).strip().lower().replace(" ", "_").replace("-", "_")
    if key in CLASSES:
        return CLASSES.index(key)
    close = difflib.get_close_matches(key, CLASSES, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown sign class {cls!r}{hint} (known: {', '.join(CLASSES)})")


def _poly(
    img: np.ndarray,
    mask: np.ndarray | None,
    pts: np.ndarray,
    color: tuple[int, int, int],
    round_px: float = 0.0,
) -> None:
    if round_px > 0:  # rounded corners: the polygon shrunk by the radius, traced with a round-capped pen
        cen = pts.mean(axis=0)
        d = np.linalg.norm(pts - cen, axis=1, keepdims=True)
        pts = cen + (pts - cen) * np.maximum(d - round_px * 1.6, 1.0) / d
        q = np.round(pts * 16).astype(np.int32)
        pen = max(1, int(round(2 * round_px)))
        for target, col in ((img, color), (mask, 255)):
            if target is not None:
                cv2.fillPoly(target, [q], col, cv2.LINE_AA, 4)
                cv2.polylines(target, [q], True, col, pen, cv2.LINE_AA, 4)
        return
    p = np.round(pts * 16).astype(np.int32)  # 4 fractional bits: smooth edges at high resolution
    cv2.fillPoly(img, [p], color, cv2.LINE_AA, 4)
    if mask is not None:
        cv2.fillPoly(mask, [p], 255, cv2.LINE_AA, 4)


def _disc(img: np.ndarray, mask: np.ndarray | None, c: float, r: float, color: tuple[int, int, int]) -> None:
    ci, ri = int(round(c * 16)), int(round(r * 16))
    cv2.circle(img, (ci, ci), ri, color, -1, cv2.LINE_AA, 4)
    if mask is not None:
        cv2.circle(mask, (ci, ci), ri, 255, -1, cv2.LINE_AA, 4)


def _regular(c: float, r: float, n: int, phase: float) -> np.ndarray:
    a = np.deg2rad(phase + 360.0 / n * np.arange(n))
    return np.stack([c + r * np.cos(a), c + r * np.sin(a)], axis=1)


def _text(
    img: np.ndarray,
    text: str,
    cx: float,
    cy: float,
    width: float,
    color: tuple[int, int, int],
    thick_frac: float = 0.11,
    look: SignLook = CLASSIC_LOOK,
) -> None:
    """Centre ``text`` at (cx, cy) scaled to ``width`` pixels (Hershey fonts are built into OpenCV)."""
    width = width * look.text_w
    cy = cy + look.text_dy * img.shape[0]
    if look.ttf is not None:  # outline glyphs (the held-out look): Pillow's FreeType renderer
        from .glyphs import draw_ttf_text

        draw_ttf_text(img, text, cx, cy, width, color, look.ttf, look.thick, look.text_h)
        return
    font = look.font
    (w0, _), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = width / w0
    thick = max(1, int(round(scale * 30 * thick_frac * look.thick)))
    (w, h), _ = cv2.getTextSize(text, font, scale, thick)
    org = (int(round(cx - w / 2)), int(round(cy + h / 2)))
    cv2.putText(img, text, org, font, scale, color, thick, cv2.LINE_AA)


def _arrow(
    img: np.ndarray,
    pts: list[tuple[float, float]],
    head: float,
    width: float,
    color: tuple[int, int, int],
    chevron: bool = False,
) -> None:
    """Thick polyline whose last segment ends in a triangular (or open V, ``chevron``) arrow head."""
    p = np.asarray(pts, dtype=np.float64)
    d = p[-1] - p[-2]
    d /= np.linalg.norm(d)
    n = np.array([-d[1], d[0]])
    if chevron:  # the shaft runs to the tip; two strokes bent back from it
        shaft = np.round(p * 16).astype(np.int32)
        cv2.polylines(img, [shaft], False, color, int(width), cv2.LINE_AA, 4)
        wing = np.round(np.array([p[-1] - d * head + n * head, p[-1], p[-1] - d * head - n * head]) * 16)
        pen = max(1, int(width * 0.6))
        cv2.polylines(img, [wing.astype(np.int32)], False, color, pen, cv2.LINE_AA, 4)
        return
    base = p[-1] - d * head
    shaft = np.vstack([p[:-1], base])
    cv2.polylines(img, [np.round(shaft * 16).astype(np.int32)], False, color, int(width), cv2.LINE_AA, 4)
    _poly(img, None, np.array([p[-1] + d * 0.0, base + n * head * 0.8, base - n * head * 0.8]), color)


def _pedestrian(img: np.ndarray, s: float, look: SignLook = CLASSIC_LOOK) -> None:
    """Blue square, white triangle, walking figure on a zebra crossing (e.g. German sign 350)."""
    WHITE, BLACK = look.white, look.black  # noqa: N806 - the look's palette under the classic names
    _poly(img, None, np.array([[0.5, 0.16], [0.87, 0.8], [0.13, 0.8]]) * s, WHITE, look.corner * s * 0.5)
    t = max(2, int(0.035 * s * look.thick))
    cv2.circle(img, (int(0.53 * s), int(0.33 * s)), int(0.045 * s), BLACK, -1, cv2.LINE_AA)
    for a, b in [
        ((0.52, 0.39), (0.49, 0.56)),
        ((0.49, 0.56), (0.42, 0.68)),
        ((0.49, 0.56), (0.57, 0.67)),
        ((0.51, 0.44), (0.42, 0.52)),
        ((0.51, 0.44), (0.6, 0.5)),
    ]:
        cv2.line(img, (int(a[0] * s), int(a[1] * s)), (int(b[0] * s), int(b[1] * s)), BLACK, t, cv2.LINE_AA)
    for k in range(4):
        x0 = 0.3 + k * 0.115
        _poly(
            img,
            None,
            np.array([[x0, 0.71], [x0 + 0.07, 0.71], [x0 + 0.05, 0.76], [x0 - 0.02, 0.76]]) * s,
            BLACK,
        )


def _rim(k: float, m: float) -> float:
    """Inner radius ratio ``k`` of a border ring whose width ``1 - k`` is scaled by ``m`` (exact at 1)."""
    return k if m == 1.0 else 1.0 - (1.0 - k) * m


@lru_cache(maxsize=64)
def _template(idx: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    return draw_template(idx, size, CLASSIC_LOOK)


def draw_template(idx: int, size: int, look: SignLook) -> tuple[np.ndarray, np.ndarray]:
    """Draw sign ``idx`` at ``size`` px with ``look`` (uncached; :func:`render_sign` caches classic)."""
    RED, WHITE, BLUE, YELLOW, BLACK = look.red, look.white, look.blue, look.yellow, look.black  # noqa: N806
    s = float(size)
    c, r = s / 2, s / 2 - 1.5
    rc = look.corner * r  # polygon corner radius (0: sharp, the classic and wide looks)
    img = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    name = CLASSES[idx]
    if name == "stop":
        ph = 22.5
        _poly(img, mask, _regular(c, r, 8, ph), WHITE, rc)
        _poly(img, None, _regular(c, r * _rim(0.9, look.rim), 8, ph), RED, rc)
        _text(img, "STOP", c, c, 0.74 * s, WHITE, 0.12, look)
    elif name == "yield":
        tri = np.array([[c - r, c - 0.75 * r], [c + r, c - 0.75 * r], [c, c + r]])
        _poly(img, mask, tri, RED, rc)
        cen = tri.mean(axis=0)
        _poly(img, None, cen + (tri - cen) * (0.62 * look.inner), WHITE, rc * 0.6)
    elif name == "no_entry":
        _disc(img, mask, c, r, WHITE)
        _disc(img, None, c, r * _rim(0.95, look.rim), RED)
        bh = 0.17 * look.thick
        _poly(
            img,
            None,
            np.array(
                [
                    [c - 0.62 * r, c - bh * r],
                    [c + 0.62 * r, c - bh * r],
                    [c + 0.62 * r, c + bh * r],
                    [c - 0.62 * r, c + bh * r],
                ]
            ),
            WHITE,
            rc * 0.5,
        )
    elif name.startswith("speed_limit_"):
        _disc(img, mask, c, r, WHITE)
        _disc(img, None, c, r * _rim(0.96, look.rim), RED)
        _disc(img, None, c, r * 0.74 * look.inner, WHITE)
        _text(img, name.rsplit("_", 1)[1], c, c, 0.82 * r, BLACK, 0.13, look)
    elif name == "priority_road":
        dia = np.array([[c, c - r], [c + r, c], [c, c + r], [c - r, c]])
        _poly(img, mask, dia, look.grey, rc)
        _poly(img, None, c + (dia - c) * _rim(0.96, look.rim), WHITE, rc)
        _poly(img, None, c + (dia - c) * (0.66 * look.inner), YELLOW, rc * 0.6)
    elif name == "pedestrian_crossing":
        sq = np.array([[c - r, c - r], [c + r, c - r], [c + r, c + r], [c - r, c + r]])
        _poly(img, mask, sq, WHITE, rc)
        _poly(img, None, c + (sq - c) * _rim(0.95, look.rim), BLUE, rc)
        _pedestrian(img, s, look)
    elif name in ("keep_right", "turn_left_ahead", "turn_right_ahead"):
        _disc(img, mask, c, r, WHITE)
        _disc(img, None, c, r * _rim(0.95, look.rim), BLUE)
        w = 0.15 * s * look.arrow_w
        head = 0.2 * s * look.arrow_head
        if name == "keep_right":
            _arrow(img, [(0.3 * s, 0.3 * s), (0.7 * s, 0.7 * s)], head, w, WHITE, look.chevron)
        else:
            # stem up from the bottom, quarter turn, head pointing left (German sign 209-10)
            _arrow(
                img,
                [
                    (0.58 * s, 0.82 * s),
                    (0.58 * s, 0.5 * s),
                    (0.52 * s, 0.4 * s),
                    (0.42 * s, 0.37 * s),
                    (0.2 * s, 0.37 * s),
                ],
                head,
                w,
                WHITE,
                look.chevron,
            )
            if name == "turn_right_ahead":
                img[:] = img[:, ::-1]
    elif name == "no_parking":
        _disc(img, mask, c, r, WHITE)
        _disc(img, None, c, r * _rim(0.95, look.rim), RED)
        _disc(img, None, c, r * 0.76 * look.inner, BLUE)
        d = 0.76 * look.inner * r * np.sqrt(0.5)
        cv2.line(
            img,
            (int(c - d), int(c - d)),
            (int(c + d), int(c + d)),
            RED,
            int(0.14 * r * 2 * 0.6 * look.thick),
            cv2.LINE_AA,
        )
    else:  # pragma: no cover - CLASSES and this function are edited together
        raise ConfigError(f"no template for sign class {name!r}")
    if look.outline > 0:  # a dark edge along the sign's outline (some makers' border style)
        k = max(1, int(round(look.outline * s)))
        inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
        img[(mask > 0) & (inner < 128)] = look.black
    img[mask == 0] = 0
    img.setflags(write=False)
    mask.setflags(write=False)
    return img, mask


def render_sign(cls: int | str, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Render the front view of a sign template.

    Args:
        cls: class index, id (``"stop"``) or label (``"speed limit 30"``).
        size: side of the square output in pixels (templates are drawn at ≥256 px and area-resized).

    Returns:
        ``(rgb, mask)``: uint8 ``(size, size, 3)`` RGB image (black outside the sign) and uint8
        ``(size, size)`` coverage mask (255 inside). Both are read-only; copy before editing.

    Raises:
        ConfigError: unknown class or size < 8.
    """
    idx = class_index(cls)
    if int(size) < 8:
        raise ConfigError(f"render_sign: size must be >= 8 pixels, got {size}")
    size = int(size)
    base = max(256, size)
    img, mask = _template(idx, base)
    if base != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
        img.setflags(write=False)
        mask.setflags(write=False)
    return img, mask
