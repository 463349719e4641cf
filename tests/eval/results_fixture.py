"""A realistic ``results.json`` dict (issue #11's shape) for the report and plot tests.

Three configurations: the bare sign model, the demo's ``bits:5 → median:3x3`` with a squeeze detector
(naive looks robust, adaptive does not — the case the report must warn about), and a user ONNX file
with a host stage that could not be converted (``white_box`` false, query attacks only). Accuracies are
``k / n`` with Wilson intervals from scipy (the oracle ``records.wilson`` must agree with).
"""

from __future__ import annotations

import copy
from typing import Any

from scipy.stats import binomtest

EPS = [2 / 255, 4 / 255, 8 / 255, 16 / 255]


def wilson(k: int, n: int) -> list[float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(ci.low), float(ci.high)]


def _record(config, attack, eps, norm, mode, n, clean_k, k, *, kind="white-box", white_box=True, det=None):
    return {
        "config": config,
        "attack": attack,
        "eps": eps,
        "norm": norm,
        "mode": mode,
        "n": n,
        "clean_accuracy": clean_k / n,
        "clean_ci": wilson(clean_k, n),
        "robust_accuracy": k / n,
        "robust_ci": wilson(k, n),
        "norm_l2": None if eps is None else round(0.9 * eps * 3.1 + 0.0007 * k / n, 6),
        "norm_linf": None if eps is None else round(eps * (0.999 if mode == "adaptive" else 0.998), 6),
        "l2": None if eps is None else round(eps * 55.4 + 0.013, 6),
        "latency_ms": 0.82,
        "detection_rate": det,
        "seconds": 12.5 + k / 10,
        "seed": 0,
        "eot": 1,
        "kind": kind,
        "white_box": white_box,
        "minimal": eps is None,
        "extra": "",
    }


def _minimal(config, mode, n, clean_k):
    r = _record(config, "deepfool:steps=50", None, "l2", mode, n, clean_k, 0)
    r.update(norm_l2=0.0213 if mode == "naive" else 0.0119, norm_linf=0.0491, l2=1.377)
    return r


# robust correct counts out of N per ε (2, 4, 8, 16 /255) for PGD-20: (naive, adaptive)
N = 500
PGD = {
    "signs": ([402, 310, 141, 12], [402, 310, 141, 12]),
    "demo": ([455, 401, 275, 90], [380, 220, 50, 3]),
    "user-tvm": ([440, 390, 300, 150], [430, 360, 240, 95]),
}
FGSM = {
    "signs": ([410, 333, 190, 44], [410, 333, 190, 44]),
    "demo": ([460, 420, 310, 150], [400, 260, 95, 20]),
}
CLEAN = {"signs": 489, "demo": 481, "user-tvm": 470}


def results() -> dict[str, Any]:
    """A fresh copy of the fixture results."""
    return copy.deepcopy(_RESULTS)


def _build() -> dict[str, Any]:
    records = []
    for cfg, (naive, adaptive) in PGD.items():
        wb = cfg != "user-tvm"
        for mode, ks in (("naive", naive), ("adaptive", adaptive)):
            for e, k in zip(EPS, ks):
                kind = "white-box" if wb else "query"  # no torch copy of user-tvm: query attacks only
                det = None
                if cfg == "demo":
                    det = round((N - k) / N * (0.83 if mode == "naive" else 0.21), 4)
                attack = "pgd:steps=20" if kind == "white-box" else "square:queries=1000"
                records.append(
                    _record(cfg, attack, e, "linf", mode, N, CLEAN[cfg], k, kind=kind, white_box=wb, det=det)
                )
    for cfg, (naive, adaptive) in FGSM.items():
        for mode, ks in (("naive", naive), ("adaptive", adaptive)):
            # FGSM at n = 100 (a per-attack override), 16/255 not run: a missing cell
            for e, k in zip(EPS[:3], ks[:3]):
                records.append(_record(cfg, "fgsm", e, "linf", mode, 100, CLEAN[cfg] // 5, k // 5))
    for cfg in ("signs", "demo"):
        for mode in ("naive", "adaptive"):
            records.append(_minimal(cfg, mode, N, CLEAN[cfg]))
    for cfg in PGD:
        for e, k in zip(EPS, PGD[cfg][1]):
            worst = min([k, *(FGSM[cfg][1][i] for i in range(3) if EPS[i] == e)]) if cfg in FGSM else k
            r = _record(cfg, "worst-case", e, "linf", "worst", N, CLEAN[cfg], max(0, worst - 7))
            r["attacks"] = sorted(
                {f"{x['attack']} ({x['mode']})" for x in records if x["config"] == cfg and x["eps"] == e}
            )
            records.append(r)
    # the cells the runner adds for the sanity checks (records.extra says why); a large-ε cell whose
    # naive/adaptive gap must not trigger the warning, and a doubled-steps cell
    for cfg in ("signs", "demo"):
        for mode, k in (("naive", 30), ("adaptive", 0)):
            r = _record(cfg, "pgd:steps=20", 0.5, "linf", mode, 100, CLEAN[cfg] // 5, k)
            r["extra"] = "large-eps"
            records.append(r)
    for mode, k in (("naive", 88), ("adaptive", 2)):
        r = _record("demo", "pgd:steps=40", EPS[3], "linf", mode, N, CLEAN["demo"], k)
        r["extra"] = "doubled-steps"
        records.append(r)
    configs = [
        {
            "name": "signs",
            "model": "signs",
            "defenses": [],
            "stages": [],
            "detector": None,
            "clean_accuracy": CLEAN["signs"] / N,
            "clean_ci": wilson(CLEAN["signs"], N),
            "latency_ms": {
                "preprocess": {"p50": 0.031, "p95": 0.047},
                "engine": {"p50": 0.412, "p95": 0.533},
                "decision": {"p50": 0.055, "p95": 0.071},
                "total": {"p50": 0.523, "p95": 0.702},
            },
            "white_box": True,
            "notes": [],
        },
        {
            "name": "demo",
            "model": "signs",
            "defenses": ["bits:5", "median:3x3"],
            "stages": [],
            "detector": {
                "spec": "squeeze:bits=4,median=2x2",
                "tau": 0.4172,
                "fpr": 0.05,
                "auc": 0.8731,
                "clean_flagged": 0.058,
                "roc": {"fpr": [0.0, 0.01, 0.05, 0.2, 0.5, 1.0], "tpr": [0.0, 0.31, 0.62, 0.84, 0.95, 1.0]},
            },
            "clean_accuracy": CLEAN["demo"] / N,
            "clean_ci": wilson(CLEAN["demo"], N),
            "latency_ms": {
                "preprocess": {"p50": 0.033, "p95": 0.051},
                "engine": {"p50": 0.981, "p95": 1.204},
                "decision": {"p50": 0.061, "p95": 0.083},
                "total": {"p50": 1.113, "p95": 1.388},
            },
            "white_box": True,
            "notes": ["bits:5 rounding attacked with a straight-through gradient"],
        },
        {
            "name": "user-tvm",
            "model": "user.onnx",
            "defenses": [],
            "stages": ["tvm:keep=0.5"],
            "detector": None,
            "clean_accuracy": CLEAN["user-tvm"] / N,
            "clean_ci": wilson(CLEAN["user-tvm"], N),
            "latency_ms": {
                "preprocess": {"p50": 0.034, "p95": 0.049},
                "stage:tvm": {"p50": 38.27, "p95": 44.91},
                "engine": {"p50": 0.423, "p95": 0.561},
                "decision": {"p50": 0.057, "p95": 0.074},
                "total": {"p50": 38.86, "p95": 45.63},
            },
            "white_box": False,
            "notes": ["onnx2torch could not convert op 'Loop'"],
        },
    ]
    sanity = [
        {
            "check": "accuracy → 0 as ε grows",
            "config": "signs",
            "attack": "pgd:steps=20",
            "passed": True,
            "detail": "2.4 % at ε = 16/255",
        },
        {
            "check": "adaptive ≤ naive",
            "config": "demo",
            "attack": "pgd:steps=20",
            "passed": True,
            "detail": "",
        },
        {
            "check": "iterative ≤ single-step",
            "config": "user-tvm",
            "attack": "fgsm",
            "passed": False,
            "detail": "pgd 60.0 % > fgsm 57.3 % at 8/255",
        },
    ]
    return {
        "format": "edgeguard-eval",
        "version": 1,
        "created": "2026-11-25T03:40:12Z",
        "command": ["edgeguard", "eval", "--grid", "grid.toml", "--out", "report/"],
        "versions": {
            "edgeguard": "0.1.0",
            "torch": "2.4.1",
            "onnxruntime": "1.19.2",
            "torchattacks": "3.5.1",
        },
        "data": {
            "spec": "signs",
            "n": N,
            "sha256": "9f2c4e6a81d0b37c55e2a6f0c1d94b7e3a8f6d21c0b5e7a9d3f1c2b4a6e8d0f1",
        },
        "seed": 0,
        "configs": configs,
        "records": records,
        "sanity": sanity,
    }


_RESULTS = _build()
