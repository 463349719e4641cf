"""Contract tests run for every registered defense (timm style): same checks, no exceptions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeguard import defenses
from edgeguard.errors import InputError

# One representative configuration per entry, plus extra windows for median.
CASES = {
    "bits": [{"bits": 1}, {"bits": 5}, {"bits": 8}],
    "median": [{"kernel": k} for k in [(3, 3), (1, 3), (3, 1), (2, 2), (5, 5)]],
    "gaussian": [{"sigma": 1.0, "size": 5}, {"sigma": 0.5}],
    "noise": [{"scale": 1.0}],
}


def _build(name, params, tmp_path, hw=(64, 80)):
    if name == "noise":
        from safetensors.torch import save_file

        g = torch.Generator().manual_seed(1)
        path = tmp_path / "vdef.safetensors"
        save_file({"v_def": (torch.rand(3, *hw, generator=g) - 0.5) * 0.05}, str(path))
        params = dict(params, path=str(path))
    return defenses.create(name, **params), params


def _all_cases():
    return [(n, p) for n in defenses.names() for p in CASES[n]]


def test_every_entry_has_cases():
    assert set(CASES) == set(defenses.names())


@pytest.mark.parametrize(("name", "params"), _all_cases())
@pytest.mark.parametrize("batch", [0, 1, 2])
def test_shape_dtype_range(name, params, batch, photos, tmp_path):
    mod, _ = _build(name, params, tmp_path)
    x = photos[:batch]
    y = mod(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    if batch:
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


@pytest.mark.parametrize(("name", "params"), _all_cases())
def test_function_equals_module(name, params, photos, tmp_path):
    mod, full = _build(name, params, tmp_path)
    entry = defenses.REGISTRY.get(name)
    if name == "noise":
        y_fn = entry.function(photos, mod.v_def, mod.scale)
    else:
        y_fn = entry.function(photos, **params)
    torch.testing.assert_close(mod(photos), y_fn, rtol=0, atol=0)


@pytest.mark.parametrize(("name", "params"), _all_cases())
def test_onnx_export_matches_torch(name, params, photos, tmp_path):
    """Export must work (a failure fails, never skips) and onnxruntime must equal torch eager."""
    import onnxruntime as ort

    mod, _ = _build(name, params, tmp_path)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(
        mod.eval(),
        (photos[:1],),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["out"],
        dynamic_axes={"input": {0: "b"}, "out": {0: "b"}},
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": photos.numpy()})[0]
    with torch.no_grad():
        ref = mod(photos).numpy()
    assert np.abs(got - ref).max() <= 1e-5


@pytest.mark.parametrize(("name", "params"), _all_cases())
def test_gradcheck_where_differentiable(name, params, tmp_path):
    entry = defenses.REGISTRY.get(name)
    mod, _ = _build(name, params, tmp_path, hw=(6, 7))
    x = torch.rand(1, 3, 6, 7, dtype=torch.float64) * 0.8 + 0.1
    if entry.differentiable:
        mod = mod.double()
        if name == "median":  # gradcheck needs distinct values: ties make the median non-smooth
            x = (torch.randperm(3 * 6 * 7, dtype=torch.float64) / 126 * 0.8 + 0.1).view(1, 3, 6, 7)
        x.requires_grad_(True)
        assert torch.autograd.gradcheck(mod, (x,), eps=1e-6, atol=1e-5)
    else:  # flagged non-differentiable: its gradient is useless (zero a.e.), hence BPDA
        x.requires_grad_(True)
        mod.double()(x).sum().backward()
        assert float(x.grad.abs().max()) == 0.0


@pytest.mark.parametrize("name", sorted(CASES))
def test_rejects_bad_shapes(name, tmp_path):
    mod, _ = _build(name, CASES[name][0], tmp_path)
    with pytest.raises(InputError):
        mod(torch.rand(3, 64, 80))
    with pytest.raises(InputError):
        mod(torch.rand(1, 4, 64, 80))


def test_flags_match_reference():
    flags = {e.name: e.flags() for e in defenses.REGISTRY}
    assert all(f["traceable"] and f["realtime"] and not f["random"] for f in flags.values())
    assert flags["bits"]["differentiable"] is False
