"""The cells of an evaluation: the grid's own, then the few cheap ones the sanity checks need.

Carlini et al. 2019 (*On Evaluating Adversarial Robustness*; checked in :mod:`.sanity`) ask that
accuracy reach ~0 as ε grows, that twice the steps never help the defender, that iterative attacks
beat single-step ones and that attacks beat random noise of equal norm. Per configuration the plan
adds a large-ε cell and a doubled-steps cell, and a random-noise baseline per ε.
"""

from __future__ import annotations

from ..errors import ConfigError
from .grid import Grid
from .plan import AttackPlan, Cell, plan_attack

LARGE_EPS = {"linf": 0.5, "l2": 20.0}  # far beyond any perceptibility bound: accuracy must reach ~0
EXTRA_N = 100  # examples in the cells added for the sanity checks
CHEAP = ("pgd", "bim", "pgd-l2")  # iterative attacks the sanity cells may reuse (AutoAttack is not cheap)


def plan_cells(grid: Grid, *, sanity_cells: bool = True) -> list[Cell]:
    """The grid's cells, then the extra cells the sanity checks need (see the module docstring).

    Cheap attacks serve the checks where the grid has them (PGD, BIM); when the grid has only costly
    ones (AutoAttack), a PGD-10 / PGD-20 pair and an FGSM cell at the largest L∞ ε are added, on at
    most :data:`EXTRA_N` examples.
    """
    from .robustness import noise_plan

    cells = grid.cells()
    if not sanity_cells:
        return cells
    bounded = [a for a in grid.attacks if not a.minimal and a.eps and a.kind == "white-box"]
    cheap = [a for a in bounded if a.name in CHEAP]
    extra: list[Cell] = []
    specs = {a.spec for a in grid.attacks}
    n = min(grid.n, EXTRA_N)
    linf = sorted({e for a in bounded if a.norm == "linf" for e in a.eps})
    added: list[tuple[AttackPlan, str]] = []
    if not cheap and linf:  # only costly attacks in the grid: a cheap iterative pair and a single step
        single = any(a.name == "fgsm" or dict(a.params).get("steps") == 1 for a in bounded)
        for spec in ("pgd:steps=10", "pgd:steps=20", *(() if single else ("fgsm",))):
            plan = plan_attack(spec, (linf[-1],), n=n, seed=grid.seed, eot=grid.eot)
            added.append((plan, "single-step" if spec == "fgsm" else "doubled-steps"))
    elif cheap:
        doubled = next(((a, d) for a in cheap if (d := _doubled(a)) is not None), None)
        if doubled is not None and doubled[1].spec not in specs:
            added.append((doubled[1], "doubled-steps"))
    for cfg in grid.configs:
        big = (cheap or [p for p, _ in added if p.name == "pgd"][-1:] or bounded or [None])[0]
        if big is not None and big.norm in LARGE_EPS:
            extra.append(Cell(cfg, big, LARGE_EPS[big.norm], min(big.n, n), big.seed, big.eot, "large-eps"))
        for plan, why in added:
            extra.append(Cell(cfg, plan, max(plan.eps), plan.n, plan.seed, plan.eot, why))
        for norm in sorted({a.norm for a in bounded if a.norm in LARGE_EPS}):
            eps = sorted({e for a in bounded if a.norm == norm for e in a.eps})
            plan = noise_plan(norm, grid.n, grid.seed)
            extra += [Cell(cfg, plan, e, grid.n, grid.seed, 1, "random-noise") for e in eps]
    return cells + extra


def _doubled(plan: AttackPlan) -> AttackPlan | None:
    from ..registry import ATTACKS

    params = dict(plan.params)
    entry = ATTACKS.get(plan.name)
    default = next((p.default for p in entry.params if p.name == "steps"), None)
    steps = params.get("steps", default)
    if not isinstance(steps, int) or isinstance(steps, bool):
        return None
    params["steps"] = 2 * steps
    from ..spec import format_spec

    spec = format_spec(plan.name, dict(sorted(params.items())))
    try:
        return plan_attack(spec, plan.eps, n=plan.n, seed=plan.seed, eot=plan.eot)
    except ConfigError:
        return None


__all__ = ["CHEAP", "EXTRA_N", "LARGE_EPS", "plan_cells"]
