"""Precision in the ONNX graph: FP16 (defenses kept FP32) and symmetric QDQ INT8, checked vs FP32."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from edgeguard import manifest as mf
from edgeguard.errors import ConfigError, InputError
from edgeguard.exporter.precision import PrecisionOptions, graph_precision
from edgeguard.exporter.quantize import check_tensorrt_qdq, prefix_nodes
from tests.fakes.tiny import TINY_MIN_AGREEMENT, calib_folder, export_tiny


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    d = tmp_path_factory.mktemp("prec")
    cal = calib_folder(d / "cal", n=24)
    return {p: export_tiny(d, p, cal if p == "int8" else None) for p in ("fp32", "fp16", "int8")}, cal


def _feeds_of_prefix(model):
    prefix = set(prefix_nodes(model))
    producer = {o: n for n in model.graph.node for o in n.output}
    return [producer.get(i) for n in model.graph.node if n.name in prefix for i in n.input]


def test_fp16_graph_keeps_io_and_defenses_fp32(exports):
    res = exports[0]["fp16"]
    model = onnx.load(str(res.path))
    assert graph_precision(model) == "fp16" and res.manifest.precision.mode == "fp16"
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)
    # No Cast feeds a defense/normalisation node: they read FP32 tensors straight from each other.
    assert not [n for n in _feeds_of_prefix(model) if n is not None and n.op_type == "Cast"]
    pp = res.manifest.precision.parity
    assert pp.max_rel <= 1e-2 and pp.top1_agreement >= 0.9 and pp.images == 4
    assert mf.load_sidecar(res.sidecar).precision.mode == "fp16"


def test_int8_is_symmetric_qdq_and_records_calibration(exports):
    res, cal = exports[0]["int8"], exports[1]
    model = onnx.load(str(res.path))
    assert graph_precision(model) == "int8"
    assert check_tensorrt_qdq(model) > 0
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert all(inits[n.input[2]].dtype == np.int8 and not inits[n.input[2]].any() for n in qdq)
    # The defenses and normalisation are not quantised: no DequantizeLinear feeds them.
    assert not [n for n in _feeds_of_prefix(model) if n is not None and n.op_type == "DequantizeLinear"]
    c = res.manifest.precision.calibration
    assert c.images == 24 and c.folder == cal.name and len(c.sha256) == 64
    assert "fewer than 300" in c.warning
    assert res.manifest.precision.parity.top1_agreement >= TINY_MIN_AGREEMENT


@pytest.mark.slow
def test_int8_keeps_the_sign_models_top1(tmp_path):
    """On a trained model INT8 keeps the top-1 of nearly every image (renders and real photos)."""
    from edgeguard.exporter.onnx import export

    cal = calib_folder(tmp_path / "cal", n=32, size=64)
    res = export(
        "signs", defense=["bits:5", "median:3x3"], out=tmp_path / "s8.onnx", precision="int8", calib=cal
    )
    pp = res.manifest.precision.parity
    assert pp.images == 36 and pp.top1_agreement >= 0.95, pp


def test_int8_calibration_folder_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs --calib"):
        PrecisionOptions("int8")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="it is empty"):
        PrecisionOptions("int8", tmp_path / "empty")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("not an image")
    with pytest.raises(ConfigError, match="none with an image suffix"):
        PrecisionOptions("int8", notes)
    with pytest.raises(ConfigError, match="not a folder"):
        PrecisionOptions("int8", tmp_path / "missing")
    with pytest.raises(ConfigError, match="--precision 'int4'"):
        PrecisionOptions("int4")
    with pytest.raises(ConfigError, match="--min-agreement"):
        PrecisionOptions("fp16", min_agreement=1.5)


def test_int8_rejects_undecodable_image(tmp_path):
    bad = calib_folder(tmp_path / "cal", n=2)
    (bad / "zz_broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(InputError, match="zz_broken.png"):
        export_tiny(tmp_path, "int8", bad)
    assert not (tmp_path / "tiny_int8.onnx").exists()


def test_cli_int8_and_one_line_error(exports, cli, tmp_path):
    cal = exports[1]
    src = exports[0]["fp32"].path.parent / "tiny.onnx"
    ok = cli(
        "export",
        str(src),
        "--defense",
        "bits:5",
        "--normalize",
        "imagenet",
        "--precision",
        "int8",
        "--calib",
        str(cal),
        "--min-agreement",
        str(TINY_MIN_AGREEMENT),
        "-o",
        str(tmp_path / "q.onnx"),
    )
    assert ok.returncode == 0, ok.stderr
    assert "int8" in ok.stdout and "top-1 agreement" in ok.stdout and "24 images" in ok.stdout
    assert "fewer than 300" in ok.stderr
    (tmp_path / "none").mkdir()
    bad = cli("export", str(src), "--precision", "int8", "--calib", str(tmp_path / "none"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no calibration images" in bad.stderr
