"""Spec strings and parameter values for every registered defense and stage: typed error or a working op."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeguard.errors import ConfigError, EdgeGuardError
from edgeguard.registry import DEFENSES, STAGES

from .conftest import _HUNT

_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
VALUES = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=-3, max_value=40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2, max_value=60),
    st.booleans(),
    st.none(),
    st.text(_CHARS, max_size=12),
    st.tuples(st.integers(-2, 9), st.integers(-2, 9)),
    st.lists(st.integers(-2, 9), max_size=4),
)
# Spec text built from the grammar's own pieces, so that many draws get past the name.
PIECES = st.sampled_from(
    ["bits", "median", "gaussian", "noise", "nlm", "kmeans", "jpeg", "tvm", "rof", "dip"]
)
RAW = st.text(alphabet="abcdeghijklmnopqrstuvwxyz0123456789:=,._/x-+eE ", max_size=30)
SPECS = st.one_of(st.text(_CHARS, max_size=40), RAW, st.builds(lambda n, r: f"{n}:{r}", PIECES, RAW))


def _x_torch() -> torch.Tensor:
    return torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))


def _run_defense(op) -> None:
    x = _x_torch()
    y = op(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def _run_stage(op) -> None:
    x = _x_torch().numpy()
    y = op(x)
    assert y.shape == x.shape and np.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def _cheap(name: str, params: dict) -> bool:
    # Valid but deliberately costly settings (dip, thousands of TV iterations) are not run here:
    # this suite checks validation, and the contract tests run every stage.
    return name != "dip" and all(not isinstance(v, int) or v <= 300 for v in params.values())


@given(SPECS)
def test_random_defense_specs(spec):
    try:
        op = DEFENSES.from_spec(spec)
    except ConfigError:
        return
    if not isinstance(op, torch.nn.Module):
        raise AssertionError(f"{spec!r} built {op!r}")
    with contextlib.suppress(EdgeGuardError):  # e.g. a window wider than the batch: typed
        _run_defense(op)


@given(SPECS)
@settings(max_examples=_HUNT or 100)
def test_random_stage_specs(spec):
    try:
        op = STAGES.from_spec(spec)
    except ConfigError:
        return
    if _cheap(op.name, getattr(op, "params", {})):
        _run_stage(op)


def _params(registry):
    names = registry.names()

    @st.composite
    def draw(draw):
        name = draw(st.sampled_from(names))
        entry = registry.get(name)
        keys = [p.name for p in entry.params if p.name != "device"]
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys))) if keys else []
        return name, {k: draw(VALUES) for k in chosen}

    return draw()


@given(_params(DEFENSES))
def test_random_defense_parameters(case):
    name, params = case
    try:
        op = DEFENSES.create(name, **params)
    except ConfigError:
        return
    with contextlib.suppress(EdgeGuardError):
        _run_defense(op)


@given(_params(STAGES))
@settings(max_examples=_HUNT or 100)
def test_random_stage_parameters(case):
    name, params = case
    try:
        op = STAGES.create(name, **params)
    except ConfigError:
        return
    if _cheap(name, params):
        _run_stage(op)
