"""Logit ensemble (seed 002): one module, one ONNX graph, head training."""

from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
import pytest
import torch

from edgeguard.errors import ConfigError
from edgeguard.models.ensemble import LogitEnsemble, build_ensemble, fit_head
from edgeguard.models.signs import SignsResNet


def _members() -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [SignsResNet(13, (8, 8, 16, 16)).eval(), SignsResNet(13, (8, 16, 16, 32)).eval()]


def test_shapes_and_head_layout() -> None:
    ens = LogitEnsemble(_members(), num_classes=13).eval()
    assert ens.member_classes == [13, 13]
    linears = [m for m in ens.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(26, 256), (256, 256), (256, 13)]
    assert ens(torch.randn(2, 3, 64, 64)).shape == (2, 13)
    with pytest.raises(ConfigError):
        LogitEnsemble([], 13)


def test_single_onnx_graph_parity() -> None:
    ens = LogitEnsemble(_members(), num_classes=13).eval()
    x = torch.randn(2, 3, 64, 64)
    buf = io.BytesIO()
    torch.onnx.export(ens, (x,), buf, opset_version=17, dynamo=False, input_names=["x"], output_names=["y"])
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["x"] and len(sess.get_outputs()) == 1
    want = ens(x).detach().numpy()
    np.testing.assert_allclose(
        sess.run(None, {"x": x.numpy()})[0], want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max())
    )


def test_fit_head_lowers_loss_and_leaves_members_alone() -> None:
    ens = LogitEnsemble(_members(), num_classes=3, hidden=(32, 32))
    before = [p.clone() for p in ens.members.parameters()]
    x = torch.randn(96, 3, 64, 64)
    y = (ens.member_logits(x).argmax(1) % 3).detach()  # a function of the member logits: learnable
    losses = fit_head(ens, x, y, epochs=40, lr=3e-2, batch_size=32)
    assert losses[-1] < 0.6 * losses[0]
    assert all(torch.equal(a, b) for a, b in zip(before, ens.members.parameters(), strict=True))


def test_build_from_zoo_names() -> None:
    ens = build_ensemble(["signs-resnet", "signs-resnet-denoise"])
    assert ens.member_classes == [13, 13] and ens(torch.zeros(1, 3, 64, 64)).shape == (1, 13)
    with pytest.raises(ConfigError, match="differ in input size"):
        build_ensemble(["signs-resnet", "resnet18"])
