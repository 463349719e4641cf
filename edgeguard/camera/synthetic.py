"""``synthetic:stop-sign``: a rendered drive-by — a stop sign approaching from far to near over a road.

The scene is a pinhole camera 1.3 m above a road, driving towards a stop sign on a post at the right
roadside. Each *pass* drives from 32 m to 5 m at one sign yaw (viewing angle); the default passes are
0°, +30° and −30°, as in RP2's drive-by evaluation (Eykholt et al., seed 004: the sign filmed from
several angles and distances). ``sticker=1`` puts a fixed black-and-white pattern on the sign, the
shape of RP2's "camouflage art" attack (two white bars above STOP, two black bars below), not optimised
against any model; ``sticker=stop-bars`` pastes the RP2 sticker optimised against the demo
configuration (shipped, ``make sticker``) and ``sticker=PATH.png`` one written by ``edgeguard attack
rp2`` — pasted on the face exactly as the attack applied it (:mod:`.sticker_art`).

The source knows where the sign is, so it reports a square ROI around it with every frame (like a
perfect sign detector in front of the classifier; ``--crop auto`` uses it). Frames are a pure function
of (spec, frame index): the same spec replays identical pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import cv2
import numpy as np

from ..data.templates import render_sign
from ..errors import SourceError
from ..registry import SOURCES
from .sources import Box, Source, SourceOptions
from .sticker_art import PATTERN, apply, load, pattern, resolve

SCENES = ("stop-sign", "surveillance")
TEMPLATE = 256  # template side in pixels (render_sign draws at >= 256)
CAM_HEIGHT = 1.3  # metres above the road
SIGN_X, SIGN_Y, SIGN_R = 2.2, 0.9, 0.38  # lateral offset, height above the camera, half-width (30" sign)
Z_FAR, Z_NEAR = 32.0, 5.0  # metres
ROI_PAD = 1.4  # ROI side / sign width: the sign fills ~70 % of the crop, as in the training renders
STICKERS = PATTERN  # the fixed camouflage-art pattern of ``sticker=1`` (kept for existing imports)


@dataclass(frozen=True)
class DriveBy:
    """Parameters of a drive-by sequence."""

    frames: int = 240
    width: int = 640
    height: int = 480
    fps: float = 30.0
    angles: tuple[float, ...] = (0.0, 30.0, -30.0)
    sticker: bool | str = False  # False, True (fixed pattern) or the path of an RP2 sticker PNG
    seed: int = 0


def sign_template(sticker: bool | str = False) -> tuple[np.ndarray, np.ndarray]:
    """Front view of the stop sign as BGR uint8 plus its mask, wearing ``sticker`` if asked: ``True``
    for the fixed pattern, a PNG path for an ``edgeguard attack rp2`` sticker.

    Raises:
        SourceError: an unreadable sticker.
    """
    rgb, mask = render_sign("stop", TEMPLATE)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if sticker is True:
        bgr = apply(bgr, mask, pattern(TEMPLATE))
    elif isinstance(sticker, str) and sticker:
        bgr = apply(bgr, mask, load(Path(sticker), TEMPLATE))
    return bgr, mask.copy()


class DriveBySequence:
    """Renders frame ``i`` of a :class:`DriveBy` (``render(i) -> (frame, roi)``)."""

    def __init__(self, cfg: DriveBy) -> None:
        self.cfg = cfg
        self.f = 0.95 * cfg.width  # focal length in pixels (~56° horizontal field of view)
        self.cx, self.cy = cfg.width / 2.0, cfg.height * 0.42
        self.sign, self.mask = sign_template(cfg.sticker)
        self.mask_f = (self.mask.astype(np.float32) / 255.0)[..., None]
        self.per_pass = max(1, -(-cfg.frames // len(cfg.angles)))
        rng = np.random.default_rng(cfg.seed)
        self.backgrounds = [self._background(rng) for _ in cfg.angles]

    def _project(self, pts: np.ndarray) -> np.ndarray:
        """World points (X right, Y down, Z forward; metres, camera at the origin) → pixels."""
        return np.stack(
            [self.cx + self.f * pts[:, 0] / pts[:, 2], self.cy + self.f * pts[:, 1] / pts[:, 2]], 1
        )

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        w, h = self.cfg.width, self.cfg.height
        yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        sky = np.array(rng.uniform([200, 150, 90], [250, 210, 170]), np.float32)  # BGR, blue-ish
        grass = np.array(rng.uniform([40, 90, 50], [70, 140, 90]), np.float32)
        img = np.where(yy < 0.42, sky * (0.75 + 0.25 * yy / 0.42), grass * (0.7 + 0.5 * (yy - 0.42)))
        img = np.broadcast_to(img, (h, w, 3)).copy()
        img += rng.normal(0, 6, size=img.shape).astype(np.float32)  # texture, fixed per pass
        road = self._project(
            np.array(
                [
                    [-5.5, CAM_HEIGHT, 1.5],
                    [2.0, CAM_HEIGHT, 1.5],
                    [2.0, CAM_HEIGHT, 400.0],
                    [-5.5, CAM_HEIGHT, 400.0],
                ]
            )
        )
        cv2.fillPoly(img, [np.round(road).astype(np.int32)], (95, 95, 100), cv2.LINE_AA)
        edge = self._project(np.array([[1.8, CAM_HEIGHT, 1.5], [1.8, CAM_HEIGHT, 400.0]]))
        cv2.line(
            img,
            tuple(np.round(edge[0]).astype(int)),
            tuple(np.round(edge[1]).astype(int)),
            (235, 235, 235),
            max(2, w // 160),
            cv2.LINE_AA,
        )
        return np.clip(img, 0, 255).astype(np.uint8)

    def pose(self, i: int) -> tuple[int, float, float]:
        """(pass index, sign distance in metres, sign yaw in degrees) of frame ``i``."""
        k = min(i // self.per_pass, len(self.cfg.angles) - 1)
        t = (i - k * self.per_pass) / max(1, self.per_pass - 1)
        return k, Z_FAR + (Z_NEAR - Z_FAR) * min(t, 1.0), self.cfg.angles[k]

    def render(self, i: int) -> tuple[np.ndarray, Box]:
        k, z, yaw = self.pose(i)
        img = self.backgrounds[k].copy()
        travelled = Z_FAR - z
        for start in np.arange(-travelled % 6.0, 80.0, 6.0):  # centre-line dashes: 3 m every 6 m
            z0, z1 = max(start, 1.5), max(start + 3.0, 1.5)
            if z1 - z0 < 0.1:
                continue
            dash = self._project(
                np.array(
                    [
                        [-1.85, CAM_HEIGHT, z0],
                        [-1.65, CAM_HEIGHT, z0],
                        [-1.65, CAM_HEIGHT, z1],
                        [-1.85, CAM_HEIGHT, z1],
                    ]
                )
            )
            cv2.fillPoly(img, [np.round(dash * 16).astype(np.int32)], (230, 230, 230), cv2.LINE_AA, 4)
        # post from the road to the sign
        top = self._project(np.array([[SIGN_X, -SIGN_Y, z], [SIGN_X, CAM_HEIGHT, z]]))
        cv2.line(
            img,
            tuple(np.round(top[0]).astype(int)),
            tuple(np.round(top[1]).astype(int)),
            (120, 120, 125),
            max(1, int(self.f * 0.06 / z)),
            cv2.LINE_AA,
        )
        roi = self._paste(img, self.quad(i))
        return img, roi

    def quad(self, i: int) -> np.ndarray:
        """Pixel corners (top-left, top-right, bottom-right, bottom-left) of the sign's face square in
        frame ``i``: the template's corners map onto these."""
        _, z, yaw = self.pose(i)
        a = np.deg2rad(yaw)
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * SIGN_R
        world = np.stack(
            [SIGN_X + corners[:, 0] * np.cos(a), -SIGN_Y + corners[:, 1], z + corners[:, 0] * np.sin(a)], 1
        )
        return self._project(world).astype(np.float32)

    def _paste(self, img: np.ndarray, quad: np.ndarray) -> Box:
        """Warp the sign into its bounding box only (cheap at any frame size) and alpha-blend it."""
        h, w = img.shape[:2]
        x0, y0 = np.floor(quad.min(0)).astype(int)
        x1, y1 = np.ceil(quad.max(0)).astype(int) + 1
        bx0, by0, bx1, by1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if bx1 > bx0 and by1 > by0:
            src = np.array([[0, 0], [TEMPLATE, 0], [TEMPLATE, TEMPLATE], [0, TEMPLATE]], np.float32)
            hom = cv2.getPerspectiveTransform(src, quad - np.array([bx0, by0], np.float32))
            size = (bx1 - bx0, by1 - by0)
            sign = cv2.warpPerspective(self.sign, hom, size, flags=cv2.INTER_AREA)
            alpha = cv2.warpPerspective(self.mask_f, hom, size, flags=cv2.INTER_AREA)[..., None]
            patch = img[by0:by1, bx0:bx1].astype(np.float32)
            img[by0:by1, bx0:bx1] = (patch * (1 - alpha) + sign.astype(np.float32) * alpha).astype(np.uint8)
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        side = int(round(max(x1 - x0, y1 - y0) * ROI_PAD))
        side = max(8, min(side, w, h))
        rx = int(np.clip(round(cx - side / 2), 0, w - side))
        ry = int(np.clip(round(cy - side / 2), 0, h - side))
        return rx, ry, side, side


class SyntheticSource(Source):
    """A :class:`DriveBySequence` as a (non-live) frame source; ``roi`` is the sign's box per frame."""

    truth = "stop"  # the sign every frame shows: the loop counts frames read as anything else

    def __init__(self, cfg: DriveBy, name: str) -> None:
        self.cfg = cfg
        self.name = name
        # what the sign wears, for the summary: None, "pattern" (sticker=1) or the sticker's name
        self.sticker = "pattern" if cfg.sticker is True else Path(cfg.sticker).stem if cfg.sticker else None
        self.fps = cfg.fps
        self.seq: DriveBySequence | None = None
        self.index = 0

    def open(self) -> None:
        if self.seq is None:
            self.seq = DriveBySequence(self.cfg)
        self.index = 0

    def read(self) -> np.ndarray | None:
        if self.seq is None or self.index >= self.cfg.frames:
            return None
        frame, self.roi = self.seq.render(self.index)
        self.index += 1
        return frame


def parse_synthetic(
    spec: str, *, width: int | None = None, height: int | None = None, fps: int | None = None
) -> DriveBy:
    """``synthetic:stop-sign?sticker=1&frames=240&angles=0,30,-30&seed=0`` → :class:`DriveBy`.

    Raises:
        SourceError: unknown scene, unknown key, or a value out of range.
    """
    body = spec.split(":", 1)[1].lstrip("/")
    scene, _, query = body.partition("?")
    if scene != "stop-sign":
        raise SourceError(
            f"--source {spec!r}: unknown synthetic scene {scene!r} (known: {', '.join(SCENES)})"
        )
    kw: dict = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        try:
            if key == "sticker":
                if value in ("0", "false", "no"):
                    kw["sticker"] = False
                else:  # 1 → the fixed pattern; a shipped name or PNG path → that sticker
                    try:
                        path = resolve(value)
                        if path is not None:
                            load(path, TEMPLATE)  # validated here, before any output opens
                    except SourceError as exc:
                        raise SourceError(f"--source {spec!r}: {exc}") from None
                    kw["sticker"] = True if path is None else str(path)
            elif key in ("frames", "seed"):
                kw[key] = int(value)
                if kw[key] < (1 if key == "frames" else 0) or kw[key] > 10_000_000:
                    raise ValueError
            elif key == "angles":
                kw["angles"] = tuple(float(v) for v in value.split(","))
                if not kw["angles"] or any(not -75 <= v <= 75 for v in kw["angles"]):
                    raise ValueError
            else:
                raise SourceError(
                    f"--source {spec!r}: unknown option {key!r} (sticker, frames, angles, seed)"
                )
        except ValueError:
            raise SourceError(
                f"--source {spec!r}: bad value {key}={value!r} (frames>=1, seed>=0, "
                f"angles=comma-separated degrees in -75..75)"
            ) from None
    for key, value, lo in (("width", width, 64), ("height", height, 64), ("fps", fps, 1)):
        if value is not None:
            if not lo <= value <= 8192:
                raise SourceError(f"--{key} {value}: expected {lo}..8192 for a synthetic source")
            kw[key] = float(value) if key == "fps" else int(value)
    return DriveBy(**kw)


def synthetic_source(
    spec: str, *, width: int | None = None, height: int | None = None, fps: int | None = None
) -> Source:
    if spec.split(":", 1)[1].lstrip("/").partition("?")[0] == "surveillance":
        from .surveillance import surveillance_source  # people walking, their boxes (issue #13)

        return surveillance_source(spec, width=width, height=height, fps=fps)
    cfg = parse_synthetic(spec, width=width, height=height, fps=fps)
    if cfg.sticker is True:
        sticker = " with RP2-style sticker pattern"
    else:
        sticker = f" with RP2 sticker {Path(cfg.sticker).stem}" if cfg.sticker else ""
    return SyntheticSource(
        cfg, f"synthetic stop-sign drive-by{sticker} ({cfg.frames} frames, {cfg.width}x{cfg.height})"
    )


@SOURCES.register(
    "synthetic",
    summary="rendered stop-sign drive-by (optional RP2 sticker), or people walking with their boxes",
    usage="synthetic:stop-sign[?sticker=1|stop-bars|PATH.png&frames=N&angles=0,30,-30] | "
    "synthetic:surveillance[?people=N]",
    schemes=("synthetic",),
    examples=(
        {"spec": "synthetic:stop-sign?frames=3"},
        {"spec": "synthetic:stop-sign?sticker=1&frames=2&angles=0"},
        {"spec": "synthetic:stop-sign?sticker=stop-bars&frames=2&angles=0"},
        {"spec": "synthetic:surveillance?frames=2&people=2"},
    ),
)
def open_synthetic(spec: str, opts: SourceOptions) -> Source:
    """The ``synthetic:`` source kind (looked up by scheme: ``camera/sources.py`` never imports this)."""
    return synthetic_source(spec, width=opts.width, height=opts.height, fps=opts.fps)


__all__ = [
    "DriveBy",
    "DriveBySequence",
    "STICKERS",
    "SyntheticSource",
    "parse_synthetic",
    "sign_template",
    "open_synthetic",
    "synthetic_source",
]
