"""Procedural surveillance scenes: people (and things that are not people) seen by a fixed camera.

``render_surveillance(seed)`` is a pure function of its arguments (same seed → identical pixels and
boxes). A scene is a street (sky/buildings from natural-photo crops of ``skimage.data`` or a procedural
facade, ground from a photo/procedural texture warped by the ground-plane homography) or an indoor room
(textured wall, tiled or planked floor). A camera ``Hc`` metres high whose horizon sits at row ``y_h``
sees a person of height ``Hp`` whose feet are at row ``y_f`` as ``Hp / Hc · (y_f − y_h)`` pixels tall:
people farther away are smaller and higher in the frame. People (articulated figures from
:mod:`edgeguard.data.figures`) come alone or in groups that overlap; low foreground objects (cars, walls,
benches) cover the lower part of some; distractors (poles, lamps, bins, bags, bollards, hydrants, trees,
dogs, birds, boards, person-sized upright blobs, coat stands) stand in the same perspective. Then the
sign renderer's camera effects: lighting, blur, sensor noise, JPEG.

**Held-out difficulty (the default ``SurveillanceConfig``, test base seed ``TEST_SEED``)**, fixed here and
in the README, checked by ``tests/test_scenes.py``:

* 0–6 people per 320×320 image (about 3 on average; a few images have none); full (unoccluded) height
  log-uniform from **24 px** to 70 % of the image height — about a third of the people are under 48 px;
* **groups**: a person starts a group of 2–4 side by side with probability 0.35 (they overlap);
* **occlusion up to 50 %**: a foreground object covers the lower 10–45 % of a person with probability 0.3,
  groups occlude each other; a person whose *visible* part is under 50 % of the figure (or under 12 px
  tall) is kept in the image but marked ``ignore`` (neither a miss nor a false alarm in evaluation,
  as the Caltech pedestrian benchmark does);
* **distractors**: 1–6 per image, about a sixth of them person-sized upright shapes.

Boxes are the *visible* extent of each person (``x1, y1, x2, y2`` in pixels, exclusive right/bottom),
measured from the rendered coverage, so they always cover drawn figure pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import ConfigError
from .figures import draw_distractor, draw_occluder, draw_person
from .render import SeedLike, _blur, _photos, _rng


@dataclass(frozen=True)
class SurveillanceConfig:
    """Ranges of the random scene (defaults: the shipped ``persons`` detector's data and its test set)."""

    min_height: float = 24.0  # pixels, full figure height
    max_height: float = 0.7  # fraction of the image height
    people: tuple[int, int] = (0, 6)
    p_group: float = 0.35
    group_size: tuple[int, int] = (2, 4)
    p_occluder: float = 0.3
    occluder_cover: tuple[float, float] = (0.1, 0.45)  # fraction of the person's height
    max_occlusion: float = 0.5  # more hidden than this → ignore
    min_visible_height: float = 12.0
    distractors: tuple[int, int] = (1, 6)
    p_indoor: float = 0.35
    p_blur: float = 0.3
    max_noise: float = 0.04
    p_jpeg: float = 0.5


DEFAULT_SURVEILLANCE = SurveillanceConfig()


@dataclass
class Scene:
    """A rendered scene: uint8 RGB ``image`` and per-person ``boxes`` (K, 4) float32 xyxy (visible part),
    ``heights`` (full figure height, px), ``occlusion`` (hidden fraction), ``ignore`` (bool)."""

    image: np.ndarray
    boxes: np.ndarray
    heights: np.ndarray
    occlusion: np.ndarray
    ignore: np.ndarray
    distractors: list[str] = field(default_factory=list)


@dataclass
class Camera:
    """Horizon row and height ratio: a person is ``ratio * (foot_row - horizon)`` pixels tall."""

    horizon: float
    ratio: float

    def height_at(self, foot_y: float) -> float:
        return self.ratio * (foot_y - self.horizon)

    def foot_for(self, height: float) -> float:
        return self.horizon + height / self.ratio


def _texture_crop(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    photos = _photos()
    im = photos[rng.integers(len(photos))]
    ph, pw = im.shape[:2]
    cw = int(rng.uniform(0.3, 1.0) * pw)
    ch = max(8, min(ph, int(cw * h / max(w, 1))))
    y, x = rng.integers(0, ph - ch + 1), rng.integers(0, pw - cw + 1)
    out = (
        cv2.resize(im[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    )
    if rng.random() < 0.4:
        out = out * rng.uniform(0.5, 1.2, size=3).astype(np.float32)
    return out


def _floor_texture(rng: np.random.Generator, n: int, indoor: bool) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:
        return _texture_crop(rng, n, n)
    base = rng.uniform(0.2, 0.75, size=3).astype(np.float32) * (
        np.float32(1.0) if indoor else rng.uniform(0.5, 0.9)
    )
    tex = np.empty((n, n, 3), np.float32)
    tex[:] = base
    if kind == 1:  # tiles / paving
        p = int(rng.integers(n // 16, n // 5))
        tex[::p] *= 0.6
        tex[:, ::p] *= 0.6
        if rng.random() < 0.5:
            yy, xx = np.mgrid[0:n, 0:n]
            tex[((yy // p) + (xx // p)) % 2 == 0] *= rng.uniform(0.6, 0.9)
    else:  # asphalt / planks: noise with a direction
        k = int(rng.integers(8, 40))
        small = rng.random((k, max(2, k // int(rng.integers(1, 6))))).astype(np.float32)
        tex *= (0.8 + 0.4 * cv2.resize(small, (n, n), interpolation=cv2.INTER_LINEAR))[..., None]
    tex += rng.standard_normal(tex.shape, dtype=np.float32) * np.float32(0.03)
    return tex


def render_background(
    rng: np.random.Generator, h: int, w: int, indoor: bool, camera: Camera | None = None
) -> tuple[np.ndarray, Camera]:
    """The empty scene (float32 RGB) and its camera (random, or ``camera`` when given)."""
    horizon = h * rng.uniform(-0.15, 0.45)
    # person height / camera height: a 1.7 m person seen from 2.2 m (indoor, low) to ~7 m (mast)
    ratio = 1.7 / rng.uniform(2.2, 4.0 if indoor else 7.0)
    if camera is not None:
        horizon, ratio = camera.horizon, camera.ratio
    hz = int(np.clip(np.ceil(horizon + 2), 0, h))
    img = np.empty((h, w, 3), np.float32)
    if hz > 0:  # above the ground line: buildings/sky or a wall
        if indoor or rng.random() < 0.6:
            img[:hz] = _texture_crop(rng, w, hz)
        else:
            sky = rng.uniform([0.45, 0.55, 0.65], [0.85, 0.9, 1.0]).astype(np.float32)
            img[:hz] = sky * np.linspace(0.85, 1.05, hz, dtype=np.float32)[:, None, None]
            for _ in range(int(rng.integers(2, 8))):  # facades
                x0, bw = int(rng.integers(0, w)), int(rng.integers(w // 8, w // 2))
                top = int(rng.uniform(-0.2, 0.9) * hz)
                img[max(0, top) : hz, x0 : x0 + bw] = rng.uniform(0.15, 0.8, size=3)
                for wy in range(max(0, top) + 4, hz - 4, 10):  # windows
                    img[wy : wy + 4, x0 + 3 : x0 + bw - 3 : 8] *= 0.55
        if indoor and hz < h:  # skirting board
            img[max(0, hz - 4) : hz] = rng.uniform(0.1, 0.9) * np.ones(3, np.float32)
    if hz < h:
        n = 256
        tex = _floor_texture(rng, n, indoor)
        top = float(hz - 1)
        spread = rng.uniform(2.0, 5.0)
        src = np.float32([[0, 0], [n, 0], [n, n], [0, n]])
        dst = np.float32([[-spread * w, top], [(1 + spread) * w, top], [1.3 * w, h], [-0.3 * w, h]])
        hom = cv2.getPerspectiveTransform(src, dst)
        ground = cv2.warpPerspective(tex, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        img[hz:] = ground[hz:]
    img *= np.linspace(1.0, rng.uniform(0.75, 1.15), h, dtype=np.float32)[:, None, None]
    return np.clip(img, 0, 1), Camera(float(horizon), float(ratio))


def composite(
    img: np.ndarray,
    idmap: np.ndarray,
    patch: tuple[np.ndarray, np.ndarray],
    x: float,
    foot_y: float,
    ident: int,
    foot_x: float,
) -> float:
    """Alpha-blend a figure with its feet at ``(x, foot_y)``; mark ``idmap`` where it covers > 50 %.

    Returns the figure's coverage mass inside the frame (for the occlusion fraction).
    """
    rgb, alpha = patch
    ph, pw = alpha.shape
    x0, y0 = int(round(x - foot_x)), int(round(foot_y - ph))
    h, w = idmap.shape
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + pw, w), min(y0 + ph, h)
    if xb <= xa or yb <= ya:
        return 0.0
    a = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
    region = img[ya:yb, xa:xb]
    region *= 1 - a[..., None]
    region += rgb[ya - y0 : yb - y0, xa - x0 : xb - x0] * a[..., None]
    idmap[ya:yb, xa:xb][a > 0.5] = ident
    return float((a > 0.5).sum())


def _plan_people(rng: np.random.Generator, cfg: SurveillanceConfig, cam: Camera, h: int, w: int) -> list:
    """(x, foot_y, height) for every person, groups placed side by side."""
    out: list[tuple[float, float, float]] = []
    target = int(rng.integers(cfg.people[0], cfg.people[1] + 1))
    lo, hi = np.log(cfg.min_height), np.log(max(cfg.min_height + 1, cfg.max_height * h))
    while len(out) < target:
        for _ in range(20):
            ht = float(np.exp(rng.uniform(lo, hi)))
            fy = cam.foot_for(ht)
            if fy <= h - 1 and fy - ht >= -0.05 * ht:
                break
            fy = h - rng.uniform(1, 0.25 * h)  # tall person would leave the frame: put the feet in it
            ht = cam.height_at(fy)
            if cfg.min_height <= ht <= cfg.max_height * h and fy - ht >= -0.05 * ht:
                break
        else:
            break  # this camera cannot show a person at the allowed sizes
        x = rng.uniform(0.15 * ht, w - 0.15 * ht)
        n = 1
        if rng.random() < cfg.p_group:
            n = int(rng.integers(cfg.group_size[0], cfg.group_size[1] + 1))
        d = 1.0 if rng.random() < 0.5 else -1.0
        for _ in range(min(n, target - len(out))):
            scale = rng.uniform(0.88, 1.08) if n > 1 else 1.0
            fy_i = fy + (rng.uniform(-0.06, 0.06) * ht if n > 1 else 0.0)
            out.append((float(np.clip(x, 0, w - 1)), float(fy_i), float(max(cfg.min_height, ht * scale))))
            x += d * ht * rng.uniform(0.2, 0.42)
    return out


def render_surveillance(
    seed: SeedLike, size: int | tuple[int, int] = 320, config: SurveillanceConfig = DEFAULT_SURVEILLANCE
) -> Scene:
    """Render one surveillance scene (see module docstring).

    Args:
        seed: int, tuple of ints (e.g. ``(base_seed, index)``) or a numpy Generator.
        size: side (square) or ``(height, width)`` in pixels, each ≥ 64.

    Raises:
        ConfigError: size under 64 pixels.
    """
    h, w = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))  # type: ignore[index]
    if h < 64 or w < 64:
        raise ConfigError(f"render_surveillance: size must be >= 64 pixels, got {size}")
    rng = _rng(seed)
    photos = _photos()
    indoor = bool(rng.random() < config.p_indoor)
    img, cam = render_background(rng, h, w, indoor)
    idmap = np.zeros((h, w), np.int16)
    people = _plan_people(rng, config, cam, h, w)
    items: list[tuple[float, int, tuple]] = [(fy, 0, (i, x, fy, ht)) for i, (x, fy, ht) in enumerate(people)]
    n_dis = int(rng.integers(config.distractors[0], config.distractors[1] + 1))
    for _ in range(n_dis):
        fy = rng.uniform(max(cam.horizon + 8 / cam.ratio, 0.0), h + 0.1 * h)
        items.append((float(fy), 1, (float(rng.uniform(0, w)), float(fy))))
    items.sort(key=lambda t: (t[0], t[1]))
    mass = np.zeros(len(people))
    where: dict[int, tuple[int, int, int, int]] = {}
    kinds: list[str] = []
    for _, kind, args in items:
        if kind == 1:
            x, fyd = args
            kinds.append(draw_distractor(rng, img, idmap, x, fyd, max(4.0, cam.height_at(fyd))))
            continue
        i, x, fy_p, ht = args
        rgb, alpha, meta = draw_person(rng, ht, photos)
        mass[i] = composite(img, idmap, (rgb, alpha), x, fy_p, i + 1, meta["foot_x"])
        x0, y0 = int(round(x - meta["foot_x"])), int(round(fy_p - alpha.shape[0]))
        where[i] = (max(x0, 0), max(y0, 0), x0 + alpha.shape[1], y0 + alpha.shape[0])
        if rng.random() < config.p_occluder:  # low object just in front, covering the legs
            cover = rng.uniform(*config.occluder_cover) * ht
            half = ht * rng.uniform(0.2, 1.2)
            off = rng.uniform(-0.5, 0.5) * half
            draw_occluder(
                rng,
                img,
                idmap,
                x + off - half,
                x + off + half,
                fy_p - cover,
                fy_p + rng.uniform(1, 0.04 * ht + 2),
                photos,
            )
    boxes = np.zeros((len(people), 4), np.float32)
    occ = np.zeros(len(people), np.float32)
    for i in range(len(people)):
        xa, ya, xb, yb = where[i]
        ys, xs = np.nonzero(idmap[ya:yb, xa:xb] == i + 1)
        if len(ys):
            boxes[i] = (xa + xs.min(), ya + ys.min(), xa + xs.max() + 1, ya + ys.max() + 1)
        occ[i] = 1.0 - len(ys) / mass[i] if mass[i] > 0 else 1.0
    heights = np.array([p[2] for p in people], np.float32)
    vis_h = boxes[:, 3] - boxes[:, 1]
    ignore = (occ > config.max_occlusion) | (vis_h < config.min_visible_height)
    img = _camera_effects(rng, img, config)
    return Scene(img, boxes, heights, occ, ignore, kinds)


def _camera_effects(rng: np.random.Generator, img: np.ndarray, cfg: SurveillanceConfig) -> np.ndarray:
    gain, contrast = rng.uniform(0.55, 1.3), rng.uniform(0.7, 1.15)
    m = float(img.mean())
    wb = (rng.uniform(0.9, 1.1, size=3) * gain * contrast).astype(np.float32)
    off = np.float32(m * (1 - contrast) * gain)
    lin = np.clip(img * wb + off, 0, 1)
    out = np.round(lin * 255).astype(np.uint8)
    gamma = rng.uniform(0.8, 1.25)
    out = cv2.LUT(out, np.clip(np.round(255 * (np.arange(256) / 255.0) ** gamma), 0, 255).astype(np.uint8))
    if rng.random() < cfg.p_blur:
        out = _blur(rng, out)
    sigma = rng.uniform(0, cfg.max_noise) * 255
    noise = rng.standard_normal(out.shape, dtype=np.float32) * np.float32(sigma)
    out = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < cfg.p_jpeg:
        q = int(rng.integers(35, 95))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


__all__ = [
    "DEFAULT_SURVEILLANCE",
    "Camera",
    "Scene",
    "SurveillanceConfig",
    "composite",
    "render_background",
    "render_surveillance",
]
