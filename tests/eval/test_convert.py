"""eval.convert: onnx2torch conversion checked against onnxruntime; straight-through rounding in it."""

from __future__ import annotations

import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from edgeguard.errors import EngineError
from edgeguard.eval import Config, attackable
from edgeguard.eval import convert as conv_mod
from edgeguard.eval.convert import GraphOutputs, convert
from edgeguard.eval.oracle import Oracle

from .signs import SHIPPED, sign_images


def _grad(module, x, y):
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(module(xg), y), xg)
    return g


@pytest.fixture(scope="module")
def converted():
    return convert(SHIPPED)


def test_converted_sign_engine_matches_onnxruntime(converted):
    assert converted.max_abs < 1e-4
    # bits:5's Round and the detector's bits:4 squeezer's Round; nothing else
    assert sorted(converted.replaced) == ["f/defenses/defenses/0/Round", "squeezers/views/0/Round"]
    x, _ = sign_images()
    from edgeguard.pipeline import load

    with torch.no_grad():
        ours = converted.module(x)
    assert (ours - Oracle(load(SHIPPED))(x)).abs().max() < 1e-4


def test_converted_gradient_is_the_straight_through_gradient_of_the_torch_path(converted):
    """Same engine, two routes: onnx2torch + ST Round vs the torch source + ST bits (test_attackable)."""
    x, y = (t[:2] for t in sign_images())
    torch_path = attackable(Config("e", str(SHIPPED))).full  # torch source: the manifest's weights hash
    g_conv, g_torch = _grad(converted.module, x, y), _grad(torch_path, x, y)
    assert g_conv.abs().sum() > 0 and converted.gradient
    torch.testing.assert_close(g_conv, g_torch, rtol=1e-3, atol=1e-6)


def test_converted_detector_outputs_match_onnxruntime(converted):
    x, _ = sign_images()
    from edgeguard.pipeline import load

    logits, score = Oracle(load(SHIPPED), score=True)(x)
    with torch.no_grad():
        ours = GraphOutputs(converted.graph, (0, 1))(x)
    assert (ours[0] - logits).abs().max() < 1e-4 and (ours[1] - score).abs().max() < 1e-5
    assert score.max() > 0.1  # a real score, not all zero


def test_without_straight_through_the_converted_rounding_masks_the_gradient():
    x, y = (t[:2] for t in sign_images())
    masked = convert(SHIPPED, straight_through=False)
    assert masked.replaced == [] and not masked.gradient
    assert torch.count_nonzero(_grad(masked.module, x, y)) == 0


def _unsupported(path):
    """A tiny valid classifier with Shrink, which onnxruntime runs and onnx2torch cannot convert."""
    nodes = [
        helper.make_node("Shrink", ["input"], ["s"], lambd=0.1),
        helper.make_node("ReduceMean", ["s"], ["logits"], axes=[2, 3], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["B", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_an_unsupported_op_leaves_no_white_box_copy_and_says_so(tmp_path):
    path = _unsupported(tmp_path / "shrink.onnx")
    with pytest.raises(EngineError, match="onnx2torch cannot convert shrink.onnx"):
        convert(path)
    a = attackable(Config("u", str(path)))
    assert a.full is None and a.bare is None and not a.white_box
    assert any("white-box numbers are missing" in n for n in a.notes)


def test_a_conversion_that_differs_from_onnxruntime_is_refused(monkeypatch):
    real = conv_mod._engine_logits
    monkeypatch.setattr(conv_mod, "_engine_logits", lambda path, x: real(path, x) + 0.5)
    with pytest.raises(EngineError, match="differs from onnxruntime by 5.00e-01"):
        convert(SHIPPED)
