"""Image files: sizes read from headers before decoding, decoder noise kept off stderr."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from edgeguard.errors import InputError
from edgeguard.imageinfo import MAX_PIXELS, decode_quietly, header_size
from edgeguard.preprocess import load_image


def png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp"])
def test_header_size_matches_what_opencv_decodes(ext):
    img = np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    assert header_size(buf.tobytes()[:65536]) == (53, 37)


def test_header_size_gif_and_unknown():
    assert header_size(b"GIF89a" + struct.pack("<HH", 640, 480) + b"\0" * 8) == (640, 480)
    assert header_size(b"P6\n3 2\n255\n") is None  # no parser: OpenCV's own limit applies


def test_huge_png_header_is_refused_before_decoding(tmp_path):
    p = tmp_path / "big.png"
    p.write_bytes(png_header(60000, 60000) + b"\0" * 64)
    with pytest.raises(InputError, match=r"big.png: its header claims 60000x60000 pixels \(3600 MP\)"):
        load_image(p)
    assert MAX_PIXELS < 60000 * 60000


def test_zero_size_header(tmp_path):
    p = tmp_path / "zero.png"
    p.write_bytes(png_header(0, 10) + b"\0" * 64)
    with pytest.raises(InputError, match="claims 0x10 pixels; the file is corrupt"):
        load_image(p)


def test_empty_and_truncated_files(tmp_path, capfd):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.png is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.png")
    ok, buf = cv2.imencode(".png", np.zeros((50, 50, 3), np.uint8))
    (tmp_path / "trunc.png").write_bytes(buf.tobytes()[: buf.size // 2])
    with pytest.raises(InputError) as info:
        load_image(tmp_path / "trunc.png")
    msg = str(info.value)
    assert msg.startswith("trunc.png is not an image OpenCV can decode") and "\n" not in msg
    assert "[ WARN" not in msg  # OpenCV's log prefix is stripped from the reason
    out, err = capfd.readouterr()
    assert err == "" and out == ""  # OpenCV's warning did not reach the terminal


def test_decode_quietly_returns_the_image_and_restores_stderr(capfd):
    img = np.random.default_rng(1).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", img)
    got, said = decode_quietly(buf)
    assert np.array_equal(got, img) and said == ""
    import os

    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
