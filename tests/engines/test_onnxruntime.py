from __future__ import annotations

import math
import time

import numpy as np
import pytest

from edgeguard.engines import open_engine
from edgeguard.engines.onnxruntime import choose_providers
from edgeguard.errors import ConfigError, EngineError, InputError
from edgeguard.exporter.onnx import export
from edgeguard.samples import photo_batch


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("eng") / "m.onnx"
    return export("mobilenet_v3_small", defense=["bits:6"], input_size=64, out=out).path


class _TimedSession:
    """Stands in for the InferenceSession: forwards ``run`` and measures it (the oracle)."""

    def __init__(self, session):
        self.session, self.run_ms = session, []

    def __getattr__(self, name):
        return getattr(self.session, name)

    def run(self, *args):
        t0 = time.perf_counter()
        out = self.session.run(*args)
        self.run_ms.append((time.perf_counter() - t0) * 1e3)
        return out


def test_engine_runs_and_times(small):
    with open_engine(small, provider="cpu") as eng:
        assert eng.inputs[0].name == "input" and eng.inputs[0].shape == (None, 3, 64, 64)
        assert eng.manifest.defenses == ("bits:bits=6",)
        assert math.isnan(eng.last_ms) and len(eng.timings_ms) == 0  # nothing run, nothing timed
        timed = eng._session = _TimedSession(eng._session)
        x = photo_batch(2, (64, 64))
        wall_ms = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = eng(x)
            wall_ms.append((time.perf_counter() - t0) * 1e3)
        assert out["logits"].shape == (2, 1000)
        # one entry per call, in order: each covers onnxruntime's run and lies inside the call
        assert len(eng.timings_ms) == len(timed.run_ms) == 3 and eng.last_ms == eng.timings_ms[-1]
        for t, run, wall in zip(eng.timings_ms, timed.run_ms, wall_ms):
            assert run <= t <= wall


@pytest.mark.parametrize(
    ("feed", "match"),
    [
        (
            np.zeros((1, 3, 32, 32), np.float32),
            r"'input': got float32 \(1, 3, 32, 32\), expected input: float32 \(\?, 3, 64, 64\)",
        ),
        (np.zeros((1, 3, 64, 64), np.float64), "got float64"),
        (np.zeros((3, 64, 64), np.float32), "expected input"),
        ({"image": np.zeros((1, 3, 64, 64), np.float32)}, "got \\['image'\\]"),
        (np.full((1, 3, 64, 64), np.nan, np.float32), "NaN"),
    ],
)
def test_input_validation_names_name_dtype_shape(small, feed, match):
    with open_engine(small) as eng, pytest.raises(InputError, match=match):
        eng(feed)


def test_bad_engine_files(tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        open_engine(tmp_path / "missing.onnx")
    (tmp_path / "corrupt.onnx").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(EngineError, match="not a readable ONNX|cannot load"):
        open_engine(tmp_path / "corrupt.onnx")
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(EngineError, match="unknown engine type"):
        open_engine(tmp_path / "x.bin")


def test_provider_choice():
    avail = ["CPUExecutionProvider"]
    assert choose_providers(None, avail) == ["CPUExecutionProvider"]
    assert (
        choose_providers("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"])[0]
        == "CUDAExecutionProvider"
    )
    assert choose_providers("cpu", avail) == ["CPUExecutionProvider"]
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        choose_providers("cuda", avail)
