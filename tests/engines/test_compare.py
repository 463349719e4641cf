"""The engine comparator (engines/compare.py) and the torch reference engine (engines/torch.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgeguard.engines.compare import compare, diff_arrays
from edgeguard.engines.onnxruntime import OnnxRuntimeEngine
from edgeguard.engines.torch import TorchEngine
from edgeguard.errors import EngineError, InputError
from edgeguard.samples import photo_batch


class _Head(nn.Module):
    """Global average pool → linear (3 → 4): small, deterministic, exportable."""

    def __init__(self, shift: float = 0.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3, 4)
        self.shift = shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3))) + self.shift


def test_figures_on_known_arrays():
    ref = np.array([[1.0, 2.0], [3.0, 0.0]], np.float32)
    got = np.array([[1.0, 2.5], [0.0, 3.0]], np.float32)
    d = diff_arrays(ref, got, "logits")
    # max |got − ref| = 3 (row 1), max |ref| = 3 → norm-wise relative error 1; arg-max agrees in row 0 only.
    assert (d.name, d.images, d.max_abs, d.max_rel, d.top1_agreement) == ("logits", 2, 3.0, 1.0, 0.5)
    with pytest.raises(EngineError, match=r"output 'logits' has shape \(2, 1\), the reference has \(2, 2\)"):
        diff_arrays(ref, got[:, :1], "logits")


def _head_onnx(path):
    """The same head written directly as ONNX: GlobalAveragePool → Flatten → Gemm(x, Wᵀ, b)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    fc = _Head().fc
    weight = numpy_helper.from_array(fc.weight.detach().numpy(), "W")
    bias = numpy_helper.from_array(fc.bias.detach().numpy(), "b")
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "W", "b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "head",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 4])],
        [weight, bias],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_torch_vs_onnxruntime_agree_and_a_shift_is_measured_exactly(tmp_path):
    path = _head_onnx(tmp_path / "head.onnx")
    x = photo_batch(3, (8, 8))
    ref = TorchEngine(_Head(), input_shape=(None, 3, 8, 8))
    diffs = compare(ref, OnnxRuntimeEngine(path, provider="cpu"), x)
    assert list(diffs) == ["logits"]
    assert diffs["logits"].images == 3 and diffs["logits"].max_rel < 1e-6
    assert diffs["logits"].top1_agreement == 1.0
    shifted = compare(ref, TorchEngine(_Head(shift=0.25), input_shape=(None, 3, 8, 8)), x)["logits"]
    expected = 0.25 / np.abs(ref(x)["logits"].astype(np.float64)).max()
    assert shifted.max_abs == pytest.approx(0.25, abs=1e-6)
    assert shifted.max_rel == pytest.approx(expected, rel=1e-5)
    assert shifted.top1_agreement == 1.0  # a constant shift never changes the arg-max


def test_outputs_are_paired_by_name_or_explicitly():
    two = TorchEngine(lambda t: (t.mean((2, 3)), t.amax((2, 3))), output_names=("mean", "max"))
    one = TorchEngine(lambda t: t.amax((2, 3)), output_names=("peak",))
    x = photo_batch(2, (16, 16))
    with pytest.raises(EngineError, match=r"share no output name .*\['mean', 'max'\].*\['peak'\]"):
        compare(two, one, x)
    diffs = compare(two, one, x, outputs={"max": "peak"})
    assert list(diffs) == ["max"] and diffs["max"].max_abs == 0.0


def test_torch_engine_checks_inputs_and_names_its_failures():
    eng = TorchEngine(_Head(), input_shape=(None, 3, 8, 8))
    with pytest.raises(InputError, match=r"engine input 'input': got float64 \(1, 3, 8, 8\)"):
        eng(np.zeros((1, 3, 8, 8)))
    bad = TorchEngine(lambda t: t.view(-1, 7))
    with pytest.raises(EngineError, match="the torch reference failed"):
        bad(photo_batch(1, (8, 8)))
    wrong_count = TorchEngine(lambda t: (t, t))
    with pytest.raises(EngineError, match="returned 2 outputs, expected 1 \\(logits\\)"):
        wrong_count(photo_batch(1, (8, 8)))
