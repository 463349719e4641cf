from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import edgeguard
from edgeguard.errors import ConfigError, InputError
from edgeguard.exporter.onnx import export
from edgeguard.pipeline import Pipeline
from edgeguard.preprocess import load_image, preprocess
from edgeguard.samples import photo


@pytest.fixture(scope="module")
def engine_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipe") / "m.onnx"
    return export("resnet18", defense=["median:3x3"], input_size=64, out=out).path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rgb = photo("chelsea")
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    cv2.imwrite(str(d / "cat.png"), bgr)
    cv2.imwrite(str(d / "gray.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(d / "rgba.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    (d / "text.png").write_text("definitely not an image")
    return d


def test_pipeline_matches_engine_and_softmax(engine_path, images):
    pipe = edgeguard.load(engine_path)
    res = pipe([images / "cat.png"])[0]
    x = preprocess([load_image(images / "cat.png")], (64, 64))
    logits = pipe.engine(x)["logits"][0].astype(np.float64)
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert res.decision["top"][0]["index"] == int(np.argmax(probs))
    assert res.decision["top"][0]["prob"] == pytest.approx(probs.max(), rel=1e-6)
    assert [t["prob"] for t in res.decision["top"]] == sorted(
        (t["prob"] for t in res.decision["top"]), reverse=True
    )
    assert res.decision["top"][0]["label"] == pipe.labels[res.decision["top"][0]["index"]]
    assert {"preprocess", "engine", "decision", "total"} <= set(res.timing_ms)
    assert res.to_dict()["path"].endswith("cat.png")


def test_preprocess_is_rgb_and_scaled():
    bgr = np.zeros((10, 20, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in BGR
    x = preprocess([bgr], (8, 8))
    assert x.shape == (1, 3, 8, 8) and x.dtype == np.float32
    assert x[0, 2].min() == 1.0 and x[0, 0].max() == 0.0  # channel 2 is blue in RGB order


def test_gray_and_rgba_are_converted(engine_path, images):
    pipe = edgeguard.load(engine_path)
    out = pipe([images / "gray.png", images / "rgba.png", images / "cat.png"])
    assert len(out) == 3
    # RGBA of the same picture → the same prediction as the RGB file
    assert out[1].decision["top"][0]["index"] == out[2].decision["top"][0]["index"]


def test_bad_images_and_batches(engine_path, images):
    pipe = edgeguard.load(engine_path)
    with pytest.raises(InputError, match="not an image"):
        pipe([images / "text.png"])
    with pytest.raises(InputError, match="does not exist"):
        pipe([images / "nope.png"])
    bad = np.random.rand(1, 3, 64, 64).astype(np.float32)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        pipe.run_batch(bad)
    with pytest.raises(InputError, match="range|\\[0"):
        pipe.run_batch(np.full((1, 3, 64, 64), 3.0, np.float32))
    with pytest.raises(InputError, match="4 dims"):
        pipe.run_batch(torch.rand(3, 64, 64))


class _Halve:
    name = "halve"
    realtime = True

    def __call__(self, x):
        return x * 0.5


class _Slow:
    name = "slowthing"
    realtime = False

    def __call__(self, x):
        return x


def test_host_stages_run_in_order_and_are_timed(engine_path):
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    plain = edgeguard.load(engine_path, host_stages=[])
    staged = edgeguard.load(engine_path, host_stages=[_Halve()])
    a = staged.run_batch(x)
    b = plain.run_batch(x * 0.5)
    np.testing.assert_allclose(a[0].outputs["logits"], b[0].outputs["logits"], rtol=1e-6)
    assert "stage:halve" in a[0].timing_ms


def test_slow_stage_refused_in_always_on_path(engine_path):
    from edgeguard.engines import open_engine

    with pytest.raises(ConfigError, match="--escalate"):
        Pipeline(open_engine(engine_path), host_stages=[_Slow()], allow_slow=False)


def test_escalation_runs_only_on_gated_frames(engine_path):
    calls = []

    class Purify:
        name = "purify"
        last_info = {"iterations": 3}

        def __call__(self, x):
            calls.append(len(x))
            return np.zeros_like(x)

    seen = []

    def second_frame_only(decision):  # the gate given to load() is the one the pipeline asks
        seen.append(decision)
        return len(seen) == 2

    x = np.random.default_rng(1).random((3, 3, 64, 64), dtype=np.float32)
    pipe = edgeguard.load(engine_path, escalate=Purify(), gate=second_frame_only)
    first = edgeguard.load(engine_path).run_batch(x)
    n_before = len(pipe.engine.timings_ms)
    res = pipe.run_batch(x)
    assert calls == [1]
    # the gate saw every frame's first decision, in order, once
    assert seen == [r.decision for r in first]
    assert res[0].escalation is None and res[2].escalation is None
    assert res[0].decision == first[0].decision and res[2].decision == first[2].decision
    esc = res[1].escalation
    assert esc["stage"] == "purify" and esc["info"] == {"iterations": 3}
    assert esc["first"] == first[1].decision
    zero = edgeguard.load(engine_path).run_batch(np.zeros((1, 3, 64, 64), np.float32))[0]
    assert res[1].decision == zero.decision
    np.testing.assert_allclose(res[1].outputs["logits"], zero.outputs["logits"], rtol=1e-5, atol=1e-6)
    # the engine ran twice (batch, then the purified frame); the escalation covers the second run
    assert len(pipe.engine.timings_ms) == n_before + 2
    t = res[1].timing_ms
    assert esc["stage_ms"] + pipe.engine.timings_ms[-1] <= t["escalation"]
    assert t["engine"] == pipe.engine.timings_ms[-2]  # the batch's own run, not the re-run
    assert t["preprocess"] + t["engine"] + t["decision"] + t["escalation"] <= t["total"]


def test_manifest_host_stages_are_rebuilt_on_load(tmp_path):
    from edgeguard.stages import JPEG

    res = export("resnet18", input_size=32, stage=["jpeg:75"], out=tmp_path / "s.onnx")
    assert res.manifest.host_stages == ("jpeg:quality=75",)
    pipe = edgeguard.load(res.sidecar)  # via the sidecar this time
    assert len(pipe.host_stages) == 1 and isinstance(pipe.host_stages[0], JPEG)
    x = np.random.default_rng(2).random((1, 3, 32, 32), dtype=np.float32)
    staged = pipe.run_batch(x)[0]
    direct = edgeguard.load(res.path, host_stages=[]).run_batch(JPEG(quality=75)(x))[0]
    np.testing.assert_allclose(staged.outputs["logits"], direct.outputs["logits"], rtol=1e-6)
    assert "stage:jpeg" in staged.timing_ms


def test_inference_path_does_not_import_torch(engine_path):
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, edgeguard;"
        f"p = edgeguard.load({str(engine_path)!r});"
        "p.run_batch(np.zeros((1, 3, 64, 64), np.float32));"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class _Sleepy:
    """Wraps an engine's ``_run``: sleeps a scripted time per call and measures the call around it."""

    def __init__(self, run, sleeps_s):
        self.run, self.sleeps_s, self.inner_ms = run, list(sleeps_s), []

    def __call__(self, feed):
        import time

        t0 = time.perf_counter()
        time.sleep(self.sleeps_s[len(self.inner_ms)])
        out = self.run(feed)
        self.inner_ms.append((time.perf_counter() - t0) * 1e3)
        return out


def test_engine_timings_are_bounded_and_record_each_call(engine_path, monkeypatch):
    import time

    from edgeguard.engines import open_engine
    from edgeguard.engines.base import Engine

    monkeypatch.setattr(Engine, "TIMING_WINDOW", 3)  # the engine must size its own window from it
    eng = open_engine(engine_path)
    sleepy = _Sleepy(eng._run, [0.0, 0.02, 0.04, 0.06, 0.08])
    eng._run = sleepy
    wall_ms = []
    for _ in range(5):
        t0 = time.perf_counter()
        eng(np.zeros((1, 3, 64, 64), np.float32))
        wall_ms.append((time.perf_counter() - t0) * 1e3)
    # the newest three calls, oldest first: each at least its sleep + run, at most the wall time
    assert len(eng.timings_ms) == 3 and eng.last_ms == eng.timings_ms[-1]
    for t, inner, wall in zip(eng.timings_ms, sleepy.inner_ms[2:], wall_ms[2:]):
        assert inner <= t <= wall


def test_batch_timing_adds_up(engine_path):
    import time

    pipe = edgeguard.load(engine_path, host_stages=[_Halve()])
    x = np.random.default_rng(3).random((2, 3, 64, 64), dtype=np.float32)
    for i in range(3):
        n_before = len(pipe.engine.timings_ms)
        t0 = time.perf_counter()
        t = pipe.run_batch(x)[0].timing_ms
        wall = (time.perf_counter() - t0) * 1e3
        assert len(pipe.engine.timings_ms) == n_before + 1, i  # one engine call per batch
        assert t["engine"] == pipe.engine.last_ms > 0
        parts = t["preprocess"] + t["stage:halve"] + t["engine"] + t["decision"]
        assert parts <= t["total"] <= wall


def test_crop_is_validated_and_passed_per_call(engine_path, images):
    pipe = edgeguard.load(engine_path)
    frame = load_image(images / "cat.png")
    h, w = frame.shape[:2]
    box = (w // 4, h // 4, w // 2, h // 2)
    per_call = pipe([frame], crop=box)[0].outputs["logits"]
    assert pipe.crop == "resize"  # a per-call crop changes nothing outside the call
    x, y, bw, bh = box
    manual = pipe([np.ascontiguousarray(frame[y : y + bh, x : x + bw])])[0].outputs["logits"]
    np.testing.assert_allclose(per_call, manual, rtol=1e-5, atol=1e-5)
    assert pipe([frame], crop="center")[0].outputs["logits"].shape == per_call.shape
    for bad in ("bogus", (0, 0, 0, 5), (1, 2, 3), (0.5, 0, 4, 4), (-1, 0, 4, 4), (True, 0, 4, 4), 7):
        with pytest.raises(ConfigError, match="crop"):
            pipe([frame], crop=bad)
        with pytest.raises(ConfigError, match="crop"):
            Pipeline(pipe.engine, crop=bad)
    with pytest.raises(InputError, match="outside"):
        pipe([frame], crop=(0, 0, w + 1, h))
