"""The stickers each configuration faces, optimised once and cached in the output folder.

Per configuration (issue 12):

* ``none`` — the clean sign;
* ``naive`` — RP2 against the bare ``signs`` model (the attacker ignores the defense; one sticker for
  every configuration, as a sticker printed once faces every car);
* ``adaptive`` — RP2 through that configuration's deployed defenses (``eval.sticker.run``: BPDA /
  straight-through / EOT via ``eval.attackable``; detector-aware — penalised above the detector's τ —
  where there is a squeeze detector; mask-aware — the mean over the frame and its one-masked copies —
  for certified masking). Escalation (DIP on flagged frames) is not differentiated through: the
  detector-aware sticker aims to never be flagged, so it is the demo engine's own adaptive sticker;
* ``query`` — ``rp2-query`` on the deployed pipeline itself (forward calls only: the honest attack on
  voting, thresholds, the detector and DIP).

A sticker is written to ``OUT/stickers/<config>-<kind>-<hash>.png`` (RGBA at the face resolution, as
``edgeguard attack rp2`` writes it) with its ``.json``; the hash covers what the optimisation depends on
(the attacked configuration, budget, mask, target, seed), so a rerun with the same options resumes from
them and a changed option optimises again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..outputs import OutputGroup
from .stop_configs import StopConfig, deploy, eval_config

KINDS = ("none", "naive", "adaptive", "query")
NAIVE_MODEL = "signs"
MEASURE_VIEWS = 50  # the attack's own check over fresh EOT views (the scenario measures on its frames)
QUICK_MEASURE_VIEWS = 16


@dataclass(frozen=True)
class Budget:
    """Optimisation effort. ``naive_*``: the one shared naive sticker (optimised once, so it gets more);
    ``mask_*``: the masking-aware gradient attack (each view costs the frame and its M one-masked
    copies, 37 model runs at patch 0.25); ``slow_queries``/``slow_views``: query searches through
    masking (a disagreeing first round adds up to M² two-mask runs per view) or an escalation stage
    (DIP on every flagged view)."""

    steps: int
    eot: int
    naive_steps: int
    naive_eot: int
    mask_steps: int
    mask_eot: int
    queries: int
    views: int
    slow_queries: int
    slow_views: int


# FULL's adaptive budget is the shipped sticker's (`make sticker`: 150 steps x 8 views), so the
# bits+median adaptive sticker is edgeguard/models/stickers/stop-bars.png itself
FULL = Budget(
    150,
    8,
    naive_steps=300,
    naive_eot=8,
    mask_steps=40,
    mask_eot=4,
    queries=400,
    views=24,
    slow_queries=60,
    slow_views=8,
)
QUICK = Budget(
    60,
    6,
    naive_steps=150,
    naive_eot=8,
    mask_steps=8,
    mask_eot=2,
    queries=200,
    views=16,
    slow_queries=10,
    slow_views=4,
)
SHIPPED = Path(__file__).resolve().parent.parent / "models" / "stickers" / "stop-bars.png"


@dataclass
class Sticker:
    """A sticker as RGBA (``(h, w, 4)`` uint8, alpha 255 on the sticker) and how it was made."""

    kind: str
    rgba: np.ndarray | None
    meta: dict[str, Any]
    path: Path | None = None  # the PNG (with its .json beside it), as `edgeguard attack rp2` writes them

    def on_face(self, face: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """``face`` (RGB uint8, any size) wearing the sticker (resized nearest to the face)."""
        if self.rgba is None:
            return face.copy()
        h, w = face.shape[:2]
        rgba = cv2.resize(self.rgba, (w, h), interpolation=cv2.INTER_NEAREST)
        on = (rgba[..., 3:] > 127) & (alpha[..., None] > 127)
        return np.where(on, rgba[..., :3], face).astype(np.uint8)


def _hash(d: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _load(png: Path, meta_path: Path) -> Sticker | None:
    if not (png.is_file() and meta_path.is_file()):
        return None
    bgra = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return Sticker(str(meta.get("kind", "")), cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA), meta)


def _save(folder: Path, stem: str, sticker: Sticker) -> None:
    png, meta_path = folder / f"{stem}.png", folder / f"{stem}.json"
    with OutputGroup([png, meta_path], what="scenario sticker cache", make_parents=True) as group:
        cv2.imwrite(str(group.temp(png)), cv2.cvtColor(sticker.rgba, cv2.COLOR_RGBA2BGRA))
        group.write_text(meta_path, json.dumps(sticker.meta, indent=1, default=str) + "\n")


def acquire(
    kind: str,
    config: StopConfig,
    *,
    folder: Path,
    workdir: Path,
    budget: Budget,
    quick: bool,
    mask: str = "bars",
    target: str | None = None,
    seed: int = 0,
    log: Any = None,
) -> Sticker:
    """The ``kind`` sticker for ``config`` (from the cache in ``folder`` when it is there)."""
    if kind == "none":
        return Sticker("none", None, {"kind": "none"})
    if kind == "naive":
        attacked: StopConfig = StopConfig(NAIVE_MODEL)
        gradient = True
    else:
        attacked, gradient = config, kind == "adaptive"
    masking = attacked.masking is not None
    if gradient:
        # the bare model's adaptive sticker is the naive one (same attacked model, same budget, cached)
        bare = not (attacked.defenses or attacked.stages or attacked.detector or masking or attacked.weights)
        naive_budget = kind == "naive" or (bare and attacked.model == NAIVE_MODEL)
        steps, eot = (budget.naive_steps, budget.naive_eot) if naive_budget else (budget.steps, budget.eot)
        effort = {
            "steps": budget.mask_steps if masking else steps,
            "eot": budget.mask_eot if masking else eot,
        }
        what = {k: v for k, v in attacked.to_dict(quick).items() if k not in ("name", "summary", "escalate")}
    else:
        slow = masking or attacked.escalation(quick) is not None
        effort = {
            "queries": budget.slow_queries if slow else budget.queries,
            "views": budget.slow_views if slow else budget.views,
        }
        what = {k: v for k, v in attacked.to_dict(quick).items() if k not in ("name", "summary")}
    key = {"how": "rp2" if gradient else "rp2-query", "config": what, **effort, "mask": mask}
    key.update({"target": target, "seed": seed})
    digest = _hash(key)
    stem = f"{'signs' if kind == 'naive' else config.name}-{kind}-{digest}".replace("+", "_")
    cached = None
    for png in sorted(folder.glob(f"*-{digest}.png")) if folder.is_dir() else ():  # same optimisation
        if cached is None and (cached := _load(png, png.with_suffix(".json"))) is not None:
            cached.path = png
    if cached is not None:
        if log:
            log(f"sticker {kind} for {config.name}: cached {cached.meta.get('file')}")
        return Sticker(kind, cached.rgba, {**cached.meta, "kind": kind}, cached.path)
    if log:
        how = ", ".join(f"{k}={v}" for k, v in effort.items())
        log(f"sticker {kind} for {config.name}: optimising ({how})")
    sticker = _shipped(attacked, effort, mask, target, seed) if gradient else None
    if sticker is None and gradient:
        sticker = _gradient(attacked, workdir, effort, mask, target, seed, quick)
    if sticker is None:
        sticker = _query(attacked, workdir, effort, mask, target, seed, quick)
    sticker.kind = kind
    sticker.meta.update({"kind": kind, "key": key, "file": f"{stem}.png"})
    _save(folder, stem, sticker)
    sticker.path = folder / f"{stem}.png"
    return sticker


def _shipped(
    config: StopConfig, effort: dict[str, int], mask: str, target: str | None, seed: int
) -> Sticker | None:
    """The shipped sticker (``make sticker``) when it is exactly this optimisation, else ``None``."""
    from .. import defenses

    meta_path = SHIPPED.with_suffix(".json")
    if not meta_path.is_file() or config.masking is not None or config.detector or config.stages:
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    want = {"model": config.model, "defenses": [defenses.REGISTRY.canonical(d) for d in config.defenses]}
    spec = f"rp2:mask={mask},steps={effort['steps']},eot={effort['eot']},"
    same = {k: meta["config"].get(k) for k in want} == want and not meta["config"].get("stages")
    if not (
        same and str(meta.get("attack", "")).startswith(spec) and target is None and meta.get("seed") == seed
    ):
        return None
    loaded = _load(SHIPPED, meta_path)
    if loaded is not None:
        loaded.path = SHIPPED
        loaded.meta["source"] = f"shipped: edgeguard/models/stickers/{SHIPPED.name}"
    return loaded


def _gradient(
    config: StopConfig, workdir: Path, effort: dict[str, int], mask: str, target: str | None, seed: int,
    quick: bool,
) -> Sticker:  # fmt: skip
    from ..eval.sticker import run

    made = run(
        eval_config(config, workdir),
        target=target,
        mask=mask,
        steps=effort["steps"],
        eot=effort["eot"],
        views=QUICK_MEASURE_VIEWS if quick else MEASURE_VIEWS,
        seed=seed,
        workdir=str(workdir),
    )
    return Sticker("", made.rgba, dict(made.meta))


def _query(
    config: StopConfig, workdir: Path, effort: dict[str, int], mask: str, target: str | None, seed: int,
    quick: bool,
) -> Sticker:  # fmt: skip
    from ..eval.sticker import FACE_SCALE, query_on

    views = QUICK_MEASURE_VIEWS if quick else MEASURE_VIEWS
    pipe = deploy(config, workdir, quick=quick, certify=False)
    with pipe:
        found, measured, spec = query_on(
            pipe,
            target=target,
            mask=mask,
            queries=effort["queries"],
            views=effort["views"],
            measure_views=views,
            seed=seed,
        )
    m = (found.mask[0, 0] > 0).numpy()
    colour = (found.colour[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    rgba = np.concatenate([colour, (m * 255).astype(np.uint8)[..., None]], 2)
    rgba[~m, :3] = 0
    meta = {
        "attack": spec,
        "config": config.to_dict(quick),
        "face_px": FACE_SCALE * int(pipe.size[0]),
        "mask": {"spec": mask, "rects_xyxy_face_fraction": [list(r) for r in found.rects]},
        "measured": {**measured, "views": views, "on": "the deployed pipeline (onnxruntime)"},
    }
    return Sticker("", rgba, meta)


def budget_dict(budget: Budget) -> dict[str, int]:
    return asdict(budget)


__all__ = ["FULL", "KINDS", "QUICK", "Budget", "Sticker", "acquire", "budget_dict"]
