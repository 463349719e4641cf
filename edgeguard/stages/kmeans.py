"""K-means colour quantisation (seed 000: global colour clustering) with ``cv2.kmeans``.

Every image's pixels are clustered in RGB (float32, [0, 1]) into ``k`` colours and each pixel is
replaced by its cluster centre, so an image holds at most ``k`` distinct colours. k-means++ seeding
is random; ``cv2.setRNGSeed(seed)`` before every image plus fixed ``attempts`` and termination
criteria make the output deterministic.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..registry import STAGES
from .base import HostStage, check_number, number_shorthand


def kmeans_quantize(
    img: np.ndarray, k: int, *, attempts: int = 3, max_iter: int = 20, seed: int = 0
) -> tuple[np.ndarray, int]:
    """Quantise one ``(3, H, W)`` float32 image to ``k`` colours; returns the same shape.

    Args:
        img: float32 RGB image in [0, 1].
        k: number of colours ≥ 2 (fewer when the image has fewer distinct colours).
        attempts: k-means restarts, the most compact is kept.
        max_iter: Lloyd iterations per attempt (also stops when centres move < 1e-4).
        seed: OpenCV RNG seed for the k-means++ draws.

    Returns:
        ``(image, colours)``: ``(3, H, W)`` float32 with at most ``k`` distinct colours, and how many
        clusters are actually used.
    """
    pixels = np.ascontiguousarray(img.reshape(3, -1).T, dtype=np.float32)
    kk = min(k, pixels.shape[0])
    cv2.setRNGSeed(int(seed))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, max_iter, 1e-4)
    _, labels, centers = cv2.kmeans(pixels, kk, None, criteria, attempts, cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    used = int(np.count_nonzero(np.bincount(labels, minlength=kk)))
    return np.ascontiguousarray(centers[labels].T.reshape(img.shape)), used


MAX_K = 256
MAX_ATTEMPTS = 20

parse_kmeans_shorthand = number_shorthand(
    "kmeans", "k", "an integer number of colours >= 2", "kmeans:8", integer=True
)


@STAGES.register(
    "kmeans",
    shorthand=parse_kmeans_shorthand,
    summary="k-means colour quantisation",
    source="seed 000",
    usage="kmeans:8",
    help={"k": "number of colours >= 2", "attempts": "k-means restarts"},
    examples=({"k": 8, "attempts": 3}, {"k": 2, "attempts": 1}),
    invalid=({"k": 1}, {"k": 0}, {"k": 257}, {"attempts": 0}, {"attempts": 100_000_000}),
)
class KMeans(HostStage):
    """Colour-quantisation stage (``kmeans:k=8`` or ``kmeans:8``).

    Args:
        k: number of colours, integer in 2..256.
        attempts: k-means restarts, 1..20.
        seed: OpenCV RNG seed (the same seed is used for every image and call: deterministic).
        device: ``"cpu"`` only.

    Raises:
        ConfigError: a parameter outside its range, or a CUDA device.

    ``last_info`` adds ``colours`` (distinct colours per image).
    """

    name = "kmeans"
    realtime = True
    random = False
    backend = "numpy"
    cpu_only = "kmeans runs on cv2.kmeans (CPU) only"

    def __init__(self, k: int = 8, attempts: int = 3, *, seed: int = 0, device: str = "cpu") -> None:
        super().__init__(device=device, seed=seed)
        # cv2.kmeans costs k · attempts · pixels per iteration; kmeans:attempts=100000000 never returned
        # (issue #10). Seed 000 quantises to a handful of colours; 256 is a whole 8-bit palette.
        self.k = int(check_number(self.name, "k", k, integer=True, lo=2, hi=MAX_K))
        self.attempts = int(
            check_number(self.name, "attempts", attempts, integer=True, lo=1, hi=MAX_ATTEMPTS)
        )
        self.params = {"k": self.k, "attempts": self.attempts}

    def _run_numpy(self, x: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        out = np.empty_like(x)
        colours = []
        for i in range(x.shape[0]):
            out[i], used = kmeans_quantize(x[i], self.k, attempts=self.attempts, seed=self.seed or 0)
            colours.append(used)
        info["colours"] = colours
        return out
