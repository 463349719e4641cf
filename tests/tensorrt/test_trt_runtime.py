"""TensorRTEngine on the fake TensorRT (CPU buffers through raw addresses), and on a real GPU when present."""

from __future__ import annotations

import json
import logging
import shutil

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from edgeguard.cli.app import main
from edgeguard.engines import open_engine
from edgeguard.errors import EngineError, InputError, StaleEngineError
from edgeguard.exporter.tensorrt import ensure_engine
from edgeguard.pipeline import load
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
        assert eng.manifest.precision.mode == "int8" and eng.manifest.tensorrt.version == version
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


def _stale_plan(use_trt, graphs, tmp_path):
    """A plan built on TensorRT 10.3 for an Orin, then a JetPack/driver upgrade to 11.0 on an H100."""
    use_trt("10.3.0")
    src = shutil.copy(graphs["fp16"], tmp_path / "m.onnx")
    plan = ensure_engine(src, tmp_path / "m.engine").path
    use_trt("11.0.0", gpu="h100")
    return src, plan


def test_stale_plan_is_a_typed_error_and_the_engine_never_builds(use_trt, graphs, tmp_path):
    src, plan = _stale_plan(use_trt, graphs, tmp_path)
    before = plan.read_bytes()
    with pytest.raises(StaleEngineError) as info:
        open_engine(plan)
    err = info.value
    assert err.reason == "it was built with TensorRT 10.3.0, this is TensorRT 11.0.0"
    assert err.engine == plan and err.source == src
    assert str(err).startswith("m.engine cannot run here: it was built with TensorRT 10.3.0")
    assert "rebuild=True" in str(err)
    with pytest.raises(StaleEngineError, match="rebuild=True"):
        load(plan)  # the Python API does not rebuild unless asked
    assert plan.read_bytes() == before  # nothing was rebuilt behind the caller's back


def test_changed_source_onnx_makes_the_plan_stale(use_trt, graphs, tmp_path):
    use_trt("10.3.0")
    src = shutil.copy(graphs["fp32"], tmp_path / "m.onnx")
    plan = ensure_engine(src, tmp_path / "m.engine").path
    open_engine(plan)  # current: opens
    shutil.copy(graphs["fp16"], src)  # re-exported under the same name
    with pytest.raises(StaleEngineError, match=r"cannot run here: the source ONNX changed \(sha256 "):
        open_engine(plan)


def test_load_with_rebuild_rebuilds_from_the_source(use_trt, graphs, tmp_path, caplog):
    src, plan = _stale_plan(use_trt, graphs, tmp_path)
    caplog.set_level(logging.WARNING, logger="edgeguard.tensorrt")
    notices: list[str] = []
    pipe = load(plan, rebuild=notices.append)
    assert notices == [
        "rebuilding m.engine from m.onnx: it was built with TensorRT 10.3.0, this is TensorRT 11.0.0"
    ]
    assert notices[0] in caplog.text
    record = pipe.engine.manifest.tensorrt
    assert record.version == "11.0.0" and record.strongly_typed
    assert record.device.name == "NVIDIA H100"
    x = photo_batch(4, (32, 32))
    with pipe:
        got = pipe.run_batch(x)
    ref = _ort(src, x)
    np.testing.assert_allclose(np.stack([r.outputs["logits"] for r in got]), ref, rtol=0, atol=1e-6)
    notices.clear()
    load(plan, rebuild=notices.append)  # now current: opened as is, nothing announced
    assert notices == []


def test_stale_plan_without_its_source_cannot_be_rebuilt(use_trt, graphs, tmp_path):
    src, plan = _stale_plan(use_trt, graphs, tmp_path)
    src.unlink()  # the source ONNX is gone: refuse with the reason and the way out
    with pytest.raises(
        StaleEngineError, match=r"cannot run here: it was built with TensorRT 10.3.0.*be rebuilt"
    ) as info:
        load(plan, rebuild=True)
    assert info.value.source is None


def test_infer_rebuilds_a_stale_plan_and_says_so_in_one_line(use_trt, graphs, tmp_path, capsys):
    _stale_plan(use_trt, graphs, tmp_path)
    img = tmp_path / "photo.png"
    cv2.imwrite(str(img), (photo_batch(1, (32, 32))[0].transpose(1, 2, 0)[:, :, ::-1] * 255).astype(np.uint8))
    with pytest.raises(SystemExit) as info:
        main(["infer", str(img), "--engine", str(tmp_path / "m.engine"), "--json"])
    out, err = capsys.readouterr()
    assert info.value.code == 0
    assert err.strip().splitlines() == [
        "rebuilding m.engine from m.onnx: it was built with TensorRT 10.3.0, this is TensorRT 11.0.0"
    ]
    assert json.loads(out.splitlines()[0])["path"] == str(img)


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
