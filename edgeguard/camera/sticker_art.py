"""Stickers the synthetic drive-by pastes on the stop sign's face (``synthetic:stop-sign?sticker=…``).

* ``sticker=1``: the fixed RP2-style "camouflage art" pattern (:data:`PATTERN`), not optimised;
* ``sticker=stop-bars`` (a name): a sticker shipped in ``edgeguard/models/stickers/`` — ``stop-bars`` is
  the RP2 sticker optimised against the demo configuration (``make sticker``);
* ``sticker=PATH.png``: a sticker written by ``edgeguard attack rp2`` (RGBA: the sticker's colours,
  alpha 255 on the sticker), with its ``PATH.json`` beside it.

An optimised sticker is pasted exactly as the attack applied it (``attacks/sticker.py`` ``composite``):
its pixels replace the face inside the mask, in the same face coordinates (the PNG and the template are
both square renders of the whole face by ``data.templates.render_sign``), scaled to the template's side
by nearest-neighbour so every template pixel takes one of the sticker's printable colours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import SourceError

STICKER_DIR = Path(__file__).resolve().parent.parent / "models" / "stickers"
# RP2 camouflage-art layout, in template fractions (x0, y0, x1, y1) and colour (BGR).
PATTERN = (
    ((0.24, 0.22, 0.44, 0.31), (245, 245, 245)),
    ((0.56, 0.22, 0.76, 0.31), (245, 245, 245)),
    ((0.24, 0.69, 0.44, 0.78), (20, 20, 20)),
    ((0.56, 0.69, 0.76, 0.78), (20, 20, 20)),
)


@dataclass(frozen=True)
class Sticker:
    """A sticker at template resolution: BGR colours and a 0/1 mask (``(side, side)`` uint8)."""

    bgr: np.ndarray
    mask: np.ndarray
    name: str


def shipped_stickers() -> list[str]:
    """Names of the stickers shipped in the package (``stop-bars``)."""
    return sorted(p.stem for p in STICKER_DIR.glob("*.png") if not p.stem.endswith(".stickered"))


def resolve(value: str) -> Path | None:
    """The PNG a ``sticker=`` value names; ``None`` for the fixed pattern (``1``/``true``/``yes``).

    Raises:
        SourceError: neither a shipped name nor an existing ``.png`` with its ``.json`` beside it.
    """
    if value in ("1", "true", "yes"):
        return None
    names = shipped_stickers()
    if value in names:
        return STICKER_DIR / f"{value}.png"
    path = Path(value).expanduser()
    if path.suffix.lower() != ".png":
        raise SourceError(
            f"sticker={value!r}: expected 1 (fixed pattern), a shipped sticker "
            f"({', '.join(names) or 'none'}) or a .png written by `edgeguard attack rp2`"
        )
    if not path.is_file():
        raise SourceError(f"sticker={value!r}: no such file")
    if not path.with_suffix(".json").is_file():
        raise SourceError(
            f"sticker={value!r}: its {path.with_suffix('.json').name} (mask geometry, written beside the "
            f"PNG by `edgeguard attack rp2`) is missing"
        )
    return path


def load(path: Path, side: int) -> Sticker:
    """Read an ``edgeguard attack rp2`` sticker and scale it to a ``side``-pixel template.

    Raises:
        SourceError: unreadable PNG/JSON, no alpha channel, not square, or a JSON without a mask.
    """
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3 or img.shape[2] != 4:
        raise SourceError(f"sticker={str(path)!r}: not an RGBA PNG written by `edgeguard attack rp2`")
    if img.shape[0] != img.shape[1]:
        raise SourceError(f"sticker={str(path)!r}: {img.shape[1]}x{img.shape[0]} is not a square face")
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        rects = [tuple(float(v) for v in r) for r in meta["mask"]["rects_xyxy_face_fraction"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(
            f"sticker={str(path)!r}: {path.with_suffix('.json').name} has no mask geometry ({exc})"
        ) from None
    alpha = img[..., 3] > 127
    if not alpha.any() or not rects:
        raise SourceError(f"sticker={str(path)!r}: the sticker's mask is empty")
    # every sticker pixel must lie in one of the JSON's rectangles (the PNG and its JSON belong together)
    n = img.shape[0]
    centres = (np.arange(n) + 0.5) / n
    inside = np.zeros((n, n), bool)
    for x0, y0, x1, y1 in rects:
        rows = (centres >= y0 - 1.0 / n) & (centres < y1 + 1.0 / n)
        cols = (centres >= x0 - 1.0 / n) & (centres < x1 + 1.0 / n)
        inside |= rows[:, None] & cols[None, :]
    if (alpha & ~inside).any():
        raise SourceError(f"sticker={str(path)!r}: its pixels lie outside the mask its JSON gives")
    bgr = cv2.resize(np.ascontiguousarray(img[..., :3]), (side, side), interpolation=cv2.INTER_NEAREST)
    mask = cv2.resize(alpha.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)
    return Sticker(bgr=bgr, mask=mask, name=path.stem)


def pattern(side: int) -> Sticker:
    """The fixed camouflage-art pattern (:data:`PATTERN`) at ``side`` pixels."""
    bgr = np.zeros((side, side, 3), np.uint8)
    mask = np.zeros((side, side), np.uint8)
    for (x0, y0, x1, y1), colour in PATTERN:
        p0, p1 = (int(x0 * side), int(y0 * side)), (int(x1 * side), int(y1 * side))
        cv2.rectangle(bgr, p0, p1, colour, -1)
        cv2.rectangle(mask, p0, p1, 1, -1)
    return Sticker(bgr=bgr, mask=mask, name="pattern")


def apply(face_bgr: np.ndarray, face_mask: np.ndarray, sticker: Sticker) -> np.ndarray:
    """The face wearing the sticker: sticker pixels inside its mask, the face elsewhere; nothing
    outside the sign (``face_mask == 0`` stays black, as the template's background)."""
    out = np.where(sticker.mask[..., None] > 0, sticker.bgr, face_bgr)
    out[face_mask == 0] = 0
    return out


__all__ = ["PATTERN", "STICKER_DIR", "Sticker", "apply", "load", "pattern", "resolve", "shipped_stickers"]
