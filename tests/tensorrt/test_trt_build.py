"""TensorRT plan building per version (fake module enforcing each version's API) and the engine cache."""

from __future__ import annotations

import logging
import shutil

import onnx
import pytest
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from edgeguard import manifest as mf
from edgeguard.errors import ConfigError, EngineError
from edgeguard.exporter.graph import dedupe_opsets
from edgeguard.exporter.tensorrt import BatchProfile, _parse, ensure_engine
from edgeguard.samples import photo_batch
from tests.fakes.tensorrt_fake import MAGIC, make_fake, read_header


@pytest.mark.parametrize(
    ("version", "precision", "typed", "flags"),
    [
        ("8.5.2", "int8", False, ["INT8", "OBEY_PRECISION_CONSTRAINTS"]),
        ("10.3.0", "fp32", False, []),
        ("10.3.0", "fp16", False, ["FP16", "OBEY_PRECISION_CONSTRAINTS"]),
        ("10.3.0", "int8", False, ["INT8", "OBEY_PRECISION_CONSTRAINTS"]),
        ("11.0.0", "fp16", True, []),
        ("11.0.0", "int8", True, []),
    ],
)
def test_build_is_version_adaptive(use_trt, graphs, tmp_path, version, precision, typed, flags):
    fake = use_trt(version)
    assert hasattr(fake.BuilderFlag, "INT8") == (not version.startswith("11"))  # removed in 11
    src = shutil.copy(graphs[precision], tmp_path / "m.onnx")
    b = ensure_engine(src, batch="1,4,8", workspace_mb=256)
    assert b.built and b.path.name == f"m.b8.trt{version}.sm87.{precision}.engine"
    plan = b.path.read_bytes()
    assert plan.startswith(MAGIC)  # exactly what the builder returned: no edgeguard header
    h = read_header(plan)
    assert h["strongly_typed"] is typed and sorted(h["flags"]) == sorted(flags)
    assert h["workspace"] == 256 << 20
    assert h["profile"]["input"] == [[1, 3, 32, 32], [4, 3, 32, 32], [8, 3, 32, 32]]
    pinned = h["pinned"]  # layers the builder was told to keep FP32 (weakly typed builds only)
    assert (len(pinned) > 0) == bool(flags)
    assert all(n.startswith(("/defenses/", "/normalize/")) for n in pinned)
    rec = mf.load_sidecar(b.sidecar).tensorrt
    assert rec.version == version and rec.precision == precision and rec == b.record
    assert rec.device == mf.TensorRTDevice(name="Orin", compute_capability="8.7")
    assert rec.profile == mf.TensorRTProfile(min=1, opt=4, max=8) and len(rec.onnx_sha256) == 64


def test_cache_reuse_and_rebuild_reasons(use_trt, graphs, tmp_path, caplog):
    src = shutil.copy(graphs["fp32"], tmp_path / "m.onnx")
    out = tmp_path / "m.engine"
    use_trt("10.3.0")
    assert ensure_engine(src, out).built
    assert (tmp_path / "edgeguard.timing.cache").read_bytes() == b"FAKECACHE1"
    assert not ensure_engine(src, out).built  # valid cache: reused
    caplog.set_level(logging.INFO, logger="edgeguard.tensorrt")
    use_trt("10.4.0")
    b = ensure_engine(src, out)
    assert b.built and "built with TensorRT 10.3.0, this is TensorRT 10.4.0" in b.reason
    assert "rebuilding m.engine: it was built with TensorRT 10.3.0" in caplog.text
    assert (tmp_path / "edgeguard.timing.cache").read_bytes() == b"FAKECACHE2"  # cache reused, extended
    use_trt("10.4.0", gpu="h100")
    assert "this GPU is NVIDIA H100 (sm 9.0)" in ensure_engine(src, out).reason
    m = onnx.load(str(src))
    m.doc_string = "re-exported"
    onnx.save(m, str(src))
    assert "source ONNX changed" in ensure_engine(src, out).reason
    assert "batch profile" in ensure_engine(src, out, batch="1,2,16").reason


def test_batch_profile_parsing():
    assert BatchProfile.parse("1,4,8") == BatchProfile(1, 4, 8)
    assert BatchProfile.parse("8") == BatchProfile(8, 8, 8)
    assert BatchProfile.parse("2,16") == BatchProfile(2, 16, 16)
    for bad in ("0", "8,4", "1,2,3,4", "a"):
        with pytest.raises(ConfigError, match="--batch"):
            BatchProfile.parse(bad)


def test_missing_tensorrt_says_how_to_install(monkeypatch, graphs):
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(EngineError, match="pip install tensorrt --extra-index-url https://pypi.nvidia.com"):
        ensure_engine(graphs["fp32"])


class _Reader(CalibrationDataReader):
    def __init__(self) -> None:
        self.batches = iter([{"input": photo_batch(2, (32, 32))}])

    def get_next(self):
        return next(self.batches, None)


@pytest.fixture(scope="module")
def bad_quant(graphs, tmp_path_factory):
    """The fp32 graph quantised the ways TensorRT rejects: asymmetric uint8 QDQ and operator format."""
    d = tmp_path_factory.mktemp("badq")
    asym, qop, src = d / "asym.onnx", d / "qop.onnx", d / "f.onnx"
    onnx.save(dedupe_opsets(onnx.load(str(graphs["fp32"]))), str(src))
    quantize_static(
        str(src),
        str(asym),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    quantize_static(
        str(src),
        str(qop),
        _Reader(),
        quant_format=QuantFormat.QOperator,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )
    return asym, qop


def test_rejects_asymmetric_and_operator_format(use_trt, bad_quant):
    use_trt("10.3.0")
    asym, qop = bad_quant
    pattern = r"asym.onnx: node '[^']+' \((Quantize|Dequantize)Linear\) uses uint8"
    with pytest.raises(EngineError, match=pattern):
        ensure_engine(asym)
    with pytest.raises(EngineError, match=r"qop.onnx: node '[^']+' \(QLinear\w+\) is operator-format"):
        ensure_engine(qop)


@pytest.mark.parametrize("version", ["8.5.2", "10.3.0"])
def test_parser_errors_name_the_node(version, bad_quant):
    trt = make_fake(version)
    model = onnx.load(str(bad_quant[1]))
    net = trt.Builder(trt.Logger()).create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    name = next(n.name for n in model.graph.node if n.op_type == "QLinearConv")
    pattern = rf"cannot parse qop.onnx: node '{name}' \(QLinearConv\): No importer"
    with pytest.raises(EngineError, match=pattern):
        _parse(trt, net, trt.Logger(), model, model.SerializeToString(), "qop.onnx")
