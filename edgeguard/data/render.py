"""Procedural road-scene renderer: one sign at a random pose and condition on a random background.

``render_scene(cls, seed)`` is a pure function of its arguments (same seed → identical pixels): all
randomness comes from one ``numpy.random.Generator`` and every OpenCV call used is deterministic.

Pipeline (all on a 2× supersampled canvas, then area-downsampled to the output size so the sign stays
anti-aliased): background (natural-photo crop from ``skimage.data`` or a procedural texture, optional
sign post) → sign template warped by a 3D pose (yaw/pitch up to ±40°, in-plane rotation, scale,
offset) → colour fading → partial occlusion → cast shadow → lighting (gain, contrast, white balance,
gamma) → downsample → motion/defocus blur → sensor noise → JPEG.

``variety`` picks how the sign itself is drawn (:mod:`edgeguard.data.looks`): ``classic`` (default;
the shipped models' data, pixel for pixel), ``wide`` (random fonts, stroke widths, proportions,
colours, wear, graffiti, stickers: for training) or ``unseen`` (held-out drawing choices: for
evaluation). The scene nuisances are the same for all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..errors import ConfigError
from .looks import check_variety, draw_sign
from .templates import CLASSES, class_index

SeedLike = int | tuple[int, ...] | list[int] | np.random.Generator


@dataclass(frozen=True)
class SceneConfig:
    """Ranges of the random pose and conditions (defaults: the shipped models' training ranges)."""

    max_yaw: float = 40.0  # degrees, out-of-plane tilt about the vertical axis
    max_pitch: float = 40.0  # degrees, about the horizontal axis
    max_roll: float = 12.0  # degrees, in-plane rotation
    scale: tuple[float, float] = (0.55, 0.95)  # sign diameter / image side (keeps the sign dominant)
    p_photo: float = 0.5  # natural-photo background, else procedural texture
    p_occlusion: float = 0.25
    max_occlusion: float = 0.2  # fraction of the sign's side covered at most
    p_shadow: float = 0.3
    p_blur: float = 0.35
    max_noise: float = 0.05  # std of Gaussian sensor noise in [0, 1] units
    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (25, 95)


DEFAULT_CONFIG = SceneConfig()
# skimage photos bundled in the wheel (no download); the grayscale ones serve as textures.
_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
    "brick",
    "camera",
    "coins",
    "grass",
    "gravel",
    "moon",
    "page",
    "clock",
)


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    import skimage.data

    out = []
    for name in _PHOTOS:
        im = np.asarray(getattr(skimage.data, name)())
        if im.ndim == 2:
            im = np.repeat(im[..., None], 3, axis=2)
        im = np.ascontiguousarray(im[..., :3].astype(np.uint8))
        f = 320.0 / min(im.shape[:2])  # pre-shrink large photos once: crops then resize cheaply
        if f < 1.0:
            im = cv2.resize(im, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        out.append(im)
    return tuple(out)


def _rng(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (list, tuple)):
        return np.random.default_rng([int(s) for s in seed])
    return np.random.default_rng(int(seed))


def _photo_background(rng: np.random.Generator, n: int) -> np.ndarray:
    photos = _photos()
    im = photos[rng.integers(len(photos))]
    h, w = im.shape[:2]
    side = int(rng.uniform(0.15, 1.0) * min(h, w))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = cv2.resize(im[y : y + side, x : x + side], (n, n), interpolation=cv2.INTER_AREA)
    bg = crop.astype(np.float32) / 255.0
    # colour-tint 30 % of crops (always the last photo, a grayscale clock) so hue is not a shortcut
    if im is photos[-1] or rng.random() < 0.3:
        bg = bg * rng.uniform(0.5, 1.2, size=3).astype(np.float32)
    return np.ascontiguousarray(bg, dtype=np.float32)


def _procedural_background(rng: np.random.Generator, n: int) -> np.ndarray:
    kind = rng.integers(4)
    yy = np.linspace(0, 1, n, dtype=np.float32)[:, None, None]
    if kind == 0:  # sky over ground with a horizon
        sky = rng.uniform([0.4, 0.55, 0.7], [0.85, 0.9, 1.0]).astype(np.float32)
        ground = rng.uniform([0.15, 0.2, 0.1], [0.55, 0.6, 0.45]).astype(np.float32)
        hz = rng.uniform(0.3, 0.9)
        t = np.clip((yy - hz) * rng.uniform(8, 40) + 0.5, 0, 1)
        bg = (1 - t) * (sky * (0.8 + 0.2 * (1 - yy))) + t * ground
        bg = np.broadcast_to(bg, (n, n, 3))
    elif kind == 1:  # low-frequency coloured noise (foliage, walls)
        k = int(rng.integers(3, 12))
        small = rng.random((k, k, 3)).astype(np.float32)
        bg = cv2.resize(small, (n, n), interpolation=cv2.INTER_CUBIC)
        bg = bg * rng.uniform(0.3, 1.0, size=3).astype(np.float32)
    elif kind == 2:  # building facade: random rectangles
        bg = np.empty((n, n, 3), np.float32)
        bg[:] = rng.uniform(0.2, 0.8, size=3)
        for _ in range(int(rng.integers(3, 12))):
            x0, y0 = rng.integers(0, n, size=2)
            w, h = rng.integers(n // 10, n // 2, size=2)
            cv2.rectangle(
                bg,
                (int(x0), int(y0)),
                (int(x0 + w), int(y0 + h)),
                tuple(float(v) for v in rng.uniform(0.05, 0.9, size=3)),
                -1,
            )
    else:  # plain overcast sky with a gradient
        c = rng.uniform(0.5, 0.95) * rng.uniform(0.9, 1.05, size=3).astype(np.float32)
        bg = np.broadcast_to(c * (0.75 + 0.25 * (1 - yy)), (n, n, 3))
    bg = np.ascontiguousarray(bg, dtype=np.float32)
    bg += rng.normal(0, 0.02, size=bg.shape).astype(np.float32)
    return bg


def _pose_quad(rng: np.random.Generator, cfg: SceneConfig, n: int) -> np.ndarray:
    """Image positions of the template's 4 corners after a 3D rotation and pinhole projection."""
    yaw, pitch = (
        np.deg2rad(rng.uniform(-cfg.max_yaw, cfg.max_yaw)),
        np.deg2rad(rng.uniform(-cfg.max_pitch, cfg.max_pitch)),
    )
    roll = np.deg2rad(rng.uniform(-cfg.max_roll, cfg.max_roll))
    cz, sz = np.cos(roll), np.sin(roll)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cx, sx = np.cos(pitch), np.sin(pitch)
    rot = (
        np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        @ np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    )
    corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float64) @ rot.T
    dist = rng.uniform(3.0, 8.0)  # camera distance in sign half-widths: mild to weak perspective
    proj = corners[:, :2] * dist / (dist + corners[:, 2:3])
    half = 0.5 * rng.uniform(*cfg.scale) * n  # sign radius in pixels
    proj = proj * half
    ext = np.abs(proj).max(axis=0)
    room = np.maximum(n / 2 - ext, 0) + 0.08 * half  # allow a slight crop at the border
    centre = n / 2 + rng.uniform(-room, room)
    return (proj + centre).astype(np.float32)


def _occlude(rng: np.random.Generator, img: np.ndarray, quad: np.ndarray, cfg: SceneConfig) -> None:
    side = float(np.linalg.norm(quad[1] - quad[0]))
    r = max(1.0, rng.uniform(0.25, 1.0) * cfg.max_occlusion * side)
    edge = int(rng.integers(4))
    a, b = quad[edge], quad[(edge + 1) % 4]
    p = a + (b - a) * rng.uniform(0.2, 0.8)
    colour = tuple(float(v) for v in rng.uniform(0.0, 0.6, size=3) * np.array([0.6, 1.0, 0.6]))
    if rng.random() < 0.5:
        cv2.circle(img, (int(p[0]), int(p[1])), int(r * 1.2), colour, -1, cv2.LINE_AA)
    else:
        cv2.ellipse(
            img,
            (int(p[0]), int(p[1])),
            (int(r * 1.6), int(r * 0.6)),
            float(rng.uniform(0, 180)),
            0,
            360,
            colour,
            -1,
            cv2.LINE_AA,
        )


def _shadow(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    n = img.shape[0]
    pts = rng.uniform(-0.2 * n, 1.2 * n, size=(int(rng.integers(3, 6)), 2)).astype(np.int32)
    m = np.zeros((n, n), np.float32)
    cv2.fillPoly(m, [cv2.convexHull(pts)], 1.0, cv2.LINE_AA)
    m = cv2.GaussianBlur(m, (0, 0), rng.uniform(0.5, 4.0))
    return img * (1 - m[..., None] * rng.uniform(0.3, 0.6))


def _blur(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    if rng.random() < 0.5:  # motion blur along a random direction
        k = int(rng.integers(3, 6))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1.0
        rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), float(rng.uniform(0, 180)), 1.0)
        kern = cv2.warpAffine(kern, rot, (k, k))
        return cv2.filter2D(img, -1, kern / max(float(kern.sum()), 1e-6), borderType=cv2.BORDER_REFLECT)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.1), borderType=cv2.BORDER_REFLECT)


def render_scene(
    cls: int | str,
    seed: SeedLike,
    size: int = 64,
    config: SceneConfig = DEFAULT_CONFIG,
    return_quad: bool = False,
    variety: str = "classic",
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Render one photo-like image of sign ``cls`` at a random pose and condition.

    Args:
        cls: class index, id or label (see :data:`~edgeguard.data.templates.CLASSES`).
        seed: int, tuple of ints (e.g. ``(base_seed, index)``) or a numpy Generator.
        size: output side in pixels (square).
        config: ranges of the random pose/conditions.
        return_quad: also return the sign's 4 corner positions in output pixels.
        variety: ``classic``, ``wide`` or ``unseen`` (how the sign is drawn; see module docstring).

    Returns:
        uint8 ``(size, size, 3)`` RGB image (and a ``(4, 2)`` float32 quad when ``return_quad``).

    Raises:
        ConfigError: unknown class or variety, or size < 16.
    """
    idx = class_index(cls)
    check_variety(variety)
    if int(size) < 16:
        raise ConfigError(f"render_scene: size must be >= 16 pixels, got {size}")
    rng = _rng(seed)
    n = 2 * int(size)  # supersampled canvas
    bg = _photo_background(rng, n) if rng.random() < config.p_photo else _procedural_background(rng, n)
    if rng.random() < 0.5:  # sign post
        x = int(n / 2 + rng.uniform(-0.1, 0.1) * n)
        w = max(2, int(rng.uniform(0.04, 0.08) * n))
        cv2.rectangle(
            bg,
            (x - w // 2, n // 2),
            (x + w // 2, n),
            tuple(float(v) for v in rng.uniform(0.35, 0.7) * np.ones(3)),
            -1,
        )
    tmpl_size = n  # template at canvas resolution: the warp only shrinks it a little (no aliasing)
    rgb, mask = draw_sign(idx, tmpl_size, rng, variety)  # classic: the cached template, no draws
    quad = _pose_quad(rng, config, n)
    src = np.array([[0, 0], [tmpl_size, 0], [tmpl_size, tmpl_size], [0, tmpl_size]], np.float32)
    h = cv2.getPerspectiveTransform(src, quad)
    fade = rng.uniform(0.0, 0.3)  # sun-faded paint
    sign = rgb.astype(np.float32) / 255.0
    sign = sign * (1 - fade) + fade * rng.uniform(0.6, 0.9)
    warped = cv2.warpPerspective(sign, h, (n, n), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpPerspective(mask.astype(np.float32) / 255.0, h, (n, n), flags=cv2.INTER_AREA)[..., None]
    img = bg * (1 - alpha) + warped * alpha
    if rng.random() < config.p_occlusion:
        _occlude(rng, img, quad, config)
    if rng.random() < config.p_shadow:
        img = _shadow(rng, img)
    gain = rng.uniform(0.45, 1.3)
    contrast = rng.uniform(0.6, 1.15)
    img = (img - img.mean()) * contrast + img.mean()
    img = img * gain * rng.uniform(0.88, 1.12, size=3).astype(np.float32)
    img = np.clip(img, 0, 1) ** rng.uniform(0.75, 1.35)
    img = cv2.resize(img.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < config.p_blur:
        img = _blur(rng, img)
    img = img + rng.normal(0, rng.uniform(0, config.max_noise), size=img.shape).astype(np.float32)
    out = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    if rng.random() < config.p_jpeg:
        q = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if return_quad:
        return out, quad / 2.0
    return out


__all__ = ["CLASSES", "DEFAULT_CONFIG", "SceneConfig", "render_scene"]
