"""Query-only attacks: they lower a trained model's accuracy through a wall that refuses gradients,
keep their budget (the ε-ball, or the patch region), and repeat under the same generator."""

from __future__ import annotations

import pytest
import torch

from edgeguard import attacks
from edgeguard.attacks.query import margin
from edgeguard.errors import ConfigError
from tests.attacks.trained import QueryOnly, accuracy, data, trained_model


@pytest.fixture(scope="module")
def setup():
    model = trained_model()
    x, y = data(64, 2)
    assert accuracy(model, x, y) == 1.0
    return model, x, y


def test_margin_is_true_logit_minus_best_other() -> None:
    logits = torch.tensor([[3.0, 1.0, 2.5], [0.0, 4.0, -1.0]])
    assert margin(logits, torch.tensor([0, 0])).tolist() == [0.5, -4.0]


def test_square_lowers_accuracy_without_gradients_inside_the_ball(setup) -> None:
    model, x, y = setup
    wall = QueryOnly(model)
    eps = 0.2
    x_adv = attacks.from_spec(f"query:eps={eps},queries=200")(wall, x, y, torch.Generator().manual_seed(0))
    assert wall.calls > 1
    assert accuracy(model, x_adv, y) <= 0.5  # measured 0.17 when written (clean 1.0; PGD-10 at 0.15: 0)
    assert float((x_adv - x).abs().max()) <= eps + torch.finfo(torch.float32).eps
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1 and x_adv.dtype == x.dtype
    again = attacks.from_spec(f"query:eps={eps},queries=200")(model, x, y, torch.Generator().manual_seed(0))
    assert torch.equal(x_adv, again)


def test_patch_changes_only_its_region_and_lowers_accuracy(setup) -> None:
    model, x, y = setup
    wall = QueryOnly(model)
    attack = attacks.from_spec("query-patch:size=0.5,queries=150,top=0.5,left=0")
    torch.manual_seed(11)
    expected_next = torch.rand(2)
    torch.manual_seed(11)
    x_adv = attack(wall, x, y, torch.Generator().manual_seed(0))
    assert torch.equal(torch.rand(2), expected_next)  # all draws came from the generator argument
    rows, cols = attack.region(8, 8)
    assert (rows, cols) == (slice(4, 8), slice(0, 4))
    outside = torch.ones(8, 8, dtype=torch.bool)
    outside[rows, cols] = False
    assert torch.equal(x_adv[:, :, outside], x[:, :, outside])
    assert bool((x_adv[:, :, rows, cols] != x[:, :, rows, cols]).any())
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    assert accuracy(model, x_adv, y) <= 0.5
    assert torch.equal(x_adv, attack(model, x, y, torch.Generator().manual_seed(0)))
    assert not torch.equal(x_adv, attack(model, x, y, torch.Generator().manual_seed(1)))


def test_patch_spends_at_most_its_queries_per_input(setup) -> None:
    model, x, y = setup
    seen = torch.zeros(len(x))

    def counting(t: torch.Tensor) -> torch.Tensor:
        # which inputs are in this call: each row of the patch search is one of x with a new patch
        for row in t:
            seen[(row - x).abs().flatten(1).sum(1).argmin()] += 1
        with torch.no_grad():
            return model(t)

    attacks.from_spec("query-patch:size=0.25,queries=20")(counting, x, y, torch.Generator().manual_seed(0))
    assert float(seen.max()) <= 20 and float(seen.min()) >= 1


def test_patch_region_is_centred_by_default_and_clipped_to_fit() -> None:
    a = attacks.from_spec("query-patch:size=0.2,queries=10")
    assert a.region(32, 40) == (slice(13, 19), slice(16, 24))
    b = attacks.from_spec("query-patch:size=0.5,queries=10,top=1,left=1")
    assert b.region(10, 10) == (slice(5, 10), slice(5, 10))
    assert attacks.from_spec(b.spec()) == b


@pytest.mark.parametrize(
    "spec",
    [
        "query:eps=0",
        "query:eps=2",
        "query:queries=0",
        "query-patch:size=0",
        "query-patch:size=1.5",
        "query-patch:top=2",
    ],
)
def test_bad_params_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError):
        attacks.from_spec(spec)
