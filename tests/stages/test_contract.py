"""The contract every host stage keeps (timm style: parametrized over the whole registry)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from edgeguard import stages
from edgeguard.errors import ConfigError, InputError
from edgeguard.samples import photo_batch

NAMES = stages.names()


def make(name: str, **extra: Any) -> stages.HostStage:
    """The stage built from its first registered example (kept fast by the entry) plus ``extra``."""
    entry = stages.REGISTRY.get(name)
    assert entry.examples, f"stage {name!r} registers no examples= for the contract tests"
    return stages.create(name, **{**entry.examples[0], **extra})


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return photo_batch(2, (24, 32))


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_has_examples_and_invalid_cases(name: str) -> None:
    """Fails (never skips) for an entry registered without examples= or invalid=."""
    entry = stages.REGISTRY.get(name)
    assert entry.examples, f"stage {name!r} registers no examples="
    assert entry.invalid, f"stage {name!r} registers no invalid= parameter cases"
    known = {p.name for p in entry.params}
    for params in (*entry.examples, *entry.invalid):
        assert set(params) <= known


@pytest.mark.parametrize(
    ("name", "index"), [(e.name, i) for e in stages.REGISTRY for i in range(len(e.examples))]
)
def test_every_example_runs(name: str, index: int, images: np.ndarray) -> None:
    stage = stages.create(name, **stages.REGISTRY.get(name).examples[index])
    out = stage(images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert stage.last_info["stage"] == name and stage.last_info["batch"] == 2


@pytest.mark.parametrize("name", NAMES)
def test_usage_parses_to_the_entry(name: str) -> None:
    entry = stages.REGISTRY.get(name)
    got, _ = stages.REGISTRY.resolve(entry.usage)
    assert got is entry and type(stages.from_spec(entry.usage)) is entry.factory


@pytest.mark.parametrize("name", NAMES)
def test_registry_flags(name: str) -> None:
    entry = stages.REGISTRY.get(name)
    stage = make(name)
    assert entry.traceable is False and entry.differentiable is False
    assert entry.realtime == stage.realtime and entry.random == stage.random
    assert entry.random == (name in ("tvm", "dip"))
    assert entry.realtime == (name != "dip")
    assert stage.name == name and stage.device == "cpu"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("batch", [0, 1, 2])
def test_shape_dtype_range(name: str, batch: int, images: np.ndarray) -> None:
    stage = make(name)
    x = images[:batch]
    for inp in (x, x.astype(np.float64), torch.from_numpy(x), torch.from_numpy(x).double()):
        out = stage(inp)
        assert type(out) is type(inp) and out.dtype == inp.dtype and tuple(out.shape) == tuple(inp.shape)
        if batch:
            assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        assert stage.last_info["batch"] == batch and stage.last_info["stage"] == name


@pytest.mark.parametrize("name", NAMES)
def test_numpy_and_torch_agree(name: str, images: np.ndarray) -> None:
    a = make(name)(images)
    b = make(name)(torch.from_numpy(images))
    np.testing.assert_array_equal(a, b.numpy())


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_given_seed(name: str, images: np.ndarray) -> None:
    x = torch.from_numpy(images)
    torch.testing.assert_close(make(name)(x), make(name)(x), rtol=0, atol=0)
    if stages.REGISTRY.get(name).random:
        assert not torch.equal(make(name, seed=1)(x), make(name, seed=2)(x))


@pytest.mark.parametrize("name", NAMES)
def test_does_not_modify_input_or_keep_grad(name: str, images: np.ndarray) -> None:
    x = torch.from_numpy(images).clone().requires_grad_(True)
    before = x.detach().clone()
    out = make(name)(x)
    assert not out.requires_grad
    assert torch.equal(x.detach(), before)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_input_error(name: str, images: np.ndarray) -> None:
    stage = make(name)
    nan = images.copy()
    nan[0, 1, 2, 3] = np.nan
    inf = torch.from_numpy(images).clone()
    inf[1, 0, 0, 0] = float("inf")
    for bad in (nan, inf, images * 2.0, images[:, :2], images[0], (images * 255).astype(np.uint8)):
        with pytest.raises(InputError):
            stage(bad)


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameters_raise_config_error(name: str) -> None:
    for params in stages.REGISTRY.get(name).invalid:
        with pytest.raises(ConfigError, match=name):
            stages.create(name, **params)
    with pytest.raises(ConfigError, match="unknown parameter"):
        stages.create(name, not_a_param=1)
    with pytest.raises(ConfigError):
        stages.create(name, device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_without_cuda_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="device=cpu"):
        stages.create(name, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["tvm", "rof", "dip"])
def test_cuda_matches_cpu(name: str, images: np.ndarray) -> None:
    # same seed → same mask / weights / input noise (drawn on the CPU generator) on both devices
    x = torch.from_numpy(images)
    cpu = make(name)(x)
    gpu = make(name, device="cuda")(x.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-2 if name == "dip" else 1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_spec_round_trip(name: str) -> None:
    stage = make(name)
    again = stages.from_spec(stage.spec)
    assert again.spec == stage.spec
    assert stages.REGISTRY.canonical(stage.spec) == stage.spec
    assert type(again) is type(stage) and again.params == stage.params


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tvm:keep=0.1,lam=0.03,iters=100", {"keep": 0.1, "lam": 0.03, "iters": 100}),
        ("rof:weight=0.1", {"weight": 0.1, "iters": 200}),
        ("rof:0.05", {"weight": 0.05, "iters": 200}),
        ("nlm:11_3_4", {"window": 11, "patch": 3, "h": 4.0}),
        ("nlm:window=13,patch=3,h=2", {"window": 13, "patch": 3, "h": 2.0}),
        ("jpeg:75", {"quality": 75}),
        ("jpeg:quality=30", {"quality": 30}),
        ("kmeans:k=8", {"k": 8, "attempts": 3}),
        ("kmeans:4", {"k": 4, "attempts": 3}),
    ],
)
def test_cli_specs(spec: str, expected: dict[str, Any]) -> None:
    assert stages.from_spec(spec).params == expected


def test_dip_specs() -> None:
    assert stages.from_spec("dip:iters=1750").iters == 1750
    assert stages.from_spec("dip:stop=plateau").stop == "plateau"
    d = stages.from_spec("dip:budget_s=2")
    assert d.budget_s == 2.0 and "budget_s=2.0" in d.spec


@pytest.mark.parametrize("spec", ["nlm:11_3", "nlm:a_b_c", "jpeg:high", "kmeans:2.5", "rof:x", "tvm:0.1"])
def test_bad_shorthands(spec: str) -> None:
    with pytest.raises(ConfigError):
        stages.from_spec(spec)


def test_stage_body_must_match_its_backend() -> None:
    from edgeguard.stages.base import HostStage

    with pytest.raises(TypeError, match="needs a _run_torch"):
        type("NoBody", (HostStage,), {"name": "nobody"})
    with pytest.raises(TypeError, match="must not define _run_torch"):
        type(
            "Both",
            (HostStage,),
            {
                "name": "both",
                "backend": "numpy",
                "_run_numpy": lambda s, x, i: x,
                "_run_torch": lambda s, x, i: x,
            },
        )
