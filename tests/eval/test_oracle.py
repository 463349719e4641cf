"""eval.Oracle: the deployed pipeline's logits as a tensor; no gradient, queries counted."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from edgeguard.errors import ConfigError, EngineError, InputError
from edgeguard.eval.oracle import Oracle
from edgeguard.pipeline import load

from .signs import SHIPPED, sign_images


def test_oracle_returns_the_pipelines_logits_in_batches_and_counts_queries():
    x, y = sign_images()
    pipe = load(SHIPPED)
    oracle = Oracle(pipe, batch=5)
    out = oracle(x)
    ref = np.stack([r.outputs["logits"] for r in pipe.run_batch(x.numpy())])
    assert out.dtype == torch.float32 and out.shape == (16, 13)
    np.testing.assert_array_equal(out.numpy(), ref)
    assert oracle.queries == 16
    oracle(x[:3])
    assert oracle.queries == 19
    assert (out.argmax(1) == y).float().mean() > 0.8


def test_backward_through_the_oracle_is_refused():
    x, y = sign_images()
    oracle = Oracle(load(SHIPPED))
    xg = x[:2].clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(oracle(xg), y[:2])
    with pytest.raises(EngineError, match="has no gradient"):
        loss.backward()
    with torch.no_grad():
        assert not oracle(xg).requires_grad


def _no_detector(path):
    """A tiny valid classifier engine without a detector output: logits = mean over H, W."""
    node = helper.make_node("ReduceMean", ["input"], ["logits"], axes=[2, 3], keepdims=0)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["B", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_the_detector_score_comes_back_when_asked_for():
    x, _ = sign_images()
    pipe = load(SHIPPED)  # fuses squeeze:bits=4,median=2x2
    logits, score = Oracle(pipe, score=True)(x)
    results = pipe.run_batch(x.numpy())
    np.testing.assert_array_equal(score.numpy(), np.array([r.outputs["adv_score"] for r in results]))
    np.testing.assert_array_equal(logits.numpy(), np.stack([r.outputs["logits"] for r in results]))


def test_bad_uses_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no detector output"):
        Oracle(load(_no_detector(tmp_path / "plain.onnx")), score=True)
    pipe = load(SHIPPED)
    with pytest.raises(ConfigError, match="batch"):
        Oracle(pipe, batch=0)
    with pytest.raises(InputError, match="empty batch"):
        Oracle(pipe)(torch.zeros(0, 3, 64, 64))
