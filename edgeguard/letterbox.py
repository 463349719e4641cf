"""Letterbox resizing and the geometry that maps engine-input boxes back to frame pixels.

A detector sees a frame letterboxed (aspect kept, centred, padded with grey 114, as Ultralytics feeds
YOLO models) or stretched (resized to the input, aspect not kept). :class:`Geometry` records, per
frame, how the frame became the engine input, so the detection decision can undo it: boxes come back
in the pixels of the original frame, clipped to the region the network saw.

The arithmetic follows Ultralytics' ``LetterBox`` (``center=True``, ``auto=False``: a fixed-size
engine input) and its ``scale_boxes`` (per-axis gain from the rounded resized sides, padding
``round(… - 0.1)``; Ultralytics 8.4), so edgeguard's boxes equal what its predictor returns on the
same ONNX file.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import ConfigError

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Geometry:
    """How one frame became the engine input: ``x_input = (x_frame - x0) * gain_x + pad_x``.

    Attributes:
        region: ``(x0, y0, w, h)`` of the frame the network saw (the whole frame, or the crop).
        gain: ``(gain_x, gain_y)`` input pixels per frame pixel (a letterbox's differ only by the
            rounding of the resized sides).
        pad: ``(pad_x, pad_y)`` input pixels of padding on the left and on top.
    """

    region: Box
    gain: tuple[float, float]
    pad: tuple[float, float]

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Map ``(N, 4)`` input-pixel boxes to frame pixels, clipped to :attr:`region`."""
        x0, y0, w, h = self.region
        out = np.array(xyxy, dtype=np.float32, copy=True).reshape(-1, 4)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad[0]) / self.gain[0]
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad[1]) / self.gain[1]
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, w) + x0
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, h) + y0
        return out

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_frame` (no clipping): frame-pixel boxes → engine-input pixels."""
        x0, y0 = self.region[:2]
        out = np.array(xyxy, dtype=np.float64, copy=True).reshape(-1, 4)
        out[:, [0, 2]] = (out[:, [0, 2]] - x0) * self.gain[0] + self.pad[0]
        out[:, [1, 3]] = (out[:, [1, 3]] - y0) * self.gain[1] + self.pad[1]
        return out


def letterbox_geometry(shape: tuple[int, int], size: tuple[int, int], region: Box | None = None) -> Geometry:
    """The geometry of letterboxing an ``(h, w)`` image into ``size = (H, W)`` (Ultralytics' scale_boxes).

    ``region`` places the image inside a larger frame (a crop); default: the image itself.
    """
    h, w = shape
    big_h, big_w = size
    gain = min(big_h / h, big_w / w)
    new_h, new_w = max(round(h * gain), 1), max(round(w * gain), 1)  # the sides letterbox() resized to
    pad_x = round((big_w - new_w) / 2 - 0.1)
    pad_y = round((big_h - new_h) / 2 - 0.1)
    return Geometry(region or (0, 0, w, h), (new_w / w, new_h / h), (float(pad_x), float(pad_y)))


def stretch_geometry(shape: tuple[int, int], size: tuple[int, int], region: Box | None = None) -> Geometry:
    """The geometry of resizing an ``(h, w)`` image to ``size = (H, W)`` without keeping its aspect."""
    h, w = shape
    return Geometry(region or (0, 0, w, h), (size[1] / w, size[0] / h), (0.0, 0.0))


def letterbox(img: np.ndarray, size: tuple[int, int], pad_value: int = 114) -> np.ndarray:
    """Resize ``img`` (H×W×C uint8) into ``size = (H, W)`` keeping its aspect, centred, padded.

    As Ultralytics' ``LetterBox(new_shape, auto=False, center=True)``: one gain ``r`` for both axes,
    the resized size rounded, bilinear resize (``cv2.INTER_LINEAR``), and the padding split with
    ``round(d - 0.1)`` on top/left and ``round(d + 0.1)`` on bottom/right.

    Raises:
        ConfigError: ``size`` is not two positive integers or ``pad_value`` is outside 0..255.
    """
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"letterbox size {size!r}: expected (H, W) > 0")
    if not 0 <= pad_value <= 255:
        raise ConfigError(f"letterbox pad value {pad_value}: expected 0..255")
    h, w = img.shape[:2]
    big_h, big_w = size
    r = min(big_h / h, big_w / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)  # a thin image keeps one pixel
    dw, dh = (big_w - new_w) / 2, (big_h - new_h) / 2
    if (w, h) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    value = (pad_value,) * (img.shape[2] if img.ndim == 3 else 1)
    return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=value)


__all__ = ["Geometry", "letterbox", "letterbox_geometry", "stretch_geometry"]
