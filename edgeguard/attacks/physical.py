"""Expectation over physical viewing conditions (EOT) for sticker attacks, differentiable, in kornia.

RP2 (Eykholt et al., CVPR'18, seed 004) optimises a sticker over a distribution of physical conditions
so it survives a drive-by: distance, viewing angle, in-plane rotation, lighting, blur, camera noise and
compression. :class:`Conditions` states those ranges — by default the sign renderer's nuisance model
(:class:`edgeguard.data.render.SceneConfig`: scale 0.55–0.95 of the crop, roll ±12°, gain, contrast,
white balance, gamma, blur, noise ≤ 0.05, JPEG 25–95) with yaw/pitch up to seed 004's table angle of
30° — and :func:`view` renders a sign face (sticker already composited, so it moves with the sign)
under a batch of drawn conditions:

    perspective warp (kornia.geometry: yaw/pitch/roll + pinhole projection + scale + offset) over a
    background → lighting (contrast, gain, white balance, gamma) → Gaussian blur (kornia.filters) →
    sensor noise → differentiable JPEG (kornia.enhance.jpeg_codec_differentiable).

Every random number comes from the caller's ``torch.Generator`` (:func:`draw`), so a run is
reproducible and torch's global state is untouched; kornia's augmentation modules draw from the global
generator, which is why the functional ops are used with parameters drawn here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from ..errors import ConfigError


@dataclass(frozen=True)
class Conditions:
    """Ranges of the viewing conditions (uniform draws; ``p_*`` the probability a nuisance applies)."""

    max_yaw: float = 30.0  # degrees; seed 004's table goes to 30°
    max_pitch: float = 15.0
    max_roll: float = 12.0  # in-plane rotation, the renderer's range
    scale: tuple[float, float] = (0.55, 0.95)  # sign side / crop side (distance, after detection)
    distance: tuple[float, float] = (3.0, 8.0)  # camera distance in sign half-widths (perspective)
    gain: tuple[float, float] = (0.45, 1.3)
    contrast: tuple[float, float] = (0.6, 1.15)
    balance: tuple[float, float] = (0.88, 1.12)  # per-channel white balance
    gamma: tuple[float, float] = (0.75, 1.35)
    p_blur: float = 0.35
    blur: tuple[float, float] = (0.4, 1.1)  # Gaussian sigma in output pixels
    max_noise: float = 0.05  # std of Gaussian sensor noise
    p_jpeg: float = 0.5
    jpeg: tuple[float, float] = (25.0, 95.0)

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            pair = v if isinstance(v, tuple) else (v,)
            if not all(isinstance(u, (int, float)) and math.isfinite(u) and u >= 0 for u in pair):
                raise ConfigError(f"conditions: {f.name} must be finite numbers >= 0, got {v!r}")
            if isinstance(v, tuple) and (len(v) != 2 or v[0] > v[1]):
                raise ConfigError(f"conditions: {f.name} must be a (low, high) pair, got {v!r}")
        if self.max_yaw >= 80 or self.max_pitch >= 80 or self.scale[1] > 1.5 or self.scale[0] <= 0:
            raise ConfigError("conditions: need yaw/pitch < 80° and 0 < scale <= 1.5")
        if not (self.jpeg[0] >= 1 and self.jpeg[1] <= 100) or self.p_blur > 1 or self.p_jpeg > 1:
            raise ConfigError("conditions: need JPEG quality in [1, 100] and probabilities <= 1")


def _u(n: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def draw(n: int, cond: Conditions, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """``n`` independent viewing conditions, one tensor of length ``n`` (or ``(n, 3)``) per parameter:
    ``yaw``/``pitch``/``roll`` (degrees), ``scale``, ``distance``, ``dx``/``dy`` (offset as a fraction
    of the free room), ``gain``, ``contrast``, ``balance`` (n, 3), ``gamma``, ``blur`` (sigma, 0 = none),
    ``noise`` (std), ``jpeg`` (quality, 0 = none), ``bg`` (n, 3) background colour."""
    g = generator
    out = {
        "yaw": _u(n, -cond.max_yaw, cond.max_yaw, g),
        "pitch": _u(n, -cond.max_pitch, cond.max_pitch, g),
        "roll": _u(n, -cond.max_roll, cond.max_roll, g),
        "scale": _u(n, *cond.scale, g),
        "distance": _u(n, *cond.distance, g),
        "dx": _u(n, -1, 1, g),
        "dy": _u(n, -1, 1, g),
        "gain": _u(n, *cond.gain, g),
        "contrast": _u(n, *cond.contrast, g),
        "balance": cond.balance[0] + (cond.balance[1] - cond.balance[0]) * torch.rand(n, 3, generator=g),
        "gamma": _u(n, *cond.gamma, g),
        "noise": _u(n, 0, cond.max_noise, g),
        "bg": 0.15 + 0.75 * torch.rand(n, 3, generator=g),
    }
    blur_on = torch.rand(n, generator=g) < cond.p_blur
    out["blur"] = torch.where(blur_on, _u(n, *cond.blur, g), torch.zeros(n, dtype=torch.float64))
    jpeg_on = torch.rand(n, generator=g) < cond.p_jpeg
    quality = torch.floor(_u(n, cond.jpeg[0], cond.jpeg[1] + 1 - 1e-9, g))
    out["jpeg"] = torch.where(jpeg_on, quality, torch.zeros(n, dtype=torch.float64))
    out["seed"] = torch.randint(0, 2**31 - 1, (1,), generator=g)  # the per-view noise's seed
    return out


def quads(params: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """``(n, 4, 2)`` image positions of the face's corners (tl, tr, br, bl) in an ``size``² crop:
    3D rotation (yaw about the vertical, pitch about the horizontal, roll in plane), pinhole
    projection at the drawn distance, scaled so the frontal side is ``scale``·size, then offset within
    the free room (as :func:`edgeguard.data.render._pose_quad` does in numpy)."""
    yaw, pitch, roll = (torch.deg2rad(params[k]) for k in ("yaw", "pitch", "roll"))
    cy, sy, cx, sx, cz, sz = yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin()
    o, z = torch.ones_like(cy), torch.zeros_like(cy)
    ry = torch.stack([cy, z, sy, z, o, z, -sy, z, cy], -1).view(-1, 3, 3)
    rx = torch.stack([o, z, z, z, cx, -sx, z, sx, cx], -1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, z, sz, cz, z, z, z, o], -1).view(-1, 3, 3)
    corners = torch.tensor([[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=torch.float64)
    pts = corners @ (ry @ rx @ rz).transpose(1, 2)  # (n, 4, 3)
    d = params["distance"][:, None, None]
    proj = pts[..., :2] * d / (d + pts[..., 2:3])
    proj = proj * (0.5 * params["scale"] * size)[:, None, None]
    ext = proj.abs().amax(1)  # (n, 2)
    room = (size / 2 - ext).clamp(min=0)
    shift = torch.stack([params["dx"], params["dy"]], 1) * room
    return (proj + size / 2 + shift[:, None, :]).float()


def view(face: torch.Tensor, alpha: torch.Tensor, params: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """Render ``face`` (``(n, 3, h, w)`` in [0, 1], sticker composited) with coverage ``alpha``
    (``(n, 1, h, w)``) under the ``n`` drawn conditions into ``(n, 3, size, size)`` crops.

    Differentiable in ``face``: warp, lighting, blur and noise are smooth; JPEG is kornia's
    differentiable codec (Reich et al. WACV'24), quality 0 meaning no compression.
    """
    from kornia.enhance import jpeg_codec_differentiable
    from kornia.filters import gaussian_blur2d
    from kornia.geometry.transform import get_perspective_transform, warp_perspective

    n, _, h, w = face.shape
    src = torch.tensor([[0.0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]).expand(n, 4, 2)
    dst = quads(params, size) * (size - 1) / size
    m = get_perspective_transform(src, dst)
    warped = warp_perspective(torch.cat([face * alpha, alpha], 1), m, (size, size), align_corners=True)
    cover = warped[:, 3:].clamp(0, 1)
    bg = params["bg"].to(face.dtype)[:, :, None, None]
    img = warped[:, :3] + (1 - cover) * bg
    mean = img.mean((1, 2, 3), keepdim=True)
    f = lambda k: params[k].to(face.dtype).view(n, 1, 1, 1)  # noqa: E731
    img = (img - mean) * f("contrast") + mean
    img = img * f("gain") * params["balance"].to(face.dtype)[:, :, None, None]
    img = img.clamp(1e-4, 1) ** f("gamma")
    sigma = params["blur"].to(face.dtype)
    if bool((sigma > 0).any()):
        s = sigma.clamp(min=1e-3)[:, None].expand(n, 2)
        blurred = gaussian_blur2d(img, (5, 5), s, border_type="reflect")
        img = torch.where((sigma > 0).view(n, 1, 1, 1), blurred, img)
    noise_gen = torch.Generator().manual_seed(int(params["seed"][0]))
    img = img + torch.randn(img.shape, generator=noise_gen, dtype=img.dtype) * f("noise")
    img = img.clamp(0, 1)
    q = params["jpeg"].to(face.dtype)
    if bool((q > 0).any()):
        coded = jpeg_codec_differentiable(img, q.clamp(min=1))
        img = torch.where((q > 0).view(n, 1, 1, 1), coded, img).clamp(0, 1)
    return img


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Area-resize a batch to ``size``² (the frontal, unwarped view)."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="area")


__all__ = ["Conditions", "draw", "quads", "resize", "view"]
