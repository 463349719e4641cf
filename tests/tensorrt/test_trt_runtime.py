"""TensorRTEngine on the fake TensorRT (CPU buffers through raw addresses), and on a real GPU when present."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from edgeguard.engines import open_engine
from edgeguard.errors import EngineError, InputError
from edgeguard.exporter.tensorrt import ensure_engine
from edgeguard.samples import photo_batch


def _ort(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


@pytest.mark.parametrize("version", ["8.5.2", "10.3.0", "11.0.0"])
def test_engine_runs_and_matches_onnxruntime(use_trt, graphs, tmp_path, version):
    use_trt(version)
    src = shutil.copy(graphs["int8"], tmp_path / "m.onnx")
    plan = ensure_engine(src, tmp_path / "m.engine", batch="1,4,8").path
    x = photo_batch(4, (32, 32))
    with open_engine(plan) as eng:
        assert [s.describe() for s in eng.inputs] == ["input: float32 (?, 3, 32, 32)"]
        assert eng.manifest["precision"] == "int8" and eng.manifest["tensorrt"]["version"] == version
        out = eng(x)["logits"]
        assert eng.profile_of("input") == ((1, 3, 32, 32), (4, 3, 32, 32), (8, 3, 32, 32))
    np.testing.assert_allclose(out, _ort(src, x), rtol=0, atol=1e-6)


def test_batch_outside_profile_names_it(use_trt, graphs, tmp_path):
    use_trt("10.3.0")
    plan = ensure_engine(shutil.copy(graphs["fp32"], tmp_path / "m.onnx"), batch="2,4,8").path
    eng = open_engine(plan)
    with pytest.raises(
        InputError,
        match=r"shape \(9, 3, 32, 32\) is outside .* max \(8, 3, 32, 32\) "
        r"\(built with --batch 2,4,8\)",
    ):
        eng(photo_batch(9, (32, 32)))
    with pytest.raises(InputError, match=r"shape \(1, 3, 32, 32\) is outside"):
        eng(photo_batch(1, (32, 32)))


def test_corrupt_plan_is_an_engine_error(use_trt, tmp_path):
    use_trt("10.3.0")
    bad = tmp_path / "junk.engine"
    bad.write_bytes(b"\x00not a plan")
    with pytest.raises(EngineError, match="cannot load junk.engine .* corrupt or was built by another"):
        open_engine(bad)
    with pytest.raises(EngineError, match="does not exist"):
        open_engine(tmp_path / "missing.plan")


def test_plan_from_other_version_is_rebuilt_or_refused(use_trt, graphs, tmp_path, caplog):
    use_trt("10.3.0")
    src = shutil.copy(graphs["fp16"], tmp_path / "m.onnx")
    plan = ensure_engine(src, tmp_path / "m.engine").path
    use_trt("11.0.0", gpu="h100")  # JetPack/driver upgrade: the old plan cannot deserialize
    caplog.set_level(logging.WARNING, logger="edgeguard.tensorrt")
    eng = open_engine(plan)
    assert "rebuilding m.engine: it was built with TensorRT 10.3.0, this is TensorRT 11.0.0" in caplog.text
    assert eng.manifest["tensorrt"]["version"] == "11.0.0" and eng.manifest["tensorrt"]["strongly_typed"]
    use_trt("11.1.0")
    src.unlink()  # the source ONNX is gone: refuse with the reason and the way out
    with pytest.raises(EngineError, match=r"cannot run here: it was built with TensorRT 11.0.0.*be rebuilt"):
        open_engine(plan)


def _real_gpu() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "tensorrt is not installed (needs JetPack or an NGC container)"
    import torch

    return None if torch.cuda.is_available() else "no CUDA GPU visible"


@pytest.mark.skipif(_real_gpu() is not None, reason=f"real TensorRT run skipped: {_real_gpu()}")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_real_tensorrt_matches_onnxruntime(graphs, tmp_path, precision):
    src = shutil.copy(graphs[precision], tmp_path / "m.onnx")
    plan = ensure_engine(src, batch="1,4,8").path
    x = photo_batch(4, (32, 32))
    got = open_engine(plan)(x)["logits"]
    ref = _ort(src, x)
    assert np.abs(got - ref).max() / np.abs(ref).max() < (1e-3 if precision == "fp32" else 5e-2)
