"""``synthetic:surveillance``: a fixed camera watching people walk through a rendered scene.

The scene (street or room, from :func:`edgeguard.data.scenes.render_background`) and a few static
distractors are rendered once; each walker is an articulated figure from
:func:`edgeguard.data.figures.draw_person` with a fixed appearance, seen from the side, walking along its
own lane (a foot row, so its size follows the camera's perspective) with its legs and arms swinging in
step with the distance covered; walkers leave one side and come back on the other. Frames are a pure
function of (spec, frame index).

The source knows where everyone is: after each :meth:`read`, ``boxes`` holds the visible box of every
person in the frame (``(K, 4)`` int ``x1, y1, x2, y2``, exclusive right/bottom, nearest person last) and
``roi`` the largest one as ``(x, y, w, h)`` (like the stop-sign source's sign box), ``None`` when nobody
is in view.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import cv2
import numpy as np

from ..data.figures import draw_distractor, draw_person
from ..data.scenes import Camera, composite, render_background
from ..errors import SourceError
from .sources import Source

STRIDE = 0.8  # stride length per walking cycle, in body heights


@dataclass(frozen=True)
class Walk:
    """Parameters of a surveillance sequence."""

    frames: int = 300
    width: int = 640
    height: int = 480
    fps: float = 15.0
    people: int = 4
    seed: int = 0


class SurveillanceSequence:
    """Renders frame ``i`` of a :class:`Walk` (``render(i) -> (bgr frame, boxes)``)."""

    def __init__(self, cfg: Walk) -> None:
        from ..data.render import _photos

        self.cfg = cfg
        self.photos = _photos()
        h, w = cfg.height, cfg.width
        rng = np.random.default_rng((cfg.seed, 0))
        cam = Camera(horizon=h * rng.uniform(0.12, 0.32), ratio=rng.uniform(0.3, 0.55))
        bg, self.cam = render_background(rng, h, w, bool(rng.random() < 0.3), camera=cam)
        idmap = np.zeros((h, w), np.int16)
        lo_foot = cam.foot_for(max(40.0, 0.12 * h))
        for _ in range(int(rng.integers(2, 5))):
            fy = float(rng.uniform(lo_foot, h))
            draw_distractor(rng, bg, idmap, float(rng.uniform(0, w)), fy, cam.height_at(fy))
        self.background = bg
        self.walkers = []
        for k in range(cfg.people):
            fy = float(rng.uniform(lo_foot, h - 2))
            ht = cam.height_at(fy)
            self.walkers.append(
                {
                    "seed": (cfg.seed, 1, k),
                    "foot": fy,
                    "height": ht,
                    "dir": 1.0 if rng.random() < 0.5 else -1.0,
                    "speed": ht * rng.uniform(0.025, 0.05) * 15.0 / cfg.fps,
                    "start": float(rng.uniform(0, w + 0.6 * ht)),
                    "phase": float(rng.uniform(0, 2 * np.pi)),
                }
            )

    def positions(self, i: int) -> list[tuple[float, float]]:
        """(x of the feet, walking phase) of every walker at frame ``i``."""
        out = []
        for p in self.walkers:
            span = self.cfg.width + 0.6 * p["height"]
            d = p["start"] + p["speed"] * i
            x = d % span - 0.3 * p["height"]
            x = x if p["dir"] > 0 else self.cfg.width - x
            out.append((x, p["phase"] + 2 * np.pi * p["speed"] * i / (STRIDE * p["height"])))
        return out

    def render(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        img = self.background.copy()
        idmap = np.zeros(img.shape[:2], np.int16)
        order = np.argsort([p["foot"] for p in self.walkers], kind="stable")
        where = {}
        for k, (x, phase) in zip(order, [self.positions(i)[j] for j in order], strict=True):
            p = self.walkers[k]
            rgb, alpha, meta = draw_person(
                np.random.default_rng(p["seed"]),
                p["height"],
                self.photos,
                pose="walk",
                phase=phase,
                facing=np.pi / 2,
                side=p["dir"],
            )
            composite(img, idmap, (rgb, alpha), x, p["foot"], int(k) + 1, meta["foot_x"])
            where[k] = (x, p["foot"])
        boxes = []
        for k in order:
            ys, xs = np.nonzero(idmap == k + 1)
            if len(ys) >= 4:
                boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        frame = cv2.cvtColor(np.clip(np.round(img * 255), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        return frame, np.array(boxes, np.int64).reshape(-1, 4)


class SurveillanceSource(Source):
    """A :class:`SurveillanceSequence` as a (non-live) source; ``boxes``/``roi`` describe the last frame."""

    def __init__(self, cfg: Walk, name: str) -> None:
        self.cfg = cfg
        self.name = name
        self.fps = cfg.fps
        self.seq: SurveillanceSequence | None = None
        self.index = 0
        self.boxes = np.zeros((0, 4), np.int64)

    def open(self) -> None:
        if self.seq is None:
            self.seq = SurveillanceSequence(self.cfg)
        self.index = 0

    def read(self) -> np.ndarray | None:
        if self.seq is None or self.index >= self.cfg.frames:
            return None
        frame, self.boxes = self.seq.render(self.index)
        if len(self.boxes):
            x1, y1, x2, y2 = (
                int(v) for v in self.boxes[np.argmax(np.prod(self.boxes[:, 2:] - self.boxes[:, :2], 1))]
            )
            self.roi = (x1, y1, x2 - x1, y2 - y1)
        else:
            self.roi = None
        self.index += 1
        return frame


def parse_surveillance(
    spec: str, *, width: int | None = None, height: int | None = None, fps: int | None = None
) -> Walk:
    """``synthetic:surveillance?people=4&frames=300&seed=0`` → :class:`Walk`.

    Raises:
        SourceError: unknown key or a value out of range.
    """
    query = spec.split(":", 1)[1].lstrip("/").partition("?")[2]
    kw: dict = {}
    limits = {"frames": (1, 10_000_000), "people": (0, 50), "seed": (0, 2**31 - 1)}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in limits:
            raise SourceError(f"--source {spec!r}: unknown option {key!r} (people, frames, seed)")
        try:
            kw[key] = int(value)
        except ValueError:
            kw[key] = -1
        lo, hi = limits[key]
        if not lo <= kw[key] <= hi:
            raise SourceError(
                f"--source {spec!r}: bad value {key}={value!r} (people 0..50, frames >= 1, seed >= 0)"
            )
    for key, value, lo in (("width", width, 128), ("height", height, 128), ("fps", fps, 1)):
        if value is not None:
            if not lo <= value <= 8192:
                raise SourceError(f"--{key} {value}: expected {lo}..8192 for a synthetic source")
            kw[key] = float(value) if key == "fps" else int(value)
    return Walk(**kw)


def surveillance_source(
    spec: str, *, width: int | None = None, height: int | None = None, fps: int | None = None
) -> SurveillanceSource:
    cfg = parse_surveillance(spec, width=width, height=height, fps=fps)
    return SurveillanceSource(
        cfg,
        f"synthetic surveillance scene ({cfg.people} walkers, {cfg.frames} frames, {cfg.width}x{cfg.height})",
    )


__all__ = ["SurveillanceSequence", "SurveillanceSource", "Walk", "parse_surveillance", "surveillance_source"]
