"""Records: the Wilson interval against a hand-worked value and scipy, schema validation, round trip."""

from __future__ import annotations

import json
import math

import pytest
from scipy.stats import binomtest

from edgeguard.errors import ConfigError
from edgeguard.eval import records


def _record(**kw):
    rec = {
        "config": "c",
        "attack": "pgd:steps=7",
        "eps": 8 / 255,
        "norm": "linf",
        "mode": "naive",
        "n": 10,
        "clean_accuracy": 0.9,
        "robust_accuracy": 0.5,
        "robust_ci": list(records.wilson(5, 10)),
        "clean_ci": list(records.wilson(9, 10)),
        "norm_l2": 0.01,
        "norm_linf": 0.03,
        "l2": 0.4,
        "latency_ms": 1.2,
        "detection_rate": None,
        "seconds": 0.5,
        "seed": 0,
        "eot": 1,
        "kind": "white-box",
        "white_box": True,
    }
    rec.update(kw)
    return rec


def test_wilson_hand_worked() -> None:
    # k=8, n=10, z=1.96: centre (0.8 + 0.19208)/1.38416 = 0.716803, half 1.96*sqrt(0.016+0.00096040)/1.38416
    lo, hi = records.wilson(8, 10, z=1.96)
    assert lo == pytest.approx(0.490162, abs=1e-5) and hi == pytest.approx(0.943318, abs=1e-5)
    assert records.wilson(0, 50)[0] == 0.0 and records.wilson(50, 50)[1] == 1.0
    assert records.wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        records.wilson(3, 2)


@pytest.mark.parametrize(("k", "n"), [(0, 20), (1, 7), (37, 100), (250, 500), (499, 500)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = records.wilson(k, n)
    assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)


def test_accuracy_mean_and_interval() -> None:
    acc, ci = records.accuracy([True, False, True, True])
    assert acc == 0.75 and ci == list(records.wilson(3, 4))


def test_record_validation_names_the_problem() -> None:
    assert records.validate_record(_record())["mode"] == "naive"
    with pytest.raises(ConfigError, match="missing key 'robust_ci'"):
        rec = _record()
        del rec["robust_ci"]
        records.validate_record(rec)
    with pytest.raises(ConfigError, match="mode 'best'"):
        records.validate_record(_record(mode="best"))
    with pytest.raises(ConfigError, match="robust_accuracy"):
        records.validate_record(_record(robust_accuracy=1.5))
    with pytest.raises(ConfigError, match="n = 'ten'"):
        records.validate_record(_record(n="ten"))
    with pytest.raises(ConfigError, match="robust_ci"):
        records.validate_record(_record(robust_ci=[0.6, 0.4]))


def test_results_round_trip(tmp_path) -> None:
    data = records.results(
        command=["edgeguard", "eval"],
        data={"spec": "signs", "n": 10, "sha256": "0" * 64},
        seed=0,
        configs=[{"name": "c"}],
        records=[_record(), _record(mode="worst", clean_accuracy=float("nan"))],
        versions={"edgeguard": "x"},
    )
    p = records.write_results(tmp_path / "results.json", data)
    raw = json.loads(p.read_text())
    assert raw["format"] == "edgeguard-eval" and raw["version"] == 1
    assert raw["records"][1]["clean_accuracy"] is None  # JSON has no NaN
    back = records.read_results(p)
    assert back["records"][0] == _record() and math.isnan(back["records"][1]["clean_accuracy"])
    assert not list(tmp_path.glob(".eg-*"))


def test_read_refuses_bad_files(tmp_path) -> None:
    p = tmp_path / "r.json"
    p.write_text("{")
    with pytest.raises(ConfigError, match="cannot be read"):
        records.read_results(p)
    p.write_text(json.dumps({"format": "edgeguard-eval", "version": 9}))
    with pytest.raises(ConfigError, match="version 9"):
        records.read_results(p)
    good = records.results(
        command=[], data={}, seed=0, configs=[{"name": "c"}], records=[_record()], versions={}
    )
    good["records"][0]["config"] = "other"
    p.write_text(json.dumps(good))
    with pytest.raises(ConfigError, match="not in configs"):
        records.read_results(p)
