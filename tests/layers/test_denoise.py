"""Feature-denoising blocks (seed 004): contract, zero-init identity, reference ops, ONNX parity."""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
import torchvision

from edgeguard.errors import ConfigError
from edgeguard.layers import KINDS, DenoiseBlock, add_denoise_blocks, median_filter, nonlocal_means
from edgeguard.models.signs import SignsResNet


def _trained_like(block: DenoiseBlock) -> DenoiseBlock:
    """Give the block non-trivial BN parameters so it is no longer the identity."""
    torch.manual_seed(1)
    with torch.no_grad():
        block.bn.weight.uniform_(0.5, 1.5)
        block.bn.bias.uniform_(-0.2, 0.2)
        block.bn.running_mean.uniform_(-0.1, 0.1)
        block.bn.running_var.uniform_(0.5, 2.0)
    return block.eval()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch", [0, 1, 2])
def test_shape_and_zero_init_identity(kind: str, batch: int) -> None:
    x = torch.randn(batch, 8, 6, 7)
    block = DenoiseBlock(8, kind)
    for mode in (block.train(), block.eval()):
        y = mode(x)
        assert y.shape == x.shape and y.dtype == x.dtype
        torch.testing.assert_close(y, x, rtol=0, atol=0)  # zero γ (and β) → exact identity at start
    if batch:
        assert not torch.allclose(_trained_like(block)(x), x)


def test_ops_match_references() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6, 7)
    xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
    ref = xp.unfold(2, 3, 1).unfold(3, 3, 1).reshape(2, 5, 6, 7, 9).median(-1).values
    torch.testing.assert_close(median_filter(x), ref, rtol=0, atol=0)
    flat = x.flatten(2)  # (B, C, N): y_i = Σ_j softmax_j(x_i·x_j/√C) x_j, written out per position
    w = torch.softmax(torch.einsum("bci,bcj->bij", flat, flat) / 5**0.5, dim=-1)
    torch.testing.assert_close(
        nonlocal_means(x, "gaussian"), torch.einsum("bij,bcj->bci", w, flat).view_as(x)
    )
    dot = torch.einsum("bij,bcj->bci", torch.einsum("bci,bcj->bij", flat, flat) / 42, flat).view_as(x)
    torch.testing.assert_close(nonlocal_means(x, "dot"), dot)
    const = torch.full((1, 3, 5, 5), 0.7)  # every op preserves a constant map
    for op in ("mean", "median", "bilateral"):
        block = DenoiseBlock(3, op)
        from edgeguard.layers.denoise import _OPS

        torch.testing.assert_close(_OPS[op](const), const)
        del block


def _onnx(model: torch.nn.Module, x: torch.Tensor) -> tuple[np.ndarray, onnx.ModelProto]:
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (x,),
        buf,
        opset_version=17,
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
    )
    proto = onnx.load_from_string(buf.getvalue())
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x.numpy()})[0], proto


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_parity_and_tensorrt_legal_ops(kind: str) -> None:
    block = _trained_like(DenoiseBlock(16, kind))
    x = torch.randn(2, 16, 8, 8)
    got, proto = _onnx(block, x)
    want = block(x).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    ops = {n.op_type for n in proto.graph.node}
    assert not ops & {"Sort", "ReduceMedian", "Bernoulli"}, ops


def test_add_blocks_to_compact_net_and_torchvision_resnet() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    net = SignsResNet().eval()
    before = net(x)
    keys = set(net.state_dict())
    add_denoise_blocks(net, after=["layer2", "layer3"], kind="nonlocal_gaussian")
    torch.testing.assert_close(net.eval()(x), before)
    assert keys < set(net.state_dict())  # old parameter names unchanged: pretrained weights still load
    assert sum(isinstance(m, DenoiseBlock) for m in net.modules()) == 2
    rn = torchvision.models.resnet18(num_classes=10).eval()
    ref = rn(x)
    add_denoise_blocks(rn, after=["layer1", "layer2", "layer3", "layer4"], kind="median")
    torch.testing.assert_close(rn.eval()(x), ref)
    chans = [m.conv.in_channels for m in rn.modules() if isinstance(m, DenoiseBlock)]
    assert chans == [64, 128, 256, 512]
    with pytest.raises(ConfigError, match="did you mean layer2"):
        add_denoise_blocks(SignsResNet(), after=["layr2"])
    with pytest.raises(ConfigError, match="unknown denoising kind"):
        add_denoise_blocks(SignsResNet(), kind="nonlocal")
