"""Non-local means through OpenCV (Buades et al. 2005; seed 003; Feature Squeezing's ``NLM a_b_c``).

Feature Squeezing writes ``NLM a_b_c`` for search window a, patch b and strength h = c and calls
``cv2.fastNlMeansDenoisingColored(img, None, h, h, patch, window)`` (hColor = h); it uses 11_3_4 and
13_3_2. The float batch is rounded to uint8 (round half to even, clip), RGB is swapped to the BGR
order OpenCV's Lab conversion expects, and the result comes back as ``u8 / 255``. With
``device="cuda"`` the ``cv2.cuda`` implementation runs, which needs an OpenCV built with CUDA.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from ..registry import STAGES
from ..spec import parse_value
from .base import HostStage, check_number, from_uint8_hwc, to_uint8_hwc

MAX_WINDOW = 51
MAX_PATCH = 15


def opencv_has_cuda() -> bool:
    """True when this OpenCV build has CUDA and sees a device (``cv2.cuda``)."""
    try:
        return hasattr(cv2, "cuda") and cv2.cuda.getCudaEnabledDeviceCount() > 0
    except cv2.error:
        return False


def nl_means_u8(img: np.ndarray, window: int, patch: int, h: float, *, cuda: bool = False) -> np.ndarray:
    """NL-means of one ``(H, W, 3)`` uint8 BGR image (hColor = h, FS convention)."""
    if cuda:
        gpu = cv2.cuda_GpuMat()
        gpu.upload(img)
        out = cv2.cuda.fastNlMeansDenoisingColored(gpu, h, h, search_window=window, block_size=patch)
        return out.download()
    return cv2.fastNlMeansDenoisingColored(img, None, h, h, patch, window)


def parse_nlm_shorthand(text: str) -> dict[str, Any]:
    """``"11_3_4"`` → ``{"window": 11, "patch": 3, "h": 4}`` (FS ``NLM a_b_c``)."""
    parts = text.split("_")
    vals = [parse_value(p) for p in parts]
    if len(vals) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        raise ConfigError(f"nlm:{text}: expected WINDOW_PATCH_H like nlm:11_3_4 (Feature Squeezing notation)")
    return {"window": vals[0], "patch": vals[1], "h": vals[2]}


@STAGES.register(
    "nlm",
    shorthand=parse_nlm_shorthand,
    summary="OpenCV fast NL-means (FS NLM a_b_c)",
    source="seed 003; Xu et al. NDSS'18",
    usage="nlm:11_3_4",
    help={
        "window": "search window (odd)",
        "patch": "patch side (odd)",
        "h": "filter strength on the 0..255 scale (also hColor)",
    },
    examples=({"window": 11, "patch": 3, "h": 4.0}, {"window": 7, "patch": 3, "h": 8.0}),
    invalid=(
        {"window": 10},
        {"window": 1},
        {"patch": 2},
        {"window": 3, "patch": 5},
        {"h": 0.0},
        {"h": -4},
        {"window": 99999},
        {"h": 1e308},
    ),
)
class NLMeans(HostStage):
    """NL-means stage (``nlm:11_3_4`` or ``nlm:window=11,patch=3,h=4``).

    Args:
        window: search window side, odd, 3..51 (FS a).
        patch: patch (template) side, odd, 1..min(window, 15) (FS b).
        h: filter strength on the 0..255 scale, in (0, 255] (FS c); also used as hColor.
        device: ``"cpu"``, or ``"cuda"`` for ``cv2.cuda`` (needs an OpenCV built with CUDA).

    Raises:
        ConfigError: a parameter outside its range, or ``cuda`` without a CUDA OpenCV.

    ``last_info`` adds ``backend`` (``"opencv-cpu"`` / ``"opencv-cuda"``).
    """

    name = "nlm"
    realtime = True
    random = False
    backend = "numpy"

    def __init__(self, window: int = 11, patch: int = 3, h: float = 4.0, *, device: str = "cpu") -> None:
        super().__init__(device=device)
        # Cost grows with window² · patch²: nlm:99999_3_4 ran 24 s, then OpenCV threw (issue #10).
        # FS uses 11_3_4 and 13_3_2; OpenCV's defaults are 21 and 7. h is on the 0..255 pixel scale.
        self.window = int(check_number(self.name, "window", window, integer=True, lo=3, hi=MAX_WINDOW))
        hi_patch = min(self.window, MAX_PATCH)
        self.patch = int(check_number(self.name, "patch", patch, integer=True, lo=1, hi=hi_patch))
        self.h = float(check_number(self.name, "h", h, lo=0.0, hi=255.0, lo_open=True))
        for key, v in (("window", self.window), ("patch", self.patch)):
            if v % 2 == 0:
                raise ConfigError(f"nlm: {key} must be odd (OpenCV centres it on the pixel), got {v}")
        self.params = {"window": self.window, "patch": self.patch, "h": self.h}

    def _cuda_available(self) -> bool:
        return opencv_has_cuda()

    def _cuda_missing(self) -> str:
        return "this OpenCV has no CUDA support (cv2.cuda.getCudaEnabledDeviceCount() == 0)"

    def _run_numpy(self, x: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        cuda = self.device.startswith("cuda")
        info["backend"] = "opencv-cuda" if cuda else "opencv-cpu"
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            den = nl_means_u8(to_uint8_hwc(x[i]), self.window, self.patch, self.h, cuda=cuda)
            out[i] = from_uint8_hwc(den)
        return out
