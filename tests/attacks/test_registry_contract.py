"""Contract over the attack registry: every entry, with each of its example parameters, states its
threat model (norm, kind, minimal), keeps its budget exactly in its norm, stays in [0, 1], is
reproducible from the generator, never raises a trained model's accuracy, round-trips its spec, and
refuses its invalid parameters with ConfigError.

Kinds are honoured: a universal attack is fitted on a disjoint set and then applied; a query attack
gets a model that fails the test if it is called with gradients enabled; an attack that
``needs_score`` gets a model returning ``(logits, adv_score)``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeguard import attacks
from edgeguard.errors import ConfigError
from tests.attacks.tiny import accuracy, data, one_thread, trained_model

pytestmark = pytest.mark.usefixtures("one_thread")
assert one_thread  # the fixture is used through pytestmark

# detection attacks (person patches) take per-image person boxes, not labels: tests/attacks/test_patch.py
CASES = [
    (e.name, ex)
    for e in attacks.REGISTRY
    for ex in e.examples
    if e.extra.get("task", "classification") == "classification"
]
ALL_CASES = [(e.name, ex) for e in attacks.REGISTRY for ex in e.examples]
INVALID = [(e.name, bad) for e in attacks.REGISTRY for bad in e.invalid]
F32 = torch.finfo(torch.float32).eps  # one float32 ulp at 1.0: the rounding of x + δ in [0, 1]


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = trained_model()
    xt, yt = data(128, 2)
    assert accuracy(model, xt, yt) > 0.9  # really trained
    return model, xt[:32], yt[:32]  # 32 examples: JSMA and DeepFool loop over them one by one


class QueryOnly(nn.Module):
    """The model, refusing any call with gradients enabled (a query attack reads outputs only)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.grad_calls, self.calls = model, 0, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.grad_calls += torch.is_grad_enabled()
        return self.model(x)


class WithScore(nn.Module):
    """``(logits, adv_score)``: the model plus a differentiable score (the max softmax probability)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x)
        return logits, F.softmax(logits, 1).amax(1)


def _run(entry, attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    if entry.extra.get("needs_score"):
        model = WithScore(model)
    if entry.extra.get("kind") == "universal":
        xf, yf = data(64, 7)  # the fitting set, disjoint from the attacked one
        attack.fit(model, xf, yf, torch.Generator().manual_seed(seed))
    return attack(model, x, y, torch.Generator().manual_seed(seed))


def test_every_entry_states_its_threat_model() -> None:
    assert {"pgd", "fgsm", "bim", "pgd-l2"} <= set(attacks.names())
    for entry in attacks.REGISTRY:
        assert entry.extra["norm"] in attacks.NORMS, entry.name
        assert entry.extra["kind"] in attacks.KINDS, entry.name
        assert isinstance(entry.extra["minimal"], bool), entry.name
        assert entry.examples and entry.invalid, entry.name
        params = {p.name for p in entry.params}
        if not entry.extra["minimal"] and entry.extra["norm"] != "none":
            assert "eps" in params, f"{entry.name}: a budgeted attack takes eps (the runner sweeps it)"
        if entry.extra["kind"] == "query":
            assert "queries" in params, entry.name


@pytest.mark.parametrize(("name", "params"), CASES)
def test_budget_box_accuracy_and_reproducibility(name: str, params: dict, trained) -> None:
    model, x, y = trained
    entry = attacks.REGISTRY.get(name)
    attack = attacks.create(name, **params)
    assert (attack.name, attack.norm, attack.kind, attack.random) == (
        name,
        entry.extra["norm"],
        entry.extra["kind"],
        entry.random,
    )
    if entry.extra["minimal"] and "eps" not in params:
        assert attack.eps is None, "a minimal-perturbation attack runs without a budget by default"
    probe = QueryOnly(model) if attack.kind == "query" else model
    x_adv = _run(entry, attack, probe, x, y, 1)
    if attack.kind == "query":
        assert probe.calls > 0 and probe.grad_calls == 0, "a query attack called the model with gradients"
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    d = (x_adv.double() - x.double()).flatten(1)
    if attack.eps is not None and attack.norm == "linf":
        assert float(d.abs().max()) <= attack.eps + F32, "L∞ budget exceeded"
    elif attack.eps is not None and attack.norm == "l2":
        assert float(d.norm(dim=1).max()) <= attack.eps * (1 + 1e-6), "L2 budget exceeded"
    elif attack.eps is not None and attack.norm == "l0":
        assert float((d.abs() > 1e-6).sum(1).max()) <= attack.eps, "L0 budget exceeded"
    assert accuracy(model, x_adv, y) <= accuracy(model, x, y)
    if attack.kind == "white-box" and not entry.extra["minimal"]:
        with torch.no_grad():
            assert float(F.cross_entropy(model(x_adv), y)) > float(F.cross_entropy(model(x), y))
    assert bool((d != 0).any()), "the attack changed nothing"
    # reproducible: the generator seeds every random draw; torch's global RNG is left alone
    state = torch.get_rng_state()
    assert torch.equal(x_adv, _run(entry, attacks.create(name, **params), model, x, y, 1))
    assert torch.equal(state, torch.get_rng_state()) or attack.kind != "white-box"
    # the model's parameters got no gradient and kept their mode
    assert all(p.grad is None for p in model.parameters()) and not model.training


@pytest.mark.parametrize(("name", "params"), ALL_CASES)
def test_spec_round_trips(name: str, params: dict) -> None:
    spec = name + ":" + ",".join(f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in params.items())
    attack = attacks.create(name, **params)
    assert attacks.from_spec(spec) == attack
    canonical = attack.spec()
    assert attacks.from_spec(canonical).spec() == canonical and canonical.split(":")[0] == name
    assert attacks.REGISTRY.canonical(canonical)  # parses with the registry's own validation


@pytest.mark.parametrize(("name", "params"), INVALID)
def test_invalid_params_are_config_errors(name: str, params: dict) -> None:
    with pytest.raises(ConfigError):
        attacks.create(name, **params)


def test_listing_from_source_equals_the_live_registry() -> None:
    """`--help` texts are generated from the source listing; it must say what the registry says."""
    listed = {x.name: (x.summary, x.usage) for x in attacks.REGISTRY.listing()}
    assert listed == {e.name: (e.summary, e.usage) for e in attacks.REGISTRY} and listed


@pytest.mark.parametrize("entry", list(attacks.REGISTRY), ids=lambda e: e.name)
def test_usage_examples_parse(entry) -> None:
    made = attacks.from_spec(entry.usage)
    assert made.name == entry.name


def test_pgd_spec_parses_fractions() -> None:
    assert attacks.from_spec("pgd:eps=8/255,steps=20") == attacks.PGD(8 / 255, 20)
    assert attacks.from_spec("pgd:eps=8/255,steps=20,alpha=2/255").step_size == 2 / 255
    assert attacks.from_spec("pgd-l2:eps=0.5,steps=20,restarts=2").restarts == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch:eps=1", "unknown attack 'nosuch'"),
        ("pgd:eps=8/255,stpes=3", "did you mean steps"),
        ("pgd:eps=0,steps=3", "0 < eps <= 1"),
        ("pgd:eps=2,steps=3", "0 < eps <= 1"),
        ("pgd:eps=0.1,steps=0", "steps >= 1"),
        ("pgd:eps=0.1,steps=2.5", "whole number"),
        ("pgd:eps=abc", "must be numbers"),
        ("pgd:eps=0.1,alpha=0", "alpha > 0"),
        ("pgd:eps=0.1,alpha=-1/255", "alpha > 0"),
        ("fgsm:eps=2", "fgsm: need eps > 0 and eps <= 1"),
        ("pgd-l2:eps=0.5,restarts=0", "pgd-l2: need restarts >= 1"),
        ("bim:eps=0.1,steps=2.5", "bim: steps must be a whole number"),
    ],
)
def test_bad_specs_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        attacks.from_spec(spec)
