"""Camera frames of a (stickered) sign face at one fixed viewing condition, with fresh nuisances.

The stop-sign scenario (issue 12, seed 004's drive-by table) scores every configuration on frames taken
at a stated distance and angle. The viewing geometry is fixed per condition — the sign's yaw, the
perspective of the stated distance and the sign's size in the camera's crop — while everything else is
drawn fresh per frame from the sign renderer's nuisance model (:class:`~edgeguard.attacks.physical.
Conditions`: lighting gain, contrast, white balance, gamma, blur, sensor noise, JPEG) plus a small pose
jitter (yaw ±``jitter``°, pitch and roll ±``jitter``°, size ±5 %, position). Frames are rendered by
the same kornia renderer RP2 optimises over (:func:`~edgeguard.attacks.physical.view`) at the crop's
own pixel size — except JPEG, which is OpenCV's real codec here (kornia's differentiable one is only
needed for gradients, and costs seconds per batch) — then handed to the deployed pipeline as BGR uint8
crops (its preprocess resizes them to the engine input, as the camera loop does with a frame's ROI).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..attacks.physical import Conditions, draw, view

JITTER_DEG = 3.0  # small pose jitter around the stated angle (a car does not hold one exact pose)
SIZE_JITTER = 0.05


@dataclass(frozen=True)
class Geometry:
    """One viewing condition's fixed geometry.

    Attributes:
        yaw: the sign's angle to the camera axis, degrees (seed 004's 0°, 15°, 30°).
        perspective: camera distance in sign half-widths (strength of the perspective foreshortening).
        fill: the sign's side over the crop's side (how a sign detector's ROI frames it).
        crop_px: the crop's side in camera pixels at this distance (frames are rendered at this size).
    """

    yaw: float
    perspective: float
    fill: float
    crop_px: int


def draw_views(n: int, geo: Geometry, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``n`` viewing conditions at ``geo``: nuisances from :class:`Conditions`, pose jittered around it."""
    p = draw(n, Conditions(), generator)

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)

    p["yaw"] = geo.yaw + u(-JITTER_DEG, JITTER_DEG)
    p["pitch"] = u(-JITTER_DEG, JITTER_DEG)
    p["roll"] = u(-JITTER_DEG, JITTER_DEG)
    p["scale"] = geo.fill * u(1 - SIZE_JITTER, 1 + SIZE_JITTER)
    p["distance"] = torch.full((n,), float(geo.perspective), dtype=torch.float64)
    p["dx"], p["dy"] = u(-0.5, 0.5), u(-0.5, 0.5)
    return p


def frames(
    face: np.ndarray, alpha: np.ndarray, geo: Geometry, n: int, generator: torch.Generator
) -> list[np.ndarray]:
    """``n`` BGR uint8 crops (``geo.crop_px``²) of ``face`` (RGB uint8 ``(h, w, 3)``, sticker already
    on it) with coverage ``alpha`` (uint8 ``(h, w)``) at ``geo``, each with fresh nuisances."""
    f = torch.from_numpy(np.ascontiguousarray(face)).permute(2, 0, 1)[None].float() / 255
    a = torch.from_numpy(np.ascontiguousarray(alpha))[None, None].float() / 255
    out: list[np.ndarray] = []
    with torch.no_grad():
        for start in range(0, n, 16):
            k = min(16, n - start)
            params = draw_views(k, geo, generator)
            quality = params["jpeg"].clone()
            params["jpeg"] = torch.zeros_like(quality)  # a real JPEG below (no gradient needed here)
            imgs = view(f.expand(k, -1, -1, -1), a.expand(k, -1, -1, -1), params, geo.crop_px)
            arr = (imgs.permute(0, 2, 3, 1).numpy() * 255).round().clip(0, 255).astype(np.uint8)
            for x, q in zip(arr, quality.tolist()):
                bgr = np.ascontiguousarray(x[..., ::-1])
                out.append(jpeg(bgr, int(q)) if q > 0 else bgr)
    return out


def jpeg(bgr: np.ndarray, quality: int) -> np.ndarray:
    """The camera's JPEG compression at ``quality`` (OpenCV's codec, the one a camera pipeline uses)."""
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else bgr


__all__ = ["Geometry", "draw_views", "frames", "jpeg"]
