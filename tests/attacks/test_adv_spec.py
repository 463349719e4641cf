"""``--adv`` / ``--attack`` (``attacks.parse_adv``): any registered plain white-box attack, PGD's own
messages kept; ``train_eval.predict`` runs whichever attack it is given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeguard import attacks
from edgeguard.errors import ConfigError
from edgeguard.registry import ATTACKS
from edgeguard.train_eval import predict
from tests.attacks.tiny import data, one_thread, trained_model

pytestmark = pytest.mark.usefixtures("one_thread")
assert one_thread  # the fixture is used through pytestmark


@pytest.mark.parametrize(
    "spec", ["fgsm:eps=8/255", "bim:eps=4/255,steps=3", "pgd-l2:eps=0.5", "deepfool", "autoattack:eps=8/255"]
)
def test_white_box_specs_parse_to_the_registry_object(spec: str) -> None:
    assert attacks.parse_adv(spec) == attacks.from_spec(spec)


def test_pgd_keeps_its_own_parser_and_messages() -> None:
    assert attacks.parse_adv("pgd:eps=8/255,steps=7") == attacks.PGD(8 / 255, 7)
    with pytest.raises(ConfigError, match=r"--adv 'pgd:eps=8/255,stpes=3': unknown parameter\(s\) stpes"):
        attacks.parse_adv("pgd:eps=8/255,stpes=3")


def test_attacks_that_are_not_plain_white_box_are_refused() -> None:
    @ATTACKS.register(
        "probe-query", examples=({},), invalid=({"x": 1},), norm="linf", kind="query", minimal=False
    )
    def probe(eps: float = 0.1, queries: int = 10) -> None:  # a throwaway entry, removed below
        return None

    try:
        with pytest.raises(
            ConfigError, match="probe-query is not a plain white-box attack; use one of .*fgsm"
        ):
            attacks.parse_adv("probe-query:eps=0.1")
    finally:
        ATTACKS.unregister("probe-query")
    with pytest.raises(ConfigError, match=r"--adv 'bim:eps=0': need eps > 0"):
        attacks.parse_adv("bim:eps=0")


def test_predict_runs_any_attack_with_the_batch_generator() -> None:
    model = trained_model()
    x, y = data(40, 5)
    images = (x.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    xb = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    attack = attacks.parse_adv("pgd-l2:eps=1.0,steps=3")
    expected = model(attack(model, xb[:16], y[:16], torch.Generator().manual_seed(3 * 7919))).argmax(1)
    got = predict(model, images, attack, y.numpy(), bs=16, seed=3)
    assert np.array_equal(got[:16], expected.numpy())
    assert (got == y.numpy()).mean() < (predict(model, images) == y.numpy()).mean()
