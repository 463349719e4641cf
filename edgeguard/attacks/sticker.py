"""Sticker geometry and printable colours for RP2-style physical attacks (seed 004).

A sticker is a *mask* on the sign face — 1 to k axis-aligned rectangles given in face fractions
``(x0, y0, x1, y1)`` — times colours from a printable set. Named masks:

* ``bars``: RP2's "subtle poster" (Eykholt et al. CVPR'18, Fig. 1): two horizontal bars above and below
  the legend, 0.6 × 0.11 of the face each — 13 % of the square, about a sixth of the octagon's area;
* ``square``: one centred square of side 0.25 of the face (the size certified masking is stated for);
* custom: rectangles ``x0:y0:x1:y1`` joined by ``+`` (``0.2:0.2:0.8:0.3+0.2:0.7:0.8:0.8``).

Colours: ``bw`` (black and white: a sigmoid-relaxed binary choice per pixel, annealed and then hardened
to exactly black or white) or ``palette`` (a softmax over :data:`PALETTE`, a few printable inks, with
Sharif et al.'s non-printability score as a penalty, hardened to the nearest ink).
"""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError

Rect = tuple[float, float, float, float]
MASKS: dict[str, tuple[Rect, ...]] = {
    "bars": ((0.2, 0.22, 0.8, 0.33), (0.2, 0.67, 0.8, 0.78)),
    "square": ((0.375, 0.375, 0.625, 0.625),),
}
BLACK_WHITE = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
# printable inks (sRGB in [0, 1]): black, white, and the sign colours a print shop matches easily
PALETTE = torch.tensor(
    [
        [0.05, 0.05, 0.05],
        [0.97, 0.97, 0.95],
        [0.78, 0.09, 0.13],
        [0.0, 0.32, 0.67],
        [0.98, 0.77, 0.0],
        [0.1, 0.45, 0.2],
    ]
)
COLOURS = ("bw", "palette")


def parse_mask(spec: str) -> tuple[Rect, ...]:
    """Rectangles of a named mask or of ``x0:y0:x1:y1+…`` (face fractions, each inside [0, 1]).

    Raises:
        ConfigError: unknown name, malformed rectangle, or a rectangle outside the face / empty.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"rp2: mask must be a name ({', '.join(MASKS)}) or x0:y0:x1:y1+..., got {spec!r}")
    key = spec.strip().lower()
    if key in MASKS:
        return MASKS[key]
    rects = []
    for part in key.split("+"):
        try:
            vals = tuple(float(v) for v in part.split(":"))
        except ValueError:
            vals = ()
        if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
            raise ConfigError(
                f"rp2: mask {spec!r}: expected a name ({', '.join(MASKS)}) or rectangles "
                "x0:y0:x1:y1 joined by +"
            )
        x0, y0, x1, y1 = vals
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ConfigError(
                f"rp2: mask rectangle {part!r} lies outside the sign face (need 0 <= x0 < x1 <= 1, "
                f"0 <= y0 < y1 <= 1)"
            )
        rects.append(vals)
    return tuple(rects)  # type: ignore[return-value]


def mask_spec(rects: tuple[Rect, ...]) -> str:
    """The canonical spec of ``rects`` (a name when it is one)."""
    for name, r in MASKS.items():
        if r == rects:
            return name
    return "+".join(":".join(f"{v:g}" for v in r) for r in rects)


def rasterise(rects: tuple[Rect, ...], h: int, w: int) -> torch.Tensor:
    """``(1, 1, h, w)`` 0/1 mask: pixels whose centre lies in a rectangle; a rectangle thinner than a
    pixel still covers the pixel nearest its centre (a sticker never vanishes at low resolution)."""
    m = torch.zeros(1, 1, h, w)
    ys = (torch.arange(h) + 0.5) / h
    xs = (torch.arange(w) + 0.5) / w
    for x0, y0, x1, y1 in rects:
        rows = (ys >= y0) & (ys < y1)
        cols = (xs >= x0) & (xs < x1)
        if not rows.any():
            rows[min(h - 1, int((y0 + y1) / 2 * h))] = True
        if not cols.any():
            cols[min(w - 1, int((x0 + x1) / 2 * w))] = True
        m[0, 0] = torch.maximum(m[0, 0], (rows[:, None] & cols[None, :]).float())
    return m


def check_on_face(rects: tuple[Rect, ...], alpha: torch.Tensor, *, min_cover: float = 0.9) -> None:
    """Refuse a mask that leaves the sign: each rectangle must lie ≥ ``min_cover`` on the face's
    coverage ``alpha`` (``(h, w)`` or ``(1, 1, h, w)`` in [0, 1]) — a sticker in an octagon's corner
    would hang in the air.

    Raises:
        ConfigError: naming the rectangle and how much of it is on the sign.
    """
    a = alpha.reshape(alpha.shape[-2:]).float()
    h, w = a.shape
    for r in rects:
        m = rasterise((r,), h, w)[0, 0]
        cover = float((a * m).sum() / m.sum().clamp(min=1))
        if cover < min_cover:
            raise ConfigError(
                f"rp2: mask rectangle {':'.join(f'{v:g}' for v in r)} lies outside the sign face "
                f"({cover:.0%} of it on the sign, need {min_cover:.0%})"
            )


def inks(colours: str) -> torch.Tensor:
    """The ``(k, 3)`` printable colours of a colour set."""
    return BLACK_WHITE if colours == "bw" else PALETTE


def soft(theta: torch.Tensor, colours: str, temperature: float) -> torch.Tensor:
    """Relaxed sticker colours ``(B, 3, h, w)`` from logits ``theta`` (``(B, k, h, w)``): a convex mix
    of the inks, so every relaxed pixel is inside their hull; ``temperature → 0`` approaches hard."""
    ink = inks(colours).to(theta)
    if colours == "bw":  # one logit per pixel: sigmoid is the two-ink softmax
        p = torch.sigmoid(theta[:, :1] / temperature)
        return ink[0].view(1, 3, 1, 1) * (1 - p) + ink[1].view(1, 3, 1, 1) * p
    w = torch.softmax(theta / temperature, 1)
    return torch.einsum("bkhw,kc->bchw", w, ink)


def hard(theta: torch.Tensor, colours: str) -> torch.Tensor:
    """Hardened sticker colours: each pixel exactly one ink (the likeliest)."""
    ink = inks(colours).to(theta)
    if colours == "bw":
        return ink[(theta[:, 0] > 0).long()].permute(0, 3, 1, 2)
    return ink[theta.argmax(1)].permute(0, 3, 1, 2)


def nps(colour: torch.Tensor, mask: torch.Tensor, colours: str) -> torch.Tensor:
    """Non-printability score per example (Sharif et al. CCS'16, used by RP2 for colour stickers):
    mean over the mask of ∏_ink ‖pixel − ink‖ — zero exactly on a printable ink."""
    ink = inks(colours).to(colour)
    d = (colour[:, None] - ink[None, :, :, None, None]).norm(dim=2)  # (B, k, h, w)
    score = d.prod(1, keepdim=True)
    return (score * mask).sum((1, 2, 3)) / mask.sum().clamp(min=1)


def total_variation(colour: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation of the sticker inside the mask, per example (mean over mask
    pixels): RP2's smoothness term, which makes stickers printable and robust to blur."""
    c = colour * mask
    dy = (c[..., 1:, :] - c[..., :-1, :]).abs() * mask[..., 1:, :] * mask[..., :-1, :]
    dx = (c[..., 1:] - c[..., :-1]).abs() * mask[..., 1:] * mask[..., :-1]
    return (dy.sum((1, 2, 3)) + dx.sum((1, 2, 3))) / mask.sum().clamp(min=1)


def composite(face: torch.Tensor, colour: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The face with the sticker on it: ``face`` outside the mask, ``colour`` inside."""
    return face * (1 - mask) + colour * mask


__all__ = [
    "COLOURS",
    "MASKS",
    "PALETTE",
    "check_on_face",
    "composite",
    "hard",
    "inks",
    "mask_spec",
    "nps",
    "parse_mask",
    "rasterise",
    "soft",
    "total_variation",
]
