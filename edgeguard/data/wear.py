"""Nuisances painted on a sign's face before it is placed in a scene: wear, graffiti, stickers.

Each function draws in place on a template (``rgb`` uint8 (S, S, 3), ``mask`` uint8 coverage) with
the given ``numpy`` generator and keeps everything inside the sign (pixels outside ``mask`` stay 0).
The "wide" training look uses :func:`scratches`, :func:`faded_patches`, :func:`dirt`,
:func:`graffiti` and :func:`stickers`; the held-out "unseen" look uses only :func:`rust` and
:func:`peeling`, which training never sees. Real signs carry all of these; natural stickers and
graffiti also teach the classifier that a foreign blob on the face is not the sign (the rectangular-
occlusion view of Wu et al., ICLR'20, without the adversarial search).
"""

from __future__ import annotations

import cv2
import numpy as np

TRAIN_WEAR = ("scratches", "faded_patches", "dirt")
HELD_OUT_WEAR = ("rust", "peeling")


def _inside(rgb: np.ndarray, mask: np.ndarray) -> None:
    rgb[mask == 0] = 0


def _points_in(rng: np.random.Generator, mask: np.ndarray, k: int) -> np.ndarray:
    """``k`` random (x, y) points on the sign (rejection sampling inside the coverage mask)."""
    ys, xs = np.nonzero(mask > 200)
    pick = rng.integers(0, len(xs), size=k)
    return np.stack([xs[pick], ys[pick]], axis=1).astype(np.float64)


def _blob(rng: np.random.Generator, n: int, centre: np.ndarray, radius: float, rough: float) -> np.ndarray:
    """A soft irregular blob in [0, 1]: a disc whose edge is jittered by blurred noise."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    d = np.hypot(xx - centre[0], yy - centre[1]) / max(radius, 1.0)
    k = int(rng.integers(4, 10))
    noise = cv2.resize(rng.random((k, k)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    return np.clip((1.0 - d) * 3.0 + (noise - 0.5) * rough * 3.0, 0.0, 1.0)


def scratches(rng: np.random.Generator, rgb: np.ndarray, mask: np.ndarray) -> None:
    """Thin light or dark lines (keys, branches)."""
    n = rgb.shape[0]
    for _ in range(int(rng.integers(3, 13))):
        a, b = _points_in(rng, mask, 2)
        b = a + (b - a) * rng.uniform(0.1, 0.5)
        col = tuple(
            int(v)
            for v in (rng.uniform(170, 240) if rng.random() < 0.7 else rng.uniform(20, 90)) * np.ones(3)
        )
        cv2.line(
            rgb,
            tuple(int(v) for v in a),
            tuple(int(v) for v in b),
            col,
            max(1, int(n / 256 * rng.uniform(1, 3))),
            cv2.LINE_AA,
        )
    _inside(rgb, mask)


def faded_patches(rng: np.random.Generator, rgb: np.ndarray, mask: np.ndarray) -> None:
    """Sun-bleached patches: blend toward a pale grey in 1-3 soft blobs."""
    n = rgb.shape[0]
    f = rgb.astype(np.float32)
    for p in _points_in(rng, mask, int(rng.integers(1, 4))):
        m = _blob(rng, n, p, rng.uniform(0.1, 0.35) * n, 0.5)[..., None] * rng.uniform(0.3, 0.75)
        f = f * (1 - m) + m * rng.uniform(170, 235)
    rgb[:] = np.clip(f, 0, 255).astype(np.uint8)
    _inside(rgb, mask)


def dirt(rng: np.random.Generator, rgb: np.ndarray, mask: np.ndarray) -> None:
    """Low-frequency grime: darkens and browns the face unevenly."""
    n = rgb.shape[0]
    k = int(rng.integers(3, 9))
    g = cv2.resize(rng.random((k, k)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    amount = np.clip(g, 0, 1)[..., None] * rng.uniform(0.1, 0.4)
    tint = np.array([0.85, 0.75, 0.6], np.float32) * rng.uniform(60, 140)
    rgb[:] = np.clip(rgb.astype(np.float32) * (1 - amount) + amount * tint, 0, 255).astype(np.uint8)
    _inside(rgb, mask)


def graffiti(rng: np.random.Generator, rgb: np.ndarray, mask: np.ndarray) -> None:
    """1-3 spray-paint strokes: smooth curves of 3-6 points, a random paint colour."""
    n = rgb.shape[0]
    layer = np.zeros((n, n), np.float32)
    col = rng.choice(np.array([[15, 15, 15], [245, 245, 245], [30, 60, 200], [20, 160, 40], [230, 40, 190]]))
    if rng.random() < 0.3:
        col = rng.integers(0, 256, size=3)
    for _ in range(int(rng.integers(1, 4))):
        pts = _points_in(rng, mask, int(rng.integers(3, 7)))
        pts = pts[0] + (pts - pts[0]) * rng.uniform(0.3, 0.8)
        cv2.polylines(
            layer,
            [np.round(pts).astype(np.int32)],
            False,
            1.0,
            max(2, int(n * rng.uniform(0.015, 0.045))),
            cv2.LINE_AA,
        )
    layer = cv2.GaussianBlur(layer, (0, 0), n / 256 * rng.uniform(0.8, 2.5))[..., None] * rng.uniform(
        0.7, 1.0
    )
    rgb[:] = np.clip(rgb * (1 - layer) + layer * col.astype(np.float32), 0, 255).astype(np.uint8)
    _inside(rgb, mask)


def stickers(rng: np.random.Generator, rgb: np.ndarray, mask: np.ndarray) -> None:
    """1-3 small stickers (rectangles or discs, side 6-18 % of the sign), some with a printed stripe."""
    n = rgb.shape[0]
    for p in _points_in(rng, mask, int(rng.integers(1, 4))):
        side = rng.uniform(0.06, 0.18) * n
        col = tuple(
            int(v)
            for v in (
                rng.integers(0, 256, size=3) if rng.random() < 0.5 else rng.choice([20, 235]) * np.ones(3)
            )
        )
        x, y = int(p[0]), int(p[1])
        if rng.random() < 0.6:
            w, h = int(side * rng.uniform(0.6, 1.6)), int(side * rng.uniform(0.4, 1.0))
            cv2.rectangle(rgb, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), col, -1, cv2.LINE_AA)
            if rng.random() < 0.5:
                stripe = tuple(int(v) for v in rng.integers(0, 256, size=3))
                cv2.rectangle(
                    rgb, (x - w // 2, y - h // 6), (x + w // 2, y + h // 6), stripe, -1, cv2.LINE_AA
                )
        else:
            cv2.circle(rgb, (x, y), int(side / 2), col, -1, cv2.LINE_AA)
    _inside(rgb, mask)


def rust(rng: np.random.Generator, rgb: np.ndarray, mask: np.ndarray) -> None:
    """Held out: orange-brown corrosion spots, densest near the sign's edge."""
    n = rgb.shape[0]
    edge = cv2.distanceTransform((mask > 128).astype(np.uint8), cv2.DIST_L2, 5) / n
    k = int(rng.integers(12, 30))
    noise = cv2.resize(rng.random((k, k)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    spots = np.clip((noise - rng.uniform(0.45, 0.7)) * 6 - edge * rng.uniform(2, 8), 0, 1)[..., None]
    colour = np.array([rng.uniform(120, 170), rng.uniform(55, 85), rng.uniform(20, 40)], np.float32)
    rgb[:] = np.clip(rgb * (1 - spots) + spots * colour, 0, 255).astype(np.uint8)
    _inside(rgb, mask)


def peeling(rng: np.random.Generator, rgb: np.ndarray, mask: np.ndarray) -> None:
    """Held out: paint flaked off in 1-4 patches, showing the grey aluminium blank beneath."""
    n = rgb.shape[0]
    f = rgb.astype(np.float32)
    for p in _points_in(rng, mask, int(rng.integers(1, 5))):
        m = (_blob(rng, n, p, rng.uniform(0.04, 0.12) * n, 1.2) > 0.5).astype(np.float32)
        m = cv2.GaussianBlur(m, (0, 0), 0.8)[..., None]
        f = f * (1 - m) + m * rng.uniform(150, 200) * np.array([0.97, 1.0, 1.03], np.float32)
    rgb[:] = np.clip(f, 0, 255).astype(np.uint8)
    _inside(rgb, mask)


__all__ = [
    "HELD_OUT_WEAR",
    "TRAIN_WEAR",
    "dirt",
    "faded_patches",
    "graffiti",
    "peeling",
    "rust",
    "scratches",
    "stickers",
]
