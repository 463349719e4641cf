"""eval.Oracle: the deployed pipeline's logits as a tensor; no gradient, queries counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


def test_bad_uses_are_clear_errors():
    pipe = load(SHIPPED)
    with pytest.raises(ConfigError, match="no detector output"):
        Oracle(pipe, score=True)
    with pytest.raises(ConfigError, match="batch"):
        Oracle(pipe, batch=0)
    with pytest.raises(InputError, match="empty batch"):
        Oracle(pipe)(torch.zeros(0, 3, 64, 64))
