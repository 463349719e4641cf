"""Sanity checks over evaluation records: Carlini et al. 2019, *On Evaluating Adversarial Robustness*
(arXiv:1902.06705), §5 checklist.

An evaluation whose numbers break these rules measured the attack, not the defense (gradient masking,
too few steps, a broken loss). Each check is ``passed``, ``failed`` or ``not-applicable`` (the records
it needs are absent) and says why:

* ``large-eps``: accuracy falls to ~0 when ε grows large (an unbounded attack must always succeed);
* ``doubled-steps``: doubling an iterative attack's steps never raises accuracy beyond sampling noise;
* ``iterative<=single-step``: iterative attacks are at least as strong as single-step ones (FGSM);
* ``white-box<=black-box``: gradient attacks beat query-only attacks (else gradients are masked);
* ``black-box<=noise``: any attack beats random noise of equal norm;
* ``adaptive<=naive``: attacking through the defense beats ignoring it.

"Beyond sampling noise": a stronger attack's accuracy may exceed a weaker one's only within the weaker
one's 95 % Wilson interval (records.py); outside it the check fails.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..spec import split_spec

LARGE_EPS_MAX = 0.10  # "~0": at most this accuracy at the large ε (random configurations keep some)
SINGLE_STEP = ("fgsm",)
CITATION = "Carlini et al. 2019, On Evaluating Adversarial Robustness, §5"

Rec = Mapping[str, Any]


def _params(spec: str) -> dict[str, Any]:
    try:
        return split_spec(spec)[2]
    except Exception:
        return {}


def _name(spec: str) -> str:
    return spec.split(":", 1)[0]


def _steps(rec: Rec) -> int | None:
    s = _params(rec["attack"]).get("steps")
    return s if isinstance(s, int) and not isinstance(s, bool) else None


def _single(rec: Rec) -> bool:
    return _name(rec["attack"]) in SINGLE_STEP or _steps(rec) == 1


def _bounded(recs: Iterable[Rec]) -> list[Rec]:
    return [r for r in recs if r["eps"] is not None and not r.get("minimal") and r["mode"] != "worst"]


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _worse(strong: Rec, weak: Rec) -> bool:
    """The stronger attack left more accuracy than the weaker one's Wilson upper bound."""
    return strong["robust_accuracy"] > weak["robust_ci"][1] + 1e-12


def _check(name: str, config: str, attack: str | None, status: str, detail: str) -> dict[str, Any]:
    passed = {"passed": True, "failed": False}.get(status)
    return {
        "check": name,
        "config": config,
        "attack": attack,
        "passed": passed,
        "status": status,
        "detail": detail,
    }


def _compare(
    name: str, config: str, pairs: Sequence[tuple[Rec, Rec]], what: str, missing: str
) -> dict[str, Any]:
    """One row over ``(strong, weak)`` pairs: fails when any strong record is worse than its weak one."""
    if not pairs:
        return _check(name, config, None, "not-applicable", missing)
    bad = [(s, w) for s, w in pairs if _worse(s, w)]
    if not bad:
        return _check(name, config, None, "passed", f"{what} in all {len(pairs)} comparisons")
    s, w = bad[0]
    eps = "" if s["eps"] is None else f" at ε={s['eps']:.4g}"
    detail = (
        f"{len(bad)} of {len(pairs)} comparisons fail; e.g. {s['attack']} ({s['mode']}){eps}: "
        f"{_pct(s['robust_accuracy'])} > {w['attack']} ({w['mode']}): {_pct(w['robust_accuracy'])} "
        f"[{_pct(w['robust_ci'][0])}, {_pct(w['robust_ci'][1])}]"
    )
    return _check(name, config, s["attack"], "failed", detail)


def _weakest_first(recs: Sequence[Rec]) -> Rec:
    return min(recs, key=lambda r: r["robust_accuracy"])


def sanity_checks(records: Sequence[Rec]) -> list[dict[str, Any]]:
    """Run every check for every configuration in ``records``; rows as in ``results.json``'s ``sanity``."""
    by_config: dict[str, list[Rec]] = defaultdict(list)
    for r in records:
        by_config[r["config"]].append(r)
    out: list[dict[str, Any]] = []
    for config, recs in by_config.items():
        out += _config_checks(config, recs)
    return out


def _config_checks(config: str, recs: Sequence[Rec]) -> list[dict[str, Any]]:
    bounded = _bounded(recs)
    rows = [_large_eps(config, bounded)]
    grid = [r for r in bounded if r.get("extra") not in ("large-eps", "random-noise")]
    # doubled steps: the added cell against the same attack with half the steps
    pairs = []
    for d in (r for r in bounded if r.get("extra") == "doubled-steps"):
        base = [
            r
            for r in grid
            if r is not d
            and _name(r["attack"]) == _name(d["attack"])
            and (r["mode"], r["eps"], r["norm"]) == (d["mode"], d["eps"], d["norm"])
            and _steps(r) is not None
            and 2 * (_steps(r) or 0) == _steps(d)
            and {k: v for k, v in _params(r["attack"]).items() if k != "steps"}
            == {k: v for k, v in _params(d["attack"]).items() if k != "steps"}
        ]
        pairs += [(d, b) for b in base]
    rows.append(
        _compare(
            "doubled-steps",
            config,
            pairs,
            "twice the steps never left more accuracy",
            "no doubled-steps cell (an iterative attack with a steps parameter is needed)",
        )
    )
    cells: dict[tuple, list[Rec]] = defaultdict(list)
    for r in grid:
        cells[(r["mode"], r["eps"], r["norm"])].append(r)
    iter_pairs, wb_pairs, noise_pairs = [], [], []
    noise = {(r["mode"], r["eps"], r["norm"]): r for r in bounded if r.get("extra") == "random-noise"}
    for key, group in cells.items():
        white = [r for r in group if r["kind"] == "white-box"]
        single = [r for r in white if _single(r)]
        iterative = [r for r in white if not _single(r)]
        query = [r for r in group if r["kind"] == "query"]
        if single and iterative:
            iter_pairs.append((_weakest_first(iterative), max(single, key=lambda r: r["robust_ci"][1])))
        if white and query:
            wb_pairs.append((_weakest_first(white), _weakest_first(query)))
        if key in noise and (query or white):
            noise_pairs.append((_weakest_first(query or white), noise[key]))
    rows.append(
        _compare(
            "iterative<=single-step",
            config,
            iter_pairs,
            "iterative attacks left no more accuracy than single-step ones",
            "needs a single-step attack (fgsm, or steps=1) and an iterative one at the same ε",
        )
    )
    rows.append(
        _compare(
            "white-box<=black-box",
            config,
            wb_pairs,
            "white-box attacks left no more accuracy than query-only ones",
            "needs a white-box and a query-only (e.g. square) attack at the same ε",
        )
    )
    rows.append(
        _compare(
            "black-box<=noise",
            config,
            noise_pairs,
            "attacks left no more accuracy than random noise of equal norm",
            "no random-noise cell at a grid ε",
        )
    )
    ad: dict[tuple, dict[str, Rec]] = defaultdict(dict)
    for r in bounded:
        if r.get("extra") != "random-noise":
            ad[(r["attack"], r["eps"], r["norm"])][r["mode"]] = r
    ad_pairs = [(m["adaptive"], m["naive"]) for m in ad.values() if "adaptive" in m and "naive" in m]
    rows.append(
        _compare(
            "adaptive<=naive",
            config,
            ad_pairs,
            "attacking through the pipeline left no more accuracy than attacking the bare model",
            "needs the naive and adaptive records of one attack",
        )
    )
    return rows


def _large_eps(config: str, bounded: Sequence[Rec]) -> dict[str, Any]:
    big = [r for r in bounded if r.get("extra") == "large-eps"]
    if not big:
        return _check(
            "large-eps", config, None, "not-applicable", "no large-ε cell (needs a bounded white-box attack)"
        )
    worst = max(big, key=lambda r: r["robust_accuracy"])
    ok = worst["robust_accuracy"] <= LARGE_EPS_MAX
    detail = (
        f"{worst['attack']} ({worst['mode']}) at {worst['norm']} ε={worst['eps']:.4g} leaves "
        f"{_pct(worst['robust_accuracy'])} (must be ≤ {_pct(LARGE_EPS_MAX)})"
    )
    return _check("large-eps", config, worst["attack"], "passed" if ok else "failed", detail)


def failed(checks: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The checks that failed (``--strict`` exits 1 when any did)."""
    return [c for c in checks if c.get("status") == "failed" or c.get("passed") is False]


__all__ = ["CITATION", "LARGE_EPS_MAX", "failed", "sanity_checks"]
