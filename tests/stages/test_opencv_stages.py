"""NL-means, JPEG and k-means against the raw OpenCV calls on the same uint8 images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from edgeguard import stages
from edgeguard.samples import photo_batch
from edgeguard.stages.base import from_uint8_hwc, to_uint8_hwc


@pytest.fixture(scope="module")
def u8() -> np.ndarray:
    """Two real photos as ``(B, H, W, 3)`` uint8 RGB, and their exact float form below."""
    return np.rint(photo_batch(2, (48, 56)) * 255).astype(np.uint8).transpose(0, 2, 3, 1).copy()


def as_float(u8: np.ndarray) -> np.ndarray:
    return (u8.transpose(0, 3, 1, 2).astype(np.float32) / 255.0).copy()


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.rint(x * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def test_uint8_round_trip_is_exact(u8: np.ndarray) -> None:
    x = as_float(u8)
    for i in range(len(x)):
        assert np.array_equal(to_uint8_hwc(x[i], bgr=False), u8[i])
        assert np.array_equal(to_uint8_hwc(x[i])[..., ::-1], u8[i])
        assert np.array_equal(from_uint8_hwc(to_uint8_hwc(x[i])), x[i])
    # rounding (not truncation) and clipping of values between the uint8 levels
    odd = np.full((3, 1, 2), [[0.4 / 255, 254.6 / 255]], dtype=np.float32)
    assert to_uint8_hwc(odd, bgr=False)[0].tolist() == [[0, 0, 0], [255, 255, 255]]


@pytest.mark.parametrize(
    ("spec", "window", "patch", "h"), [("nlm:11_3_4", 11, 3, 4), ("nlm:13_3_2", 13, 3, 2)]
)
def test_nlm_equals_raw_opencv(u8: np.ndarray, spec: str, window: int, patch: int, h: float) -> None:
    stage = stages.from_spec(spec)
    out = to_u8(stage(as_float(u8)))
    for i in range(len(u8)):
        bgr = np.ascontiguousarray(u8[i, ..., ::-1])
        ref = cv2.fastNlMeansDenoisingColored(bgr, None, h, h, patch, window)[..., ::-1]
        assert np.array_equal(out[i], ref)
    assert stage.last_info["backend"] == "opencv-cpu"


def test_nlm_colour_order_matters(u8: np.ndarray) -> None:
    # guards the RGB→BGR swap: filtering the RGB array as if it were BGR gives a different image
    x = as_float(u8[:1])
    wrong = cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(u8[0]), None, 10, 10, 3, 11)
    assert not np.array_equal(to_u8(stages.create("nlm", h=10)(x))[0], wrong)


@pytest.mark.parametrize("quality", [10, 75, 95])
def test_jpeg_equals_raw_opencv(u8: np.ndarray, quality: int) -> None:
    stage = stages.create("jpeg", quality=quality)
    out = to_u8(stage(torch.from_numpy(as_float(u8))).numpy())
    sizes = []
    for i in range(len(u8)):
        ok, buf = cv2.imencode(
            ".jpg", np.ascontiguousarray(u8[i, ..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        assert ok
        sizes.append(buf.size)
        assert np.array_equal(out[i], cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    assert stage.last_info["bytes"] == pytest.approx(np.mean(sizes))


@pytest.mark.parametrize("k", [2, 4, 8])
def test_kmeans_at_most_k_colours(u8: np.ndarray, k: int) -> None:
    stage = stages.create("kmeans", k=k)
    out = stage(as_float(u8))
    for img in out:
        colours = np.unique(img.reshape(3, -1), axis=1).shape[1]
        assert colours <= k
    assert all(c <= k for c in stage.last_info["colours"])


def test_kmeans_error_decreases_with_k(u8: np.ndarray) -> None:
    x = as_float(u8)
    errs = [np.square(stages.create("kmeans", k=k)(x) - x).mean() for k in (2, 4, 16)]
    assert errs[0] > errs[1] > errs[2]


def test_kmeans_recovers_a_k_colour_image() -> None:
    palette = np.array([[0.1, 0.2, 0.9], [0.8, 0.1, 0.1], [0.3, 0.9, 0.3]], dtype=np.float32)
    labels = np.random.default_rng(0).integers(0, 3, (20, 24))
    img = palette[labels].transpose(2, 0, 1)[None].copy()
    np.testing.assert_allclose(stages.create("kmeans", k=3)(img), img, atol=1e-6)
