"""Outline (TrueType) glyphs for sign text, rendered by Pillow's FreeType binding.

The classic and "wide" looks write sign text with OpenCV's Hershey *stroke* fonts; the held-out
"unseen" look writes it with *outline* fonts (the DejaVu faces matplotlib ships, so nothing is
downloaded), a glyph rendering the training data never contains, as a user's own signs would be.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError

# Outline faces bundled with matplotlib (the eval extra; DejaVu sans/serif, STIX Times-like bold; not
# the monospace face, whose dotted zero no road sign has). None of them is used to make training data.
UNSEEN_FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneralBol.ttf")


@lru_cache(maxsize=8)
def font_path(name: str) -> str:
    """Absolute path of a font file bundled with matplotlib."""
    try:
        import matplotlib
    except ImportError as err:
        raise ConfigError(
            "the 'unseen' sign look draws text with matplotlib's fonts: pip install 'edgeguard[eval]'"
        ) from err
    p = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not p.is_file():
        raise ConfigError(f"font {name!r} not found in matplotlib's data ({p.parent})")
    return str(p)


@lru_cache(maxsize=64)
def _glyph_mask(text: str, font: str, stroke: int) -> np.ndarray:
    """Tight float32 coverage mask of ``text`` at a 200 px font size (cached, resized per use)."""
    from PIL import Image, ImageDraw, ImageFont

    f = ImageFont.truetype(font_path(font), 200)
    x0, y0, x1, y1 = f.getbbox(text, stroke_width=stroke)
    im = Image.new("L", (x1 - x0 + 8, y1 - y0 + 8), 0)
    ImageDraw.Draw(im).text((4 - x0, 4 - y0), text, font=f, fill=255, stroke_width=stroke, stroke_fill=255)
    a = np.asarray(im, np.float32) / 255.0
    ys, xs = np.nonzero(a > 0)
    return np.ascontiguousarray(a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def draw_ttf_text(
    img: np.ndarray,
    text: str,
    cx: float,
    cy: float,
    width: float,
    color: tuple[int, int, int],
    font: str,
    thick: float = 1.0,
    stretch: float = 1.0,
) -> None:
    """Centre ``text`` at (cx, cy), ``width`` px wide, glyph height × ``stretch``; ``thick`` > 1 emboldens."""
    import cv2

    stroke = int(round(max(0.0, thick - 1.0) * 12))
    a = _glyph_mask(text, font, stroke)
    h0, w0 = a.shape
    w = max(2, int(round(width)))
    h = max(2, int(round(w * h0 / w0 * stretch)))
    a = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    H, W = img.shape[:2]  # noqa: N806
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
    if xb <= xa or yb <= ya:
        return
    cov = a[ya - y0 : yb - y0, xa - x0 : xb - x0, None]
    roi = img[ya:yb, xa:xb].astype(np.float32)
    img[ya:yb, xa:xb] = np.clip(roi * (1 - cov) + cov * np.asarray(color, np.float32), 0, 255).astype(
        np.uint8
    )


__all__ = ["UNSEEN_FONTS", "draw_ttf_text", "font_path"]
