"""JPEG re-encoding (Guo et al. ICLR'18 use quality 75) through OpenCV ``imencode``/``imdecode``.

The float batch is rounded to uint8 (round half to even, clip), RGB is swapped to BGR (OpenCV's
encoder converts BGR to YCrCb), encoded at ``quality``, decoded and returned as ``u8 / 255``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..registry import STAGES
from .base import HostStage, check_number, from_uint8_hwc, number_shorthand, to_uint8_hwc


def jpeg_u8(img: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    """Encode/decode one ``(H, W, 3)`` uint8 BGR image at ``quality``; returns (uint8 BGR, bytes)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("cv2.imencode('.jpg') failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR), int(buf.size)


parse_jpeg_shorthand = number_shorthand(
    "jpeg", "quality", "an integer quality 1..100", "jpeg:75", integer=True
)


@STAGES.register(
    "jpeg",
    shorthand=parse_jpeg_shorthand,
    summary="JPEG re-encoding",
    source="Guo et al. ICLR'18",
    usage="jpeg:75",
    help={"quality": "JPEG quality 1..100"},
    examples=({"quality": 75}, {"quality": 30}),
    invalid=({"quality": 0}, {"quality": 101}, {"quality": 7.5}),
)
class JPEG(HostStage):
    """JPEG stage (``jpeg:75`` or ``jpeg:quality=75``).

    Args:
        quality: JPEG quality, integer in [1, 100].
        device: ``"cpu"`` only (OpenCV's CPU codec).

    Raises:
        ConfigError: quality out of range, or a CUDA device.

    ``last_info`` adds ``bytes`` (mean encoded size per image).
    """

    name = "jpeg"
    realtime = True
    random = False
    backend = "numpy"
    cpu_only = "jpeg runs on OpenCV's CPU codec only"

    def __init__(self, quality: int = 75, *, device: str = "cpu") -> None:
        super().__init__(device=device)
        self.quality = int(check_number(self.name, "quality", quality, integer=True, lo=1, hi=100))
        self.params = {"quality": self.quality}

    def _run_numpy(self, x: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        out = np.empty_like(x)
        sizes = []
        for i in range(x.shape[0]):
            dec, nbytes = jpeg_u8(to_uint8_hwc(x[i]), self.quality)
            sizes.append(nbytes)
            out[i] = from_uint8_hwc(dec)
        info["bytes"] = float(np.mean(sizes))
        return out
