"""Image files before decoding: the size a header claims, and a decoder kept quiet.

A PNG header can claim 60000×60000 pixels in 33 bytes; decoding it would ask for ~10 GB (issue #10).
:func:`check_header` reads the size from PNG, JPEG, GIF, BMP and WebP headers and refuses anything
above :data:`MAX_PIXELS` before OpenCV allocates. :func:`decode_quietly` runs ``cv2.imdecode`` with
file descriptor 2 pointed at a temporary file, because libpng and OpenCV write warnings ("libpng
warning: …", "[ WARN:0 …] PNG input buffer is incomplete") straight to the C stderr, above the one
error line the CLI promises.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator

import cv2
import numpy as np

from .errors import InputError

# 100 megapixels (~300 MB as BGR uint8): far above any camera frame or dataset image edgeguard reads,
# far below OpenCV's own CV_IO_MAX_IMAGE_PIXELS default of 2^30.
MAX_PIXELS = 100_000_000
HEADER_BYTES = 64 * 1024  # JPEG SOF markers may follow EXIF blocks; 64 KiB covers ordinary files
_LOCK = threading.Lock()
# "[ WARN:0@0.7] global grfmt_png.cpp:793 readFromStreamOrBuffer PNG input buffer is incomplete"
_OPENCV_PREFIX = re.compile(r"^\[\s*\w+:[^\]]*\]\s*(global\s+)?\S+:\d+\s+\S+\s+")


def _jpeg_size(b: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg = struct.unpack(">H", b[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn: precision, H, W
            h, w = struct.unpack(">HH", b[i + 5 : i + 9])
            return w, h
        i += 2 + seg
    return None


def header_size(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG/JPEG/GIF/BMP/WebP header, or ``None`` when not known."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24 and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(head)
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)  # a negative height means top-down rows
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        kind = head[12:16]
        if kind == b"VP8X":
            w = 1 + int.from_bytes(head[24:27], "little")
            h = 1 + int.from_bytes(head[27:30], "little")
            return w, h
        if kind == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
            w, h = struct.unpack("<HH", head[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if kind == b"VP8L" and head[20] == 0x2F:
            bits = int.from_bytes(head[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def check_header(head: bytes, *, where: str = "image") -> None:
    """Refuse an image whose header claims zero or more than :data:`MAX_PIXELS` pixels.

    Raises:
        InputError: naming the claimed size and the limit.
    """
    size = header_size(head)
    if size is None:
        return
    w, h = size
    if w == 0 or h == 0:
        raise InputError(f"{where}: its header claims {w}x{h} pixels; the file is corrupt")
    if w * h > MAX_PIXELS:
        raise InputError(
            f"{where}: its header claims {w}x{h} pixels ({w * h / 1e6:.0f} MP); edgeguard reads images "
            f"up to {MAX_PIXELS // 1_000_000} MP (downscale it first)"
        )


@contextlib.contextmanager
def _captured_fd2() -> Iterator[list[str]]:
    said: list[str] = []
    with _LOCK, tempfile.TemporaryFile(mode="w+b") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read(4096).decode("utf-8", "replace")
            said.extend(line.strip() for line in text.splitlines() if line.strip())


def decode_quietly(data: np.ndarray, flags: int = cv2.IMREAD_UNCHANGED) -> tuple[np.ndarray | None, str]:
    """``cv2.imdecode`` with the C stderr captured: ``(image or None, the decoder's first message)``."""
    img = None
    with _captured_fd2() as said:
        try:
            img = cv2.imdecode(data, flags)
        except cv2.error as exc:  # OpenCV raises for some limits instead of returning None
            said.append(str(exc).strip().splitlines()[-1] if str(exc).strip() else "cv2.error")
    first = _OPENCV_PREFIX.sub("", said[0]) if said else ""
    return img, first[:160]
