"""The runner on a fake deployed configuration: results validate, resume skips finished cells,
an interrupt keeps them, the worst case is the per-example minimum."""

from __future__ import annotations

import json

import pytest

from edgeguard.eval import records
from edgeguard.eval.cells import plan_cells
from edgeguard.eval.grid import parse_grid
from edgeguard.eval.runner import run_grid, worst_records

from .fake import prepare

GRID = {
    "eval": {"n": 24, "eps": ["4/255", "0.1"], "seed": 1},
    "config": [{"name": "lin", "model": "signs"}],
    "attack": [{"spec": "pgd:steps=2"}, {"spec": "pgd:steps=1,alpha=0.1", "eps": [0.1]}],
}


def test_tiny_grid_end_to_end(tmp_path) -> None:
    grid = parse_grid(GRID)
    seen = []
    res = run_grid(grid, tmp_path, prepare=prepare, progress=False, on_cell=seen.append, command=["t"])
    cells = plan_cells(grid)
    assert len(seen) == len(cells) == 3 + 4  # grid; large-ε, doubled steps, noise at 2 ε
    assert {c.extra for c in cells} == {"", "large-eps", "doubled-steps", "random-noise"}
    p = records.write_results(tmp_path / "results.json", res)
    back = records.read_results(p)
    recs = back["records"]
    grid_recs = [r for r in recs if r["mode"] != "worst" and not r["extra"]]
    assert len(grid_recs) == 3 * 2 and {r["mode"] for r in grid_recs} == {"naive", "adaptive"}
    for r in recs:
        assert r["robust_ci"][0] <= r["robust_accuracy"] <= r["robust_ci"][1]
    big = [r for r in recs if r["extra"] == "large-eps"]
    assert len(big) == 2 and all(r["eps"] == 0.5 and r["attack"] == "pgd:steps=2" for r in big)
    pgd = next(r for r in grid_recs if r["attack"] == "pgd:steps=2" and r["eps"] == 0.1)
    assert pgd["norm_linf"] <= 0.1 + 1e-6 and pgd["robust_accuracy"] < pgd["clean_accuracy"]
    checks = {c["check"]: c for c in back["sanity"]}
    assert checks["large-eps"]["passed"] == (max(r["robust_accuracy"] for r in big) <= 0.1)
    assert checks["adaptive<=naive"]["passed"] and checks["iterative<=single-step"]["passed"]
    assert checks["white-box<=black-box"]["status"] == "not-applicable"
    assert back["configs"][0]["name"] == "lin" and "clean_correct" not in back["configs"][0]


def test_worst_case_is_per_example_min(tmp_path) -> None:
    res = run_grid(parse_grid(GRID), tmp_path, prepare=prepare, progress=False, sanity_cells=False)
    cells = [json.loads(p.read_text()) for p in sorted((tmp_path / "cells").glob("*.json"))]
    worst = {r["eps"]: r for r in res["records"] if r["mode"] == "worst"}
    at = [c for c in cells if c["cell"]["eps"] == 0.1]
    lists = [c["examples"][m]["correct"] for c in at for m in ("naive", "adaptive")]
    expected = sum(all(col) for col in zip(*lists)) / 24
    assert worst[0.1]["robust_accuracy"] == expected and len(worst[0.1]["attacks"]) == 4
    accs = [r["robust_accuracy"] for r in res["records"] if r["eps"] == 0.1 and r["mode"] != "worst"]
    assert expected <= min(accs)
    assert worst_records([], {}) == []


def test_resume_skips_finished_cells_and_interrupt_keeps_them(tmp_path) -> None:
    grid = parse_grid(GRID)
    total = len(plan_cells(grid))
    seen: list = []

    def stop_after_two(res) -> None:
        seen.append(res["key"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, tmp_path, prepare=prepare, progress=False, on_cell=stop_after_two)
    kept = sorted(p.stem for p in (tmp_path / "cells").glob("*.json"))
    assert kept == sorted(seen) and not list((tmp_path / "cells").glob(".eg-*"))
    again: list = []
    res = run_grid(grid, tmp_path, prepare=prepare, progress=False, resume=True, on_cell=again.append)
    assert len(again) == total - 2 and not set(r["key"] for r in again) & set(seen)
    assert len([r for r in res["records"] if r["mode"] != "worst"]) == 2 * total
    rerun: list = []
    run_grid(grid, tmp_path, prepare=prepare, progress=False, resume=True, on_cell=rerun.append)
    assert rerun == []


def test_costly_grid_gets_a_cheap_sanity_pair() -> None:
    grid = parse_grid(
        {
            "eval": {"n": 300, "eps": ["8/255"]},
            "config": [{"name": "c", "model": "signs"}],
            "attack": [{"spec": "autoattack"}],
        }
    )
    extra = {(c.attack.spec, c.extra, c.n, c.eps) for c in plan_cells(grid) if c.extra}
    assert extra == {
        ("pgd:steps=20", "large-eps", 100, 0.5),
        ("pgd:steps=10", "doubled-steps", 100, 8 / 255),
        ("pgd:steps=20", "doubled-steps", 100, 8 / 255),
        ("fgsm", "single-step", 100, 8 / 255),
        ("random-noise:norm=linf", "random-noise", 300, 8 / 255),
    }


def test_measured_detector_from_cell_scores() -> None:
    from edgeguard.eval.detection import auc
    from edgeguard.eval.runner import measured_detector

    clean = [0.1, 0.2, 0.3, 0.4]
    naive, adaptive = [0.35, 0.5, 0.6], [0.05, 0.25, 0.45]  # the adaptive attack hides from the detector
    cells = [
        {"cell": {"extra": ""}, "examples": {"naive": {"scores": naive}, "adaptive": {"scores": adaptive}}},
        {"cell": {"extra": "large-eps"}, "examples": {"adaptive": {"scores": [9.0]}}},  # left out
    ]
    summary = {"detector": {"spec": "squeeze:bits=5", "tau": 0.3, "fpr": 0.05}, "clean_scores": clean}
    det = measured_detector(summary, cells)
    assert det["auc"] == auc(clean, adaptive) and det["auc_naive"] == auc(clean, naive)
    assert det["auc"] < det["auc_naive"] and det["clean_flagged"] == 0.25 and det["tau"] == 0.3
    assert det["roc"]["mode"] == "adaptive" and det["roc"]["fpr"][0] == 0.0 and det["roc"]["tpr"][-1] == 1.0


def test_detector_aware_attack_gets_the_deployed_tau() -> None:
    """pgd-detector must stay under the τ of the engine it attacks (He et al.); an explicit tau wins."""
    from edgeguard.eval.plan import plan_attack
    from edgeguard.eval.robustness import build_attack

    plan = plan_attack("pgd-detector:steps=2", (8 / 255,), n=4, seed=0, eot=1)
    attack, _ = build_attack(plan, 8 / 255, random=False, eot=1, tau=0.354)
    assert attack.tau == pytest.approx(0.354)
    given = plan_attack("pgd-detector:steps=2,tau=0.1", (8 / 255,), n=4, seed=0, eot=1)
    assert build_attack(given, 8 / 255, random=False, eot=1, tau=0.354)[0].tau == pytest.approx(0.1)
    plain = plan_attack("pgd:steps=2", (8 / 255,), n=4, seed=0, eot=1)
    assert (
        build_attack(plain, 8 / 255, random=False, eot=1, tau=0.354)[0]
        == build_attack(plain, 8 / 255, random=False, eot=1)[0]
    )
