"""Image files of random bytes and random PNG headers: an InputError or a uint8 BGR image, quietly."""

from __future__ import annotations

import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgeguard.errors import InputError
from edgeguard.imageinfo import MAX_PIXELS
from edgeguard.preprocess import load_image

_DIR = Path(tempfile.mkdtemp(prefix="edgeguard-fuzz-"))


def _load(data: bytes, suffix: str = ".png") -> np.ndarray | None:
    p = _DIR / f"img{suffix}"
    p.write_bytes(data)
    try:
        img = load_image(p)
    except InputError as err:
        assert "\n" not in str(err) and str(err)
        return None
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.size > 0
    assert img.shape[0] * img.shape[1] <= MAX_PIXELS
    return img


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


@given(st.binary(max_size=512), st.sampled_from([".png", ".jpg", ".bmp", ".gif", ".webp", ".bin"]))
def test_random_bytes(data, suffix):
    _load(data, suffix)


@given(
    st.integers(0, 2**31 - 1),
    st.integers(0, 2**31 - 1),
    st.sampled_from([1, 2, 4, 8, 16, 3, 0]),
    st.sampled_from([0, 2, 3, 4, 6, 1, 7]),
    st.binary(max_size=256),
    st.booleans(),
)
def test_random_png_headers(w, h, depth, color, tail, with_idat):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if with_idat:
        data += _chunk(b"IDAT", zlib.compress(tail)) + _chunk(b"IEND", b"")
    else:
        data += tail
    img = _load(data)
    if img is not None:
        assert img.shape[:2] == (h, w)


@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1), st.integers(0, 200))
def test_truncated_real_pngs(w, h, seed, cut):
    import cv2

    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    data = cv2.imencode(".png", img)[1].tobytes()
    got = _load(data[: max(0, len(data) - cut)])
    if cut == 0:
        assert got is not None and np.array_equal(got, img)
