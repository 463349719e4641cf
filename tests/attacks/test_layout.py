"""Where attack code lives: stages/ never imports attacks/ at import time, the old names still work,
and train / train_eval no longer import each other."""

from __future__ import annotations

import subprocess
import sys

import pytest

import edgeguard.attacks as attacks
import edgeguard.stages as stages
import edgeguard.train as train


def test_moved_names_resolve_to_attacks() -> None:
    assert stages.bpda is attacks.bpda and stages.BPDA is attacks.BPDA
    assert stages.eot_draws is attacks.eot_draws and stages.eot_gradient is attacks.eot_gradient
    assert train.PGD is attacks.PGD and train.pgd_attack is attacks.pgd_attack
    assert train.parse_adv is attacks.parse_adv and train.Normalized is attacks.Normalized
    from edgeguard.stages import bpda, eot_gradient  # the spelling tests and users wrote

    assert bpda is attacks.bpda and eot_gradient is attacks.eot_gradient


def test_unknown_stage_attribute_is_still_an_attribute_error() -> None:
    try:
        stages.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("stages.no_such_thing resolved")


@pytest.mark.slow  # a fresh interpreter importing torch
def test_import_edges() -> None:
    code = (
        "import sys\n"
        "import edgeguard.stages\n"
        "assert not [m for m in sys.modules if m.startswith('edgeguard.attacks')], 'stages: attacks'\n"
        "import edgeguard.train_eval\n"
        "assert 'edgeguard.train' not in sys.modules, 'train_eval imported train'\n"
        "import edgeguard.attacks\n"
        "assert 'edgeguard.train' not in sys.modules, 'attacks imported train'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
