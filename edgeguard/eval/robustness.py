"""One evaluation cell: a configuration × an attack × one ε → a naive and an adaptive record.

* **naive** (what the seeds measured): the attack sees the bare model (normalisation included, no
  defense); its ``x_adv`` is then scored through the deployed pipeline.
* **adaptive** (Athalye, Carlini & Wagner ICML'18; Tramèr et al. NeurIPS'20): the attack sees the
  whole pipeline: ``attackable.full`` (straight-through rounding, BPDA host stages) averaged over
  ``eot`` random draws for random configurations (Expectation over Transformation), ``attackable.joint``
  for attacks that also push the detector score down (``needs_score``), the deployed pipeline itself
  (an :class:`~edgeguard.eval.oracle.Oracle`) for query-only attacks.

Every ``x_adv`` is scored on the deployed pipeline (onnxruntime, host stages as they run on the
device), never on the torch copy, so a copy that differs from the engine cannot flatter the numbers.
Per-example correctness is kept (the worst case over attacks and ``--resume`` need it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..attacks import perturbation
from .plan import AttackPlan, Cell
from .records import accuracy, validate_record

SCORE_BATCH = 256
ATTACK_BATCH = 250
# The random-noise baseline of Carlini et al. 2019's checklist ("white-box ≤ black-box ≤ random noise
# of equal norm"). No library ships a fixed-budget noise attack (foolbox's and the registry's noise
# attacks search for the smallest noise), and it is two lines, so it lives here, unregistered.
NOISE = "random-noise"


def random_noise(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """``x`` plus random noise of size ε: uniform signs ±ε (L∞), or a random direction of length ε (L2)."""
    if norm == "l2":
        d = torch.randn(x.shape, generator=generator)
        d = d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    else:
        d = torch.randint(0, 2, x.shape, generator=generator).to(x.dtype) * 2 - 1
    return (x + eps * d).clamp(0, 1)


def noise_plan(norm: str, n: int, seed: int) -> AttackPlan:
    """The plan of a random-noise baseline cell (added by the runner, never by the user)."""
    return AttackPlan(
        spec=f"{NOISE}:norm={norm}",
        name=NOISE,
        params=(),
        eps=(),
        n=n,
        seed=seed,
        eot=1,
        norm=norm,
        kind="random",
    )


@dataclass
class Target:
    """One configuration, ready to attack: its deployed pipeline and its torch copies.

    ``clean`` is per-example correctness of the deployed pipeline on the evaluation data;
    ``latency_ms`` its end-to-end time per image while scoring.
    """

    name: str
    pipeline: Any
    attackable: Any
    clean: list[bool]
    latency_ms: float | None = None
    detector: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Scored:
    """The deployed pipeline's verdict on a batch."""

    correct: list[bool]
    flagged: list[bool] | None
    ms_per_image: float
    scores: list[float] | None = None  # the detector's adversarial score per image


def score(pipeline: Any, x: torch.Tensor, y: torch.Tensor) -> Scored:
    """Run ``x`` through the deployed pipeline; top-1 against ``y``, detector flags when it has one."""
    preds, flags, scores, total_ms = [], [], [], 0.0
    arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
    for i in range(0, len(arr), SCORE_BATCH):
        t = time.perf_counter()
        results = pipeline.run_batch(arr[i : i + SCORE_BATCH])
        total_ms += (time.perf_counter() - t) * 1e3
        for r in results:
            preds.append(int(r.decision["top"][0]["index"]))
            flags.append(r.decision.get("flagged"))
            scores.append(r.decision.get("adv_score"))
    correct = [p == int(t) for p, t in zip(preds, y.tolist())]
    has_flag = bool(flags) and all(f is not None for f in flags) and all(v is not None for v in scores)
    return Scored(
        correct,
        [bool(f) for f in flags] if has_flag else None,
        total_ms / max(len(arr), 1),
        [float(v) for v in scores] if has_flag else None,
    )


class EOT(nn.Module):
    """Mean logits over ``draws`` forwards of a random module (each forward draws a fresh sample).

    Averaging the logits over draws before the loss is the Expectation over Transformation estimate
    Athalye et al. (ICML'18) use for randomised defenses; a module returning ``(logits, score)``
    (``attackable.joint``) is averaged element-wise.
    """

    def __init__(self, module: nn.Module, draws: int) -> None:
        super().__init__()
        self.module, self.draws = module, int(draws)

    def forward(self, x: torch.Tensor) -> Any:
        outs = [self.module(x) for _ in range(self.draws)]
        if isinstance(outs[0], tuple):
            return tuple(torch.stack(parts).mean(0) for parts in zip(*outs))
        return torch.stack(outs).mean(0)


class ZeroScore(nn.Module):
    """``(logits, 0)``: a detector-aware attack in naive mode ignores the detector (and the defense)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x)
        return logits, torch.zeros(len(x), dtype=logits.dtype, device=logits.device)


def _own_eot(plan: AttackPlan) -> str | None:
    """The attack's own EOT parameter, when it has one (it then averages its gradients itself)."""
    from ..registry import ATTACKS

    names = {p.name for p in ATTACKS.get(plan.name).params}
    return next((k for k in ("eot_iter", "eot") if k in names), None)


def build_attack(
    plan: AttackPlan, eps: float | None, *, random: bool, eot: int, tau: float | None = None
) -> tuple[Any, bool]:
    """The attack for one mode; ``(attack, wraps)``: whether the model must be wrapped in :class:`EOT`.

    For a random configuration an attack with its own EOT parameter gets ``eot`` draws, AutoAttack
    gets its ``rand`` version (APGD-CE/-DLR with EOT, Croce & Hein ICML'20), others get an EOT model.
    A detector-aware attack (``needs_score``) that was not given ``tau`` gets the deployed detector's
    threshold ``tau``: He et al.'s adaptive attack must know the τ it has to stay under.
    """
    from ..registry import ATTACKS

    params = dict(plan.params)
    if eps is not None:
        params["eps"] = eps
    takes_tau = "tau" in {p.name for p in ATTACKS.get(plan.name).params}
    if plan.needs_score and tau is not None and "tau" not in params and takes_tau:
        params["tau"] = tau
    if not random or eot <= 1:
        return ATTACKS.create(plan.name, **params), False
    names = {p.name for p in ATTACKS.get(plan.name).params}
    if "version" in names and plan.name.startswith("autoattack") and "version" not in params:
        params["version"] = "rand"
    own = _own_eot(plan)
    if own and own not in params:
        params[own] = eot
    return ATTACKS.create(plan.name, **params), own is None and params.get("version") != "rand"


def _attack_model(target: Target, plan: AttackPlan, mode: str, wraps: bool, eot: int) -> nn.Module | None:
    """What the attack sees in ``mode`` (``None``: no such model, e.g. no white-box copy)."""
    atk = target.attackable
    if mode == "naive":
        if atk.bare is None:
            return None
        return ZeroScore(atk.bare) if plan.needs_score else atk.bare
    if plan.kind == "query":
        from .oracle import Oracle

        return Oracle(target.pipeline, score=plan.needs_score).eval()
    model = atk.joint if plan.needs_score else atk.full
    if model is None or not atk.white_box:
        return None
    return EOT(model, eot) if wraps and atk.random else model


def _run_attack(
    attack: Any, model: nn.Module, plan: AttackPlan, x: torch.Tensor, y: torch.Tensor, fit: tuple, seed: int
) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if plan.kind == "universal":
        attack.fit(model, fit[0], fit[1], generator=g)
    out = [
        attack(model, x[i : i + ATTACK_BATCH], y[i : i + ATTACK_BATCH], g)
        for i in range(0, len(x), ATTACK_BATCH)
    ]
    return torch.cat(out) if out else x.clone()


def run_cell(
    cell: Cell,
    target: Target,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    fit: tuple[torch.Tensor, torch.Tensor] | None = None,
    modes: Sequence[str] = ("naive", "adaptive"),
) -> dict[str, Any]:
    """Attack one cell in each mode and score the results on the deployed pipeline.

    Args:
        cell: configuration × attack × ε with n, seed and EOT draws.
        target: the prepared configuration.
        x, y: evaluation data (the first ``cell.n`` examples are used).
        fit: fitting set for universal attacks (disjoint from ``x``).

    Returns:
        ``{"key", "records": [...], "examples": {mode: {"correct": [...], "flagged": [...]}},
        "skipped": {mode: why}}``; records follow :mod:`edgeguard.eval.records`.
    """
    torch.set_grad_enabled(True)
    plan, n = cell.attack, min(cell.n, len(y))
    x, y = x[:n], y[:n]
    clean = target.clean[:n]
    out: dict[str, Any] = {"key": cell.key, "records": [], "examples": {}, "skipped": {}}
    fit_xy = fit if fit is not None else (x, y)
    noise = None
    for mode in modes:
        if plan.name == NOISE:  # the same draws scored once, recorded for both modes
            if noise is None:
                t = time.perf_counter()
                x_adv = random_noise(
                    x, float(cell.eps or 0.0), plan.norm, torch.Generator().manual_seed(cell.seed)
                )
                noise = (x_adv, score(target.pipeline, x_adv, y), time.perf_counter() - t)
            x_adv, scored, seconds = noise
            out["records"].append(_record(cell, target, mode, x, x_adv, scored, seconds, 1, clean))
            out["examples"][mode] = {
                "correct": scored.correct,
                "flagged": scored.flagged,
                "scores": scored.scores,
            }
            continue
        random = mode == "adaptive" and bool(target.attackable.random)
        draws = cell.eot if random else 1
        det = target.pipeline.manifest.detector
        tau = float(det.threshold) if det is not None else None
        attack, wraps = build_attack(plan, cell.eps, random=random, eot=draws, tau=tau)
        model = _attack_model(target, plan, mode, wraps, draws)
        if model is None:
            out["skipped"][mode] = "no white-box copy of this pipeline (query attacks only)"
            continue
        t = time.perf_counter()
        x_adv = _run_attack(attack, model, plan, x, y, fit_xy, cell.seed)
        scored = score(target.pipeline, x_adv, y)
        seconds = time.perf_counter() - t
        out["records"].append(_record(cell, target, mode, x, x_adv, scored, seconds, draws, clean))
        out["examples"][mode] = {
            "correct": scored.correct,
            "flagged": scored.flagged,
            "scores": scored.scores,
        }
    return out


def _record(
    cell: Cell,
    target: Target,
    mode: str,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    scored: Scored,
    seconds: float,
    draws: int,
    clean: list[bool],
) -> dict[str, Any]:
    plan, n = cell.attack, len(x)
    clean_acc, clean_ci = accuracy(clean)
    size = perturbation(x, x_adv).means() if n else {}
    robust, robust_ci = accuracy(scored.correct)
    rec = {
        "config": target.name,
        "attack": plan.spec,
        "eps": cell.eps,
        "norm": plan.norm,
        "mode": mode,
        "n": n,
        "clean_accuracy": clean_acc,
        "robust_accuracy": robust,
        "robust_ci": robust_ci,
        "clean_ci": clean_ci,
        "norm_l2": size.get("norm_l2"),
        "norm_linf": size.get("linf"),
        "l2": size.get("l2"),
        "latency_ms": target.latency_ms,
        "detection_rate": float(np.mean(scored.flagged)) if scored.flagged and n else None,
        "seconds": round(seconds, 3),
        "seed": cell.seed,
        "eot": draws,
        "kind": plan.kind,
        "white_box": plan.kind in ("white-box", "universal"),
        "minimal": plan.minimal,
        "extra": cell.extra,
    }
    return validate_record(rec, f"cell {cell.key}")


__all__ = ["EOT", "Scored", "Target", "ZeroScore", "build_attack", "run_cell", "score"]
