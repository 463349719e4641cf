"""Sign varieties: how differently the renderer may draw a sign (``classic``, ``wide``, ``unseen``).

* ``classic``: the fixed templates of :mod:`edgeguard.data.templates` (the shipped models' training
  data; unchanged pixel for pixel).
* ``wide``: for training. Each sign gets a random :class:`~edgeguard.data.templates.SignLook` drawn
  from :data:`WIDE` (Hershey stroke fonts and italics, stroke widths, text size and position, border
  and inner proportions, arrow shapes, palette jitter around the classic colours), then wear
  (scratches, bleached patches, grime), graffiti and natural stickers as nuisances. A quarter of the
  signs keep the classic look, and every classic value lies inside the wide ranges (a superset).
* ``unseen``: held out, for evaluation only: drawn with choices that ``wide`` never makes: outline
  (TrueType) fonts instead of stroke fonts, condensed or widened glyphs, rounded polygon corners and a
  dark outer outline, open-V arrow heads, palettes outside the wide jitter (:data:`UNSEEN_PALETTES`),
  rust and peeling paint. It stands in for a new user's own signs: a model that only memorised the
  renderer's drawing loses accuracy here (issue 12).

The issue behind it (issue 12): an adversarially trained model overfits the renderer; widening the
training renderer is the domain-randomisation answer (Tobin et al., IROS'17).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..errors import ConfigError
from . import wear
from .templates import (
    BLACK,
    BLUE,
    CLASSIC_LOOK,
    GREY,
    RED,
    WHITE,
    YELLOW,
    SignLook,
    draw_template,
    render_sign,
)

VARIETIES = ("classic", "wide", "unseen")
TRAIN_VARIETIES = ("classic", "wide")

# Hershey stroke fonts the wide look draws text with (classic: DUPLEX); never TrueType.
WIDE_FONTS = (
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
)
# Ranges of the wide look's multipliers/offsets (uniform); each contains the classic value.
WIDE: dict[str, tuple[float, float]] = {
    "thick": (0.6, 1.6),
    "text_w": (0.8, 1.12),
    "text_dy": (-0.05, 0.05),
    "rim": (0.4, 2.0),
    "inner": (0.9, 1.08),
    "arrow_w": (0.7, 1.35),
    "arrow_head": (0.75, 1.3),
}
WIDE_P_CLASSIC = 0.25  # share of wide signs drawn with the classic look (nuisances still apply)
WIDE_P_ITALIC = 0.15
WIDE_COLOUR_JITTER = 30  # ± per RGB channel around each classic colour
WIDE_NUISANCES: tuple[tuple[str, float], ...] = (
    ("scratches", 0.2),
    ("faded_patches", 0.2),
    ("dirt", 0.25),
    ("graffiti", 0.15),
    ("stickers", 0.25),
)
# Held-out palettes (red, white, blue, yellow, black): faded/cool, deep, warm enamel, retro-reflective
# orange-red. Every red and blue lies outside the wide jitter box (tests check it).
UNSEEN_PALETTES: tuple[tuple[tuple[int, int, int], ...], ...] = (
    ((215, 70, 80), (232, 236, 240), (45, 120, 200), (235, 205, 70), (50, 50, 60)),
    ((150, 0, 18), (250, 250, 250), (0, 40, 120), (255, 210, 0), (0, 0, 0)),
    ((235, 60, 0), (245, 235, 215), (0, 120, 165), (255, 170, 0), (35, 25, 20)),
    ((200, 20, 80), (240, 240, 235), (50, 40, 170), (240, 220, 40), (20, 20, 35)),
)
UNSEEN_NUISANCES: tuple[tuple[str, float], ...] = (("rust", 0.3), ("peeling", 0.3))


def check_variety(variety: str, allowed: tuple[str, ...] = VARIETIES, what: str = "variety") -> str:
    """The variety name, or ConfigError naming the choices."""
    if variety not in allowed:
        extra = " ('unseen' is held out for evaluation)" if variety == "unseen" else ""
        raise ConfigError(f"unknown {what} {variety!r}{extra}; choose {', '.join(allowed)}")
    return variety


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int]) -> tuple[int, int, int]:
    d = rng.integers(-WIDE_COLOUR_JITTER, WIDE_COLOUR_JITTER + 1, size=3)
    return tuple(int(v) for v in np.clip(np.asarray(colour) + d, 0, 255))  # type: ignore[return-value]


def sample_look(rng: np.random.Generator, variety: str) -> SignLook:
    """A random look of ``variety`` (``classic`` always returns the classic look, drawing nothing)."""
    check_variety(variety)
    if variety == "classic":
        return CLASSIC_LOOK
    if variety == "wide":
        if rng.random() < WIDE_P_CLASSIC:
            return CLASSIC_LOOK
        u = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in WIDE.items()}
        font = int(WIDE_FONTS[int(rng.integers(len(WIDE_FONTS)))])
        if rng.random() < WIDE_P_ITALIC:
            font |= cv2.FONT_ITALIC
        red, white, blue, yellow, black, grey = (
            _jitter(rng, c) for c in (RED, WHITE, BLUE, YELLOW, BLACK, GREY)
        )
        return SignLook(
            font=font, red=red, white=white, blue=blue, yellow=yellow, black=black, grey=grey, **u
        )
    from .glyphs import UNSEEN_FONTS

    red, white, blue, yellow, black = UNSEEN_PALETTES[int(rng.integers(len(UNSEEN_PALETTES)))]
    return SignLook(
        ttf=UNSEEN_FONTS[int(rng.integers(len(UNSEEN_FONTS)))],
        thick=float(rng.uniform(1.0, 1.8)),
        text_w=float(rng.uniform(0.85, 1.05)),
        text_h=float(rng.choice([0.8, 1.25, 1.4])),  # widened or condensed glyphs
        corner=float(rng.uniform(0.06, 0.16)),
        outline=float(rng.uniform(0.008, 0.02)),
        chevron=True,
        red=red,
        white=white,
        blue=blue,
        yellow=yellow,
        black=black,
        grey=black,
    )


_NUISANCE: dict[str, Callable[[np.random.Generator, np.ndarray, np.ndarray], None]] = {
    "scratches": wear.scratches,
    "faded_patches": wear.faded_patches,
    "dirt": wear.dirt,
    "graffiti": wear.graffiti,
    "stickers": wear.stickers,
    "rust": wear.rust,
    "peeling": wear.peeling,
}


def draw_sign(idx: int, size: int, rng: np.random.Generator, variety: str) -> tuple[np.ndarray, np.ndarray]:
    """Front view of sign ``idx`` in a random look of ``variety`` with its nuisances, at ``size`` px.

    ``classic`` returns :func:`render_sign` (cached, no random draws). Otherwise the sign is drawn at
    ≥256 px, worn, then area-resized like the classic templates.
    """
    if check_variety(variety) == "classic":
        return render_sign(idx, size)
    look = sample_look(rng, variety)
    base = max(256, int(size))
    rgb, mask = draw_template(idx, base, look)
    rgb = rgb.copy()
    for name, p in WIDE_NUISANCES if variety == "wide" else UNSEEN_NUISANCES:
        if rng.random() < p:
            _NUISANCE[name](rng, rgb, mask)
    if base != size:
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
    return rgb, mask


__all__ = [
    "TRAIN_VARIETIES",
    "UNSEEN_NUISANCES",
    "UNSEEN_PALETTES",
    "VARIETIES",
    "WIDE",
    "WIDE_FONTS",
    "WIDE_NUISANCES",
    "check_variety",
    "draw_sign",
    "sample_look",
]
