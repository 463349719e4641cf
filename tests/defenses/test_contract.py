"""Contract tests run for every registered defense (timm style): same checks, no exceptions.

The cases are the registry's own: each entry's ``examples`` (and ``example_setup`` for files it
needs). An entry registered without examples fails ``test_examples_exist`` — it is never skipped.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeguard import defenses
from edgeguard.errors import InputError


def _cases() -> list[tuple[str, int]]:
    # (name, example index); an entry without examples still gets one case, which then fails.
    return [(e.name, i) for e in defenses.REGISTRY for i in range(max(1, len(e.examples)))]


def _build(name: str, index: int, tmp_path):
    entry = defenses.REGISTRY.get(name)
    assert entry.examples, f"defense {name!r} registers no examples= for the contract tests"
    params = dict(entry.examples[index])
    if entry.example_setup is not None:
        params.update(entry.example_setup(tmp_path))
    return defenses.create(name, **params), params


@pytest.mark.parametrize(("name", "index"), _cases())
def test_examples_exist(name, index):
    entry = defenses.REGISTRY.get(name)
    assert entry.examples, f"defense {name!r} registers no examples= for the contract tests"
    known = {p.name for p in entry.params}
    assert set(entry.examples[index]) <= known


@pytest.mark.parametrize(("name", "index"), _cases())
@pytest.mark.parametrize("batch", [0, 1, 2])
def test_shape_dtype_range(name, index, batch, photos, tmp_path):
    mod, _ = _build(name, index, tmp_path)
    x = photos[:batch]
    y = mod(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    if batch:
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


@pytest.mark.parametrize(("name", "index"), _cases())
def test_function_equals_module(name, index, photos, tmp_path):
    mod, params = _build(name, index, tmp_path)
    entry = defenses.REGISTRY.get(name)
    fn_params = entry.extra.get("function_params")
    y_fn = entry.function(photos, **(fn_params(mod) if fn_params else params))
    torch.testing.assert_close(mod(photos), y_fn, rtol=0, atol=0)


@pytest.mark.parametrize(("name", "index"), _cases())
def test_onnx_export_matches_torch(name, index, photos, tmp_path):
    """Export must work (a failure fails, never skips) and onnxruntime must equal torch eager."""
    import onnxruntime as ort

    mod, _ = _build(name, index, tmp_path)
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


@pytest.mark.parametrize(("name", "index"), _cases())
def test_gradcheck_where_differentiable(name, index, tmp_path):
    entry = defenses.REGISTRY.get(name)
    mod, _ = _build(name, index, tmp_path)
    x = torch.rand(1, 3, 6, 7, dtype=torch.float64) * 0.8 + 0.1
    if entry.differentiable:
        mod = mod.double()
        # gradcheck needs distinct values (ties make a median non-smooth): a permutation has none
        x = (torch.randperm(3 * 6 * 7, dtype=torch.float64) / 126 * 0.8 + 0.1).view(1, 3, 6, 7)
        x.requires_grad_(True)
        assert torch.autograd.gradcheck(mod, (x,), eps=1e-6, atol=1e-5)
    else:  # flagged non-differentiable: its gradient is useless (zero a.e.), hence BPDA
        x.requires_grad_(True)
        mod.double()(x).sum().backward()
        assert float(x.grad.abs().max()) == 0.0


@pytest.mark.parametrize("name", defenses.names())
def test_rejects_bad_shapes(name, tmp_path):
    mod, _ = _build(name, 0, tmp_path)
    with pytest.raises(InputError):
        mod(torch.rand(3, 64, 80))
    with pytest.raises(InputError):
        mod(torch.rand(1, 4, 64, 80))


@pytest.mark.parametrize("name", defenses.names())
def test_usage_parses_to_the_entry(name, tmp_path):
    """The usage string shown in --help is a spec of this entry (PATH replaced by an example file)."""
    entry = defenses.REGISTRY.get(name)
    assert entry.usage.startswith(f"{name}:") or entry.usage == name
    usage = entry.usage
    if "PATH" in usage:
        assert entry.example_setup is not None
        usage = usage.replace("PATH", next(iter(entry.example_setup(tmp_path).values())))
    got, _ = defenses.REGISTRY.resolve(usage)
    assert got is entry
    assert isinstance(defenses.from_spec(usage), entry.factory)


def test_flags_match_reference():
    flags = {e.name: e.flags() for e in defenses.REGISTRY}
    assert all(f["traceable"] and f["realtime"] and not f["random"] for f in flags.values())
    assert flags["bits"]["differentiable"] is False
    assert {n for n, f in flags.items() if f["differentiable"]} == {"median", "gaussian", "noise"}
