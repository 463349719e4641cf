"""Per-stage latency of a deployed pipeline: the shipped demo engine plus a real host stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgeguard
from edgeguard.errors import ConfigError, InputError
from edgeguard.eval.latency import as_frames, latency_stages, measure_latency, summarise, total_ms
from edgeguard.preprocess import preprocess
from edgeguard.samples import photo_batch

ENGINE = Path(edgeguard.__file__).parent / "models" / "engines" / "signs-bits5-median3x3.onnx"


@pytest.fixture(scope="module")
def pipe():
    return edgeguard.load(ENGINE, threads=1, host_stages=["jpeg:75"])


def test_stages_in_data_path_order_and_total_covers_the_engine(pipe) -> None:
    lat = measure_latency(pipe, photo_batch(3, (64, 64)), warmup=2, runs=6, batch=2)
    assert list(latency_stages(lat)) == ["preprocess", "stage:jpeg", "engine", "decision", "total"]
    assert list(lat)[:5] == ["preprocess", "stage:jpeg", "engine", "decision", "total"]
    for stage in latency_stages(lat).values():
        assert set(stage) == {"p50", "p95", "mean"}
        assert 0 <= stage["p50"] <= stage["p95"]
    # every call's total includes its engine time, so every percentile of total is at least the engine's
    assert lat["total"]["p50"] >= lat["engine"]["p50"] and lat["total"]["p95"] >= lat["engine"]["p95"]
    assert lat["total"]["p50"] >= lat["stage:jpeg"]["p50"]
    assert (lat["runs"], lat["warmup"]) == (6, 2)
    assert lat["batch"]["size"] == 2 and lat["batch"]["total"]["p50"] >= lat["batch"]["engine"]["p50"]
    assert total_ms(lat) == lat["total"]["p50"]
    assert np.isnan(total_ms(None))
    assert len(pipe.engine.timings_ms) >= 8 + 6  # the batch-1 calls and the batch-2 calls really ran


def test_float_batch_becomes_frames_that_preprocess_back_exactly() -> None:
    x = photo_batch(2, (64, 64))  # multiples of 1/255, like camera frames
    frames = as_frames(x, "RGB")
    assert frames[0].dtype == np.uint8 and frames[0].shape == (64, 64, 3)
    back = preprocess(frames, (64, 64), color="RGB")
    np.testing.assert_array_equal(np.rint(back * 255), np.rint(x * 255))  # the same 8-bit levels
    np.testing.assert_allclose(back, x, rtol=0, atol=1e-7)  # k * (1/255) vs k / 255: an ulp apart
    # BGR engines get the channels as they are
    np.testing.assert_array_equal(as_frames(x, "BGR")[1], as_frames(x, "RGB")[1][..., ::-1])


def test_summarise_hand_worked() -> None:
    samples = [{"engine": e, "total": t} for e, t in zip([1, 1, 2, 2, 3], [1, 2, 3, 4, 100])]
    samples[2]["escalation"] = 7.0  # ran in one call only: summarised over that call
    s = summarise(samples)
    assert list(s) == ["engine", "escalation", "total"]
    assert s["total"]["p50"] == 3.0 and s["total"]["mean"] == 22.0
    assert s["total"]["p95"] == pytest.approx(4 + 0.8 * 96)  # linear interpolation at rank 3.8
    assert s["escalation"] == {"p50": 7.0, "p95": 7.0, "mean": 7.0}


@pytest.mark.parametrize(
    ("images", "options", "error", "message"),
    [
        (None, {"runs": 0}, ConfigError, "runs = 0"),
        (None, {"warmup": -1}, ConfigError, "warmup = -1"),
        (None, {"batch": 1}, ConfigError, "batch = 1"),
        ([], {}, InputError, "no images"),
        (np.full((1, 3, 8, 8), 1.5, np.float32), {}, InputError, r"\[0, 1\]"),
        (np.zeros((3, 8, 8), np.float32), {}, InputError, "shape"),
    ],
)
def test_bad_arguments(pipe, images, options, error, message) -> None:
    with pytest.raises(error, match=message):
        measure_latency(pipe, photo_batch(1, (64, 64)) if images is None else images, **options)
