"""``edgeguard scenario surveillance``: seed 004's second threat — a printed patch hides a person from
the person detector — run on every configuration of :mod:`.surveillance_configs`.

For each configuration and each patch condition (``none``; ``random``: a uniform-noise patch of the
same size; ``naive``: the patch fitted on the bare detector; ``adaptive``: fitted through that
configuration's deployed defenses with BPDA / straight-through / EOT and, with a squeeze detector,
its penalty above τ; ``query`` with ``--query N``: the query-only search on the deployed pipeline),
every counted person of the held-out rendered scenes (the ``persons`` test seed) wears the patch on the
torso (:mod:`edgeguard.attacks.patch`) and the frames go through the deployed pipeline (onnxruntime).
Each record has ``recall`` (at the detection decision's conf 0.25), ``ap50``, ``flagged`` (share of
frames with people whose squeeze score exceeds τ; on clean frames this is the false-positive rate),
``caught`` (share of people detected, or in a flagged frame: the system knows), ``latency_ms`` (the
pipeline's median time per frame, batch 1). Patches are cached in ``OUT/patches`` and engines in
``OUT/engines`` (a rerun resumes). Outputs: ``results.json``, ``report.md`` (generated from the same
records), ``examples.png`` (detections drawn per configuration and patch).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..attacks.patch_place import DEFAULT_SCALE, check_scale
from ..errors import ConfigError
from . import surveillance_configs as sc

RESULTS, REPORT, GRID = "results.json", "report.md", "examples.png"
KINDS = ("none", "random", "naive", "adaptive", "query")


@dataclass(frozen=True)
class Options:
    """What to run; ``n`` (held-out scenes), ``fit`` (fitting scenes) and ``steps`` default by ``quick``."""

    out: Path
    quick: bool = False
    configs: tuple[str, ...] = ()
    n: int | None = None
    fit: int | None = None
    steps: int | None = None
    queries: int = 0
    scale: float = DEFAULT_SCALE
    seed: int = 0
    command: list[str] = field(default_factory=list)

    @property
    def scenes(self) -> int:
        return self.n if self.n is not None else (24 if self.quick else 200)

    @property
    def fit_scenes(self) -> int:
        return self.fit if self.fit is not None else (32 if self.quick else 200)

    @property
    def fit_steps(self) -> int:
        return self.steps if self.steps is not None else (40 if self.quick else 300)


def validate(opts: Options) -> tuple[sc.SurvConfig, ...]:
    """Check every option and configuration before anything runs.

    Raises:
        ConfigError: a bad number, an unknown configuration, a classifier, a detector without a
            person class, a patch larger than the person's box.
    """
    from ..eval.person_patch import detector_facts, person_class

    for key, v, lo in (("--n", opts.scenes, 1), ("--fit", opts.fit_scenes, 1), ("--steps", opts.fit_steps, 1),
                       ("--query", opts.queries, 0), ("--seed", opts.seed, 0)):  # fmt: skip
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"scenario surveillance: {key} must be a whole number >= {lo}, got {v!r}")
    check_scale(opts.scale, "scenario surveillance: --scale")
    configs = sc.select(opts.configs)
    for cfg in configs:
        labels, _ = detector_facts(cfg.eval_config())
        person_class(labels, cfg.name)
    return configs


def outputs(out: Path) -> list[Path]:
    return [out / RESULTS, out / REPORT, out / GRID]


def run(opts: Options, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the scenario and write its outputs (all together, at the end)."""
    from ..data.scene_sets import PERSONS_TEST_SEED
    from ..eval.person_patch import PATCH_FIT_SEED, scenes
    from ..outputs import OutputGroup
    from .surveillance_report import report

    say = log or (lambda s: None)
    configs = validate(opts)
    group = OutputGroup(outputs(opts.out), what="--out", make_parents=True)
    started = time.perf_counter()
    say(f"rendering {opts.fit_scenes} fitting and {opts.scenes} held-out scenes")
    state = _State(opts, scenes(opts.fit_scenes, PATCH_FIT_SEED), scenes(opts.scenes, PERSONS_TEST_SEED), say)
    for cfg in configs:
        state.config(cfg)
    results = state.results(configs, time.perf_counter() - started)
    with group:
        group.write_text(opts.out / RESULTS, json.dumps(results, indent=2) + "\n")
        group.write_text(opts.out / REPORT, report(results))
        group.write_bytes(opts.out / GRID, _png(state.grid()))
        group.commit()
    return results


def _png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ConfigError("scenario surveillance: PNG encoding failed")
    return data.tobytes()


class _State:
    def __init__(self, opts: Options, fit_set: Any, test_set: Any, say: Callable[[str], None]) -> None:
        self.opts, self.fit_set, self.test_set, self.say = opts, fit_set, test_set, say
        self.records: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.examples: dict[tuple[str, str], np.ndarray] = {}
        self.patch_dir = opts.out / "patches"
        self.engine_dir = opts.out / "engines"

    # -- patches -----------------------------------------------------------------------------
    def _cached(self, key: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        path = self.patch_dir / f"{key}.npy"
        if path.is_file():
            return torch.from_numpy(np.load(path, allow_pickle=False))
        patch = make()
        self.patch_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part.npy")
        np.save(tmp, patch.numpy().astype(np.float32))
        tmp.replace(path)
        return patch

    def _key(self, kind: str, cfg: sc.SurvConfig | None) -> str:
        import hashlib

        o = self.opts
        ident = [
            kind,
            None if cfg is None else cfg.to_dict(),
            o.scale,
            o.fit_scenes,
            o.fit_steps,
            o.queries,
            o.seed,
        ]
        return f"{kind}-{hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]}"

    def _fit(self, attack: Any, model: Any) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.opts.seed)
        f = self.fit_set
        return attack.optimise(model, f.x, f.boxes, gen, heights=f.heights).patch

    def naive(self) -> torch.Tensor:
        """The patch fitted on the bare ``persons`` detector (shared by every configuration)."""
        from ..attacks.patch import patch as make
        from ..eval.attackable import attackable

        def go() -> torch.Tensor:
            self.say(f"fitting the naive patch ({self.opts.fit_steps} steps on the bare detector)")
            bare = attackable(sc.SurvConfig("bare").eval_config()).bare
            return self._fit(make(scale=self.opts.scale, steps=self.opts.fit_steps), bare)

        return self._cached(self._key("naive", None), go)

    def adaptive(self, cfg: sc.SurvConfig, tau: float | None) -> torch.Tensor:
        from dataclasses import replace

        from ..attacks.patch import patch as make
        from ..eval.attackable import attackable

        if not (cfg.defenses or cfg.stages or cfg.detector) and cfg.model == "persons":
            return self.naive()  # nothing deployed in front of the bare detector: the same attack

        def go() -> torch.Tensor:
            self.say(f"{cfg.name}: fitting the adaptive patch through its defenses")
            made = attackable(cfg.eval_config(), seed=self.opts.seed)
            model = made.joint if made.joint is not None else made.full
            if model is None:
                raise ConfigError(f"{cfg.name}: no white-box copy for the adaptive patch; use --query N")
            attack = make(scale=self.opts.scale, steps=self.opts.fit_steps)
            if made.joint is not None and tau is not None:
                attack = replace(attack, tau=tau)
            return self._fit(attack, model)

        return self._cached(self._key("adaptive", cfg), go)

    def query(self, cfg: sc.SurvConfig, scored: Any, tau: float | None) -> torch.Tensor:
        from dataclasses import replace

        from ..attacks.patch_query import patch_query

        def go() -> torch.Tensor:
            self.say(f"{cfg.name}: query-only patch search ({self.opts.queries} queries)")
            attack = patch_query(scale=self.opts.scale, queries=self.opts.queries)
            return self._fit(attack if tau is None else replace(attack, tau=tau), scored)

        return self._cached(self._key("query", cfg), go)

    # -- one configuration -------------------------------------------------------------------
    def config(self, cfg: sc.SurvConfig) -> None:
        from ..attacks.patch import random_patch
        from ..eval.config import deploy
        from ..eval.oracle import Oracle

        self.say(f"{cfg.name}: deploying")
        self.engine_dir.mkdir(parents=True, exist_ok=True)
        pipe = deploy(cfg.eval_config(), self.engine_dir)
        det = pipe.manifest.detector
        tau = None if det is None else float(det.threshold)
        model = Oracle(pipe, score=det is not None)
        patches: dict[str, torch.Tensor | None] = {
            "none": None,
            "random": random_patch(48, torch.Generator().manual_seed(self.opts.seed + 7)),
            "naive": self.naive(),
            "adaptive": self.adaptive(cfg, tau),
        }
        if self.opts.queries:
            patches["query"] = self.query(cfg, model, tau)
        latency = _latency(pipe, self.test_set.x[:12])
        for kind, p in patches.items():
            rec, example = _score(model, self.test_set, p, self.opts, tau)
            self.records.append({"config": cfg.name, "patch": kind, **rec, "latency_ms": latency})
            self.examples[(cfg.name, kind)] = example
            self.say(f"{cfg.name} / {kind}: recall {rec['recall']:.0%}, caught {rec['caught']:.0%}")

    def grid(self) -> np.ndarray:
        rows: dict[str, list[np.ndarray]] = {}
        for (name, _), img in self.examples.items():
            rows.setdefault(name, []).append(img)
        return np.concatenate([np.concatenate(r, 1) for r in rows.values()], 0)

    def results(self, configs: tuple[sc.SurvConfig, ...], seconds: float) -> dict[str, Any]:
        from ..data.scene_sets import PERSONS_TEST_SEED
        from ..eval.person_patch import PATCH_FIT_SEED

        o = self.opts
        people = int(sum(len(b) for b in self.test_set.boxes))
        return {
            "scenario": "surveillance",
            "command": o.command,
            "quick": o.quick,
            "scale": o.scale,
            "test": {"scenes": o.scenes, "seed": PERSONS_TEST_SEED, "people": people},
            "fit": {
                "scenes": o.fit_scenes, "seed": PATCH_FIT_SEED, "steps": o.fit_steps, "queries": o.queries,
            },
            "seed": o.seed,
            "configs": [c.to_dict() for c in configs],
            "records": self.records,
            "not_run": [
                "certified masking (ObjectSeeker): `edgeguard eval --model persons --certify` reports its "
                "certified recall and per-frame cost separately; not yet a configuration here",
                "patch-class training (persons-adyolo): not built",
                "annotated MP4 through the camera loop: not produced",
            ],
            "seconds": round(seconds, 1),
        }  # fmt: skip


def _latency(pipe: Any, x: torch.Tensor) -> float:
    """Median milliseconds per frame of ``pipe.run_batch`` at batch 1 (after one warm-up call)."""
    arr = x.numpy().astype(np.float32)
    pipe.run_batch(arr[:1])
    times = []
    for i in range(len(arr)):
        t = time.perf_counter()
        pipe.run_batch(arr[i : i + 1])
        times.append(1000 * (time.perf_counter() - t))
    return round(float(np.median(times)), 2)


def _score(model: Any, data: Any, patch: torch.Tensor | None, opts: Options, tau: float | None) -> tuple:
    """One record's numbers and its example image (the first test scene with people)."""
    from ..attacks.patch import wear
    from ..data.scene_sets import draw_boxes
    from ..eval.ap import average_precision, match_image
    from ..eval.person_patch import CONF, IOU, MEASURE_SEED_OFFSET, detections, raw_outputs

    x = data.x
    if patch is not None:
        gen = torch.Generator().manual_seed(opts.seed + MEASURE_SEED_OFFSET)
        with torch.no_grad():
            x = wear(x, data.boxes, patch, scale=opts.scale, generator=gen, heights=data.heights)
    flags = np.zeros(len(x), bool)
    if tau is not None:
        with torch.no_grad():
            scores = torch.cat([model(x[s : s + 32])[1] for s in range(0, len(x), 32)])
        flags = scores.numpy() > tau
    raw = raw_outputs(model, x)
    dets = detections(None, None, raw=raw)
    ap = average_precision(detections(None, None, conf=0.001, raw=raw), data.truth, 0.5)
    at = average_precision(dets, data.truth, 0.5)
    people = [i for i in range(len(x)) if len(data.boxes[i])]
    caught = total = 0
    for i in people:
        _, tp, n_gt = match_image(*dets[i], *data.truth[i], iou=0.5)
        total += n_gt
        caught += n_gt if flags[i] else int(tp.sum())
    k = people[0] if people else 0
    img = (x[k].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    img = draw_boxes(img, dets[k][0], scores=dets[k][1])
    if flags[k]:
        img[:3], img[-3:], img[:, :3], img[:, -3:] = (
            (230, 30, 30),
            (230, 30, 30),
            (230, 30, 30),
            (230, 30, 30),
        )
    rec = {
        "recall": at.recall,
        "precision": at.precision,
        "ap50": ap.ap,
        "caught": caught / max(total, 1),
        "flagged": float(flags[people].mean()) if people and tau is not None else None,
        "people": at.n_gt,
        "frames": len(x),
        "conf": CONF,
        "nms_iou": IOU,
    }
    return rec, img


def options(**kw: Any) -> Options:
    return Options(**kw)


__all__ = ["GRID", "KINDS", "REPORT", "RESULTS", "Options", "options", "run", "validate"]
