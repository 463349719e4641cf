"""onnxruntime GPU provider options (engine/timing caches, precision enables) and the CPU path unchanged."""

from __future__ import annotations

from edgeguard import manifest as mf
from edgeguard.engines.ort_gpu import provider_options


def _m(precision: str) -> mf.Manifest:
    return mf.Manifest(input=mf.InputSpec(size=(32, 32)), precision=mf.Precision(mode=precision))


def test_tensorrt_ep_options_follow_the_graph_precision(tmp_path):
    opts = provider_options(
        ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        tmp_path / "m.onnx",
        _m("int8"),
    )
    name, trt = opts[0]
    assert name == "TensorrtExecutionProvider"
    assert trt["trt_engine_cache_enable"] == "True" and trt["trt_timing_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == str(tmp_path.resolve() / ".trt_cache")
    assert trt["trt_int8_enable"] == "True" and trt["trt_fp16_enable"] == "False"
    assert opts[1][0] == "CUDAExecutionProvider" and opts[2] == "CPUExecutionProvider"
    fp16 = provider_options(["TensorrtExecutionProvider"], tmp_path / "m.onnx", _m("fp16"))[0][1]
    assert fp16["trt_fp16_enable"] == "True" and fp16["trt_int8_enable"] == "False"
    assert provider_options(["CPUExecutionProvider"], tmp_path / "m.onnx", None) == ["CPUExecutionProvider"]
