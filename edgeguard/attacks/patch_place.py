"""Where a person's patch goes and how it is pasted there (differentiably, with kornia).

**Placement.** The patch is a square on the torso, scaled with the person: side ``scale`` × the
person's height (default 0.25: about 40 cm on a 1.7 m person, a small poster held in front of the
torso; Thys et al. scale their patch with the person's box too), capped by the box's width and height
so it never leaves the person's box. Its centre is the box's horizontal centre and
:data:`TORSO_Y` = 0.37 of the person's height below the top of the box: the scene renderer's figures
have shoulders at 0.185 and the hem of the top at 0.56 of their height
(:func:`edgeguard.data.figures.draw_person`), and 0.37 is the middle of that. The person's full
height may be given (the renderer knows it when the legs are occluded); otherwise the box height
is used. Then the square is shifted, if needed, so it lies inside the box.

**Pasting.** Each patch copy (after :func:`~.patch_eot.recolour`) is warped into the frame by an
affine map — scale to the side, rotation about its centre, translation to the torso —
with ``kornia.geometry.transform.warp_affine``; its coverage is the warp of an all-ones image (soft
at the edges), cut to the person's box. To avoid aliasing when a 48-pixel patch lands on a 5-pixel
torso, the warp starts from the level of a 2× average-pool pyramid closest above the target size.
Patches are composited in order (a later person's patch over an earlier one's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..errors import ConfigError

TORSO_Y = 0.37
DEFAULT_SCALE = 0.25


def check_scale(scale: float, what: str = "patch") -> float:
    """``scale`` (patch side / person height) in (0, 1]: a patch larger than the person's box is
    refused.

    Raises:
        ConfigError: outside (0, 1].
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ConfigError(f"{what}: scale must be a number, got {scale!r}")
    if not 0 < scale <= 1:
        raise ConfigError(
            f"{what}: scale {scale!r} makes the patch larger than the person's box (need 0 < scale <= 1, "
            "the patch side as a fraction of the person's height)"
        )
    return float(scale)


def torso_squares(
    boxes: torch.Tensor, scale: float = DEFAULT_SCALE, heights: torch.Tensor | None = None
) -> torch.Tensor:
    """``(K, 3)`` patch squares ``(cx, cy, side)`` in pixels for person boxes ``(K, 4)`` xyxy.

    Args:
        boxes: person boxes (visible extent), pixels, xyxy.
        scale: patch side as a fraction of the person's height, in (0, 1].
        heights: ``(K,)`` full person heights (``None``: the box heights).

    Shape:
        (K, 4) → (K, 3)
    """
    check_scale(scale)
    b = boxes.reshape(-1, 4).float()
    w, h = (b[:, 2] - b[:, 0]).clamp(min=0), (b[:, 3] - b[:, 1]).clamp(min=0)
    tall = h if heights is None else heights.reshape(-1).float().to(b)
    side = torch.minimum(torch.minimum(scale * tall, w), h)
    cx = (b[:, 0] + b[:, 2]) / 2
    cy = b[:, 1] + TORSO_Y * tall
    cy = torch.minimum(torch.maximum(cy, b[:, 1] + side / 2), b[:, 3] - side / 2)
    return torch.stack([cx, cy, side], 1)


def box_mask(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(K, 1, H, W)`` 1 where a pixel's centre lies inside box ``k`` (xyxy, exclusive right/bottom)."""
    ys = torch.arange(height, dtype=torch.float32) + 0.5
    xs = torch.arange(width, dtype=torch.float32) + 0.5
    b = boxes.reshape(-1, 4).float()
    rows = (ys[None] >= b[:, 1:2]) & (ys[None] < b[:, 3:4])  # (K, H)
    cols = (xs[None] >= b[:, 0:1]) & (xs[None] < b[:, 2:3])  # (K, W)
    return (rows[:, :, None] & cols[:, None, :]).float()[:, None]


def _pyramid_level(p: int, side: float) -> int:
    k = int(math.floor(math.log2(max(p / max(side, 1e-6), 1.0))))
    return max(0, min(k, int(math.log2(max(p // 2, 1)))))


def paste(
    images: torch.Tensor,
    patches: torch.Tensor,
    squares: torch.Tensor,
    image_index: Sequence[int] | torch.Tensor,
    boxes: torch.Tensor,
    rotation: torch.Tensor | None = None,
) -> torch.Tensor:
    """Paste patch ``m`` onto image ``image_index[m]`` at ``squares[m]``, rotated by ``rotation[m]``°.

    Args:
        images: ``(B, 3, H, W)`` in [0, 1].
        patches: ``(M, 3, p, p)`` in [0, 1] (differentiable; one per person, e.g. recoloured copies).
        squares: ``(M, 3)`` ``(cx, cy, side)`` from :func:`torso_squares`.
        image_index: ``(M,)`` which image each person is in.
        boxes: ``(M, 4)`` the persons' boxes: the patch's coverage is cut to them.
        rotation: ``(M,)`` degrees (``None``: upright).

    Returns:
        ``(B, 3, H, W)``: images with the patches; pixels outside every pasted box are unchanged.
    """
    from kornia.geometry.transform import warp_affine

    b, _, h, w = images.shape
    m = len(squares)
    if m == 0:
        return images
    idx = torch.as_tensor(image_index, dtype=torch.long).reshape(-1).tolist()
    p = patches.shape[-1]
    rot = torch.zeros(m) if rotation is None else rotation.reshape(-1).float()
    layers: dict[int, list[tuple[int, int, torch.Tensor, torch.Tensor]]] = {}
    for j in range(m):
        cx, cy, side = (float(v) for v in squares[j])
        if side < 0.5:
            continue
        k = _pyramid_level(p, side)
        src = patches[j : j + 1]
        if k:
            src = F.avg_pool2d(src, 2**k)
        pk = src.shape[-1]
        s = side / pk
        t = math.radians(float(rot[j]))
        a, c = s * math.cos(t), s * math.sin(t)
        # warp into a crop around the square only (the rotated square's extent + a pixel of margin)
        r = side * (abs(math.cos(t)) + abs(math.sin(t))) / 2 + 1
        x0, y0 = max(0, int(math.floor(cx - r))), max(0, int(math.floor(cy - r)))
        x1, y1 = min(w, int(math.ceil(cx + r))), min(h, int(math.ceil(cy + r)))
        if x1 <= x0 or y1 <= y0:
            continue
        c0 = (pk - 1) / 2
        # patch pixel u (centre c0) → frame pixel index s·R·(u − c0) + centre − 0.5, minus the crop corner
        tx, ty = cx - 0.5 - x0 - a * c0 + c * c0, cy - 0.5 - y0 - c * c0 - a * c0
        mat = torch.tensor([[[a, -c, tx], [c, a, ty]]], dtype=images.dtype)
        ones = torch.ones(1, 1, pk, pk, dtype=images.dtype)
        warped = warp_affine(torch.cat([src, ones], 1), mat, (y1 - y0, x1 - x0), align_corners=True)
        local = boxes[j].reshape(1, 4).float() - torch.tensor([[x0, y0, x0, y0]], dtype=torch.float32)
        cut = box_mask(local, y1 - y0, x1 - x0).to(images)
        # the warp is premultiplied: at a soft edge the colour is already weighted by its coverage
        layers.setdefault(idx[j], []).append(
            (y0, x0, warped[:, :3] * cut, warped[:, 3:].detach().clamp(0, 1) * cut)
        )
    out = []
    for i in range(b):
        img = images[i : i + 1]
        if i in layers:
            img = img.clone()
            for y0, x0, colour, alpha in layers[i]:
                hh, ww = colour.shape[-2:]
                region = img[..., y0 : y0 + hh, x0 : x0 + ww].clone()
                img[..., y0 : y0 + hh, x0 : x0 + ww] = region * (1 - alpha) + colour
        out.append(img)
    return torch.cat(out, 0)


__all__ = ["DEFAULT_SCALE", "TORSO_Y", "box_mask", "check_scale", "paste", "torso_squares"]
