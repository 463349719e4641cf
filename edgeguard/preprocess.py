"""Frames and image files → ``(B, 3, H, W)`` float32 RGB in [0, 1], as the manifest says.

Frames are uint8 HWC BGR (OpenCV's layout). Grayscale and BGRA inputs are converted, not rejected.
Crop modes: ``resize`` (full frame), ``center`` (largest centred square/aspect crop, then resize), or
a fixed box ``(x, y, w, h)`` in frame pixels. The region is then stretched to the input size, or
letterboxed (aspect kept, padded) when the manifest's ``input.resize`` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .checks import check_path
from .errors import ConfigError, InputError
from .imageinfo import HEADER_BYTES, check_header, decode_quietly
from .letterbox import Geometry, letterbox, letterbox_geometry, stretch_geometry

Box = tuple[int, int, int, int]


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 BGR ``(H, W, 3)``; grayscale/RGBA/16-bit are converted.

    The size in the file's header is checked before decoding (:func:`~edgeguard.imageinfo.check_header`),
    and what libpng/OpenCV print while decoding is kept off the terminal: a failure is one InputError
    that carries the decoder's first line.

    Raises:
        InputError: missing, empty, unreadable, too large (by its header), or not a decodable image.
    """
    p = check_path(path, what="image", error=InputError)
    if not p.is_file():
        what = "is a folder, not an image file" if p.is_dir() else "does not exist"
        raise InputError(f"image {str(p)!r} {what}")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"image {p.name}: cannot read it ({exc.strerror})") from None
    if data.size == 0:
        raise InputError(f"image {p.name} is empty (0 bytes)")
    check_header(data[:HEADER_BYTES].tobytes(), where=p.name)
    img, said = decode_quietly(data)
    if img is None:
        why = f" ({said})" if said else ""
        raise InputError(
            f"{p.name} is not an image OpenCV can decode (jpg, png, bmp, ppm, tiff, webp …){why}"
        )
    return to_bgr(img, where=p.name)


def to_bgr(img: np.ndarray, *, where: str = "frame") -> np.ndarray:
    """Convert gray / BGRA / 16-bit / float frames to uint8 BGR ``(H, W, 3)``."""
    if not isinstance(img, np.ndarray):
        raise InputError(f"{where}: expected a numpy image (H, W, 3) uint8 BGR, got {type(img).__name__}")
    if img.size == 0:
        raise InputError(f"{where}: empty frame")
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        if not np.isfinite(img).all():
            raise InputError(f"{where}: frame contains NaN or Inf")
        img = np.clip(img * 255.0 if img.max() <= 1.0 else img, 0, 255).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise InputError(f"{where}: unsupported pixel type {img.dtype}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    raise InputError(f"{where}: unsupported image shape {img.shape}; expected HxW, HxWx3 or HxWx4")


def parse_crop(text: str | None) -> str | tuple[int, int, int, int]:
    """``resize`` | ``center`` | ``X,Y,W,H`` → crop mode."""
    if text in (None, "", "resize", "full"):
        return "resize"
    if text == "center":
        return "center"
    try:
        box = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or box[2] <= 0 or box[3] <= 0 or box[0] < 0 or box[1] < 0:
        raise ConfigError(f"--crop {text!r}: expected resize, center, or X,Y,W,H with W,H > 0")
    return box  # type: ignore[return-value]


def check_crop(mode: Any) -> str | tuple[int, int, int, int]:
    """A crop mode for the Python API: ``"resize"``, ``"center"``, a box ``(x, y, w, h)`` or its text.

    Raises:
        ConfigError: anything else (the message names the accepted forms).
    """
    if isinstance(mode, str):
        try:
            return parse_crop(mode) if mode else "resize"
        except ConfigError:
            pass
    if isinstance(mode, (tuple, list)) and len(mode) == 4:
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in mode)
        if ints and mode[0] >= 0 and mode[1] >= 0 and mode[2] > 0 and mode[3] > 0:
            return tuple(int(v) for v in mode)  # type: ignore[return-value]
    shown = repr(mode) if len(repr(mode)) <= 60 else repr(mode)[:57] + "..."
    raise ConfigError(
        f"crop {shown}: expected 'resize', 'center', or a box (x, y, w, h) of integers with w, h > 0"
    )


def crop_box(shape: tuple[int, ...], mode: str | tuple[int, int, int, int], aspect: float) -> Box:
    """The region ``(x, y, w, h)`` of an ``(h, w, …)`` frame that ``mode`` keeps (see :func:`crop`)."""
    mode = check_crop(mode)
    h, w = shape[:2]
    if mode == "resize":
        return 0, 0, w, h
    if mode == "center":
        cw, ch = (int(round(h * aspect)), h) if w / h > aspect else (w, int(round(w / aspect)))
        return (w - cw) // 2, (h - ch) // 2, cw, ch
    x, y, bw, bh = mode
    if x + bw > w or y + bh > h:
        raise InputError(f"crop box {mode} lies outside the {w}x{h} frame")
    return mode


def crop(frame: np.ndarray, mode: str | tuple[int, int, int, int], aspect: float) -> np.ndarray:
    x, y, w, h = crop_box(frame.shape, mode, aspect)
    return frame[y : y + h, x : x + w]


def preprocess(
    frames: list[np.ndarray],
    size: tuple[int, int],
    *,
    color: str = "RGB",
    crop_mode: str | tuple[int, int, int, int] = "resize",
    resize: str = "stretch",
    pad_value: int = 114,
    geometry: list[Geometry] | None = None,
) -> np.ndarray:
    """BGR uint8 frames → float32 ``(B, 3, H, W)`` in [0, 1] (``color`` = the engine's channel order).

    ``resize``: ``stretch`` (to ``size``, aspect not kept; area interpolation when shrinking) or
    ``letterbox`` (aspect kept, centred, padded with ``pad_value``; bilinear, as Ultralytics).
    ``geometry``: a list that receives one :class:`~edgeguard.letterbox.Geometry` per frame (how to
    map boxes in engine-input pixels back to that frame).
    """
    if resize not in ("stretch", "letterbox"):
        raise ConfigError(f"resize {resize!r}: expected stretch or letterbox")
    h, w = size
    out = np.empty((len(frames), 3, h, w), np.float32)
    for i, frame in enumerate(frames):
        frame = to_bgr(frame)
        region = crop_box(frame.shape, crop_mode, w / h)
        x0, y0, cw, ch = region
        img = frame[y0 : y0 + ch, x0 : x0 + cw]
        if resize == "letterbox":
            img = letterbox(img, size, pad_value)
            if geometry is not None:
                geometry.append(letterbox_geometry((ch, cw), size, region))
        else:
            interp = cv2.INTER_AREA if img.shape[0] > h or img.shape[1] > w else cv2.INTER_LINEAR
            img = cv2.resize(img, (w, h), interpolation=interp)
            if geometry is not None:
                geometry.append(stretch_geometry((ch, cw), size, region))
        if color == "RGB":
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        out[i] = img.transpose(2, 0, 1)
    out *= 1.0 / 255.0
    return out
