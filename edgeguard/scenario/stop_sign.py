"""``edgeguard scenario stop-sign``: seed 004's drive-by evaluation of every configuration.

For each configuration (:mod:`.stop_configs`) and each sticker (:mod:`.stickers`: none, naive,
adaptive, query), the stop sign is filmed at seed 004's five conditions (:mod:`.conditions`, n frames
each) and on the drive-by approach; every frame goes through the deployed pipeline, timed end to end
(:mod:`.evaluate`). Outputs (``OUT/``): ``results.json`` (flat ``records`` in the evaluation schema),
``report.md`` (tables generated from those records), ``frames.png``, ``driveby.mp4``; stickers and
exported engines are cached in ``OUT/stickers`` and ``OUT/engines`` so a rerun resumes.

Everything is validated before anything is computed or written; the four outputs are written to
temporary names and renamed together at the end (:class:`~edgeguard.outputs.OutputGroup`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import conditions as conds
from . import stop_configs
from .stickers import FULL, KINDS, QUICK, Budget, Sticker, acquire, budget_dict

RESULTS, REPORT, GRID, VIDEO = "results.json", "report.md", "frames.png", "driveby.mp4"
TARGET = "speed limit 80"  # RP2's target class; targeted success is counted against it
EXAMPLE_CONDITION = "10ft-0deg"


@dataclass(frozen=True)
class Options:
    """What to run. ``n``/``approach``/``budget`` default by ``quick``; ``target``: the stickers aim at
    it (``None``: untargeted, targeted success still counted against :data:`TARGET`)."""

    out: Path
    quick: bool = False
    conditions: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    n: int | None = None
    approach: int | None = None
    mask: str = "bars"
    patch: float = 0.25
    target: str | None = None
    seed: int = 0
    budget: Budget | None = None
    certify_frames: int | None = None
    command: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return self.n if self.n is not None else (8 if self.quick else 50)

    @property
    def approach_frames(self) -> int:
        return self.approach if self.approach is not None else (24 if self.quick else 90)

    @property
    def effort(self) -> Budget:
        return self.budget or (QUICK if self.quick else FULL)

    @property
    def cert_frames(self) -> int:
        """Clean frames per condition whose certificate is checked (M·(M+1) model runs each)."""
        return self.certify_frames if self.certify_frames is not None else (3 if self.quick else 20)


def _whole(name: str, v: Any, lo: int, hi: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError(f"--{name} {v!r}: expected a whole number in {lo}..{hi}")


def validate(opts: Options) -> tuple[tuple[conds.Condition, ...], tuple[stop_configs.StopConfig, ...]]:
    """Check every option (before anything is computed or written).

    Raises:
        ConfigError: an unknown condition or configuration, a sticker mask off the sign, a patch size
            outside (0, 1), a bad count, seed or target — one line each.
    """
    from ..certify import mask_set
    from ..eval.config import Config
    from ..eval.sticker import check_plan

    chosen = conds.parse(opts.conditions)
    _whole("n", opts.frames, 1, 10_000)
    _whole("approach", opts.approach_frames, 0, 10_000)
    _whole("seed", opts.seed, 0, 2**31 - 1)
    _whole("certify-frames", opts.cert_frames, 0, 10_000)
    try:
        mask_set(opts.patch, (64, 64))
    except ConfigError as err:
        raise ConfigError(f"--patch {opts.patch!r}: {err}") from None
    configs = stop_configs.resolve(opts.configs, opts.patch)
    for c in configs:
        stop_configs.check(c, opts.quick)
    check_plan(Config(name="signs", model="signs"), target=opts.target, mask=opts.mask)
    for c in configs:  # each model must read the stop sign and the target
        check_plan(Config(name=c.name, model=c.model), target=opts.target or TARGET, mask=opts.mask)
    b = opts.effort
    for key, v in budget_dict(b).items():
        _whole(key, v, 1, 100_000)
    return chosen, configs


def outputs(out: Path) -> list[Path]:
    return [out / RESULTS, out / REPORT, out / GRID, out / VIDEO]


def run(opts: Options, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the scenario and write its outputs; returns the results object.

    Raises:
        ConfigError: bad options (nothing written).
    """
    from ..outputs import OutputGroup

    say = log or (lambda s: None)
    chosen, configs = validate(opts)
    group = OutputGroup(outputs(opts.out), what="--out", make_parents=True)  # checks all four now
    t0 = time.perf_counter()
    state = _State(opts, chosen, say)
    for cfg in configs:
        state.config(cfg)
    state.latency(configs)
    results = state.results(time.perf_counter() - t0)
    _write(group, opts.out, results, state)
    return results


class _State:
    """The run's accumulators: records, stickers used, example frames, approach readings."""

    def __init__(
        self, opts: Options, chosen: tuple[conds.Condition, ...], say: Callable[[str], None]
    ) -> None:
        from ..models import REGISTRY

        self.opts, self.chosen, self.say = opts, chosen, say
        labels = list(REGISTRY.get("signs").extra["labels"])
        self.labels = labels
        self.stop = labels.index("stop")
        self.target_label = opts.target or TARGET
        self.target = labels.index(self.target_label) if self.target_label in labels else None
        self.records: list[dict[str, Any]] = []
        self.configs: list[dict[str, Any]] = []
        self.stickers: list[dict[str, Any]] = []
        self.examples: dict[tuple[str, str], dict[str, Any]] = {}
        self.approach_readings: dict[str, list[dict[str, Any]]] = {}
        self.frame_cache: dict[tuple[str, str], Any] = {}
        self.approach_cache: dict[str, Any] = {}
        self.work = opts.out / "engines"
        self.cache = opts.out / "stickers"
        self.naive: Sticker | None = None

    def sticker(self, kind: str, cfg: stop_configs.StopConfig) -> Sticker:
        if kind == "naive" and self.naive is not None:
            return self.naive
        o = self.opts
        s = acquire(
            kind, cfg, folder=self.cache, workdir=self.work, budget=o.effort, quick=o.quick, mask=o.mask,
            target=o.target, seed=o.seed, log=self.say,
        )  # fmt: skip
        if kind == "naive":
            self.naive = s
        if kind != "none" and not any(x.get("file") == s.meta.get("file") for x in self.stickers):
            m = s.meta
            self.stickers.append(
                {"kind": kind, "for": "all" if kind == "naive" else cfg.name, "file": m.get("file"),
                 "attack": m.get("attack"), "measured": m.get("measured")}
            )  # fmt: skip
        return s

    def crops(self, s: Sticker, cond: conds.Condition, index: int) -> list[Any]:
        from .evaluate import condition_frames

        key = (str(s.meta.get("file", "none")), cond.name)
        if key not in self.frame_cache:
            self.frame_cache[key] = condition_frames(s, cond, index, self.opts.frames, self.opts.seed)
        return self.frame_cache[key]

    def approach(self, s: Sticker) -> Any:
        from .evaluate import approach

        key = str(s.meta.get("file", "none"))
        if key not in self.approach_cache:
            self.approach_cache[key] = approach(s, self.opts.approach_frames, self.opts.seed)
        return self.approach_cache[key]

    def config(self, cfg: stop_configs.StopConfig) -> None:
        from .evaluate import certified_frames, crop, pooled, rates, run_frames

        o, say = self.opts, self.say
        t_cfg = time.perf_counter()
        stickers = {k: self.sticker(k, cfg) for k in KINDS}
        pipe = stop_configs.deploy(cfg, self.work, quick=o.quick)
        cert_pipe = stop_configs.deploy(cfg, self.work, quick=o.quick, certify=True) if cfg.masking else None
        clean: dict[str, dict[str, Any]] = {}
        with pipe:
            for kind in KINDS:
                t_kind = time.perf_counter()
                s, per = stickers[kind], []
                for ci, cond in enumerate(self.chosen):
                    crops = self.crops(s, cond, ci)
                    frames = run_frames(pipe, crops)
                    cert = None
                    if cert_pipe is not None and kind == "none":
                        with cert_pipe:
                            cert = certified_frames(cert_pipe, crops[: o.cert_frames], self.stop)
                    r = rates(frames, self.stop, self.target, cert)
                    per.append(self._record(cfg, cond.name, kind, s, r, clean, time.perf_counter() - t_kind))
                    if cond.name == EXAMPLE_CONDITION or (ci == 0 and (cfg.name, kind) not in self.examples):
                        self.examples[(cfg.name, kind)] = self._example(crops[0], frames[0])
                all_rec = self._record(cfg, "all", kind, s, pooled(per), clean, time.perf_counter() - t_kind)
                if o.approach_frames:
                    full, rois = self.approach(s)
                    frames = run_frames(pipe, [crop(f, roi) for f, roi in zip(full, rois)])
                    r = rates(frames, self.stop, self.target, None)
                    self._record(cfg, conds.APPROACH, kind, s, r, clean, time.perf_counter() - t_kind)
                    if kind == "naive":
                        self.approach_readings[cfg.name] = [self._example(None, f) for f in frames]
                say(f"{cfg.name} / {kind}: accuracy {100 * all_rec['accuracy']:.1f} %, fooled "
                    f"{100 * all_rec['fooled']:.1f} %, {all_rec['latency_ms']:.2f} ms/frame")  # fmt: skip
        det = pipe.manifest.detector
        mine = [r for r in self.records if r["config"] == cfg.name and r["condition"] == "all"]
        frames_n = sum(r["n"] for r in mine)
        entry = {
            **cfg.to_dict(o.quick),
            "clean_accuracy": clean["all"]["accuracy"],
            "clean_ci": clean["all"]["accuracy_ci"],
            "latency_ms": {"total": sum(r["latency_ms"] * r["n"] for r in mine) / frames_n},
            "detector": None if det is None else {"spec": det.spec, "tau": float(det.threshold)},
            "white_box": True,
            "notes": [],
            "seconds": time.perf_counter() - t_cfg,
        }
        self.configs.append(entry)

    def latency(self, configs: tuple[stop_configs.StopConfig, ...]) -> None:
        """Every configuration timed on the same clean and naive-stickered frames, taking turns."""
        from contextlib import ExitStack

        from .evaluate import interleaved_latency

        crops = [c for (file, _), frames in self.frame_cache.items() if file in self._timed() for c in frames]
        with ExitStack() as stack:
            pipes = {
                cfg.name: stack.enter_context(stop_configs.deploy(cfg, self.work, quick=self.opts.quick))
                for cfg in configs
            }
            self.say(f"latency: {len(crops)} frames through {len(pipes)} configurations in turn")
            measured = interleaved_latency(pipes, crops)
        for entry in self.configs:
            entry["latency_ms"].update({f"interleaved_{k}": v for k, v in measured[entry["name"]].items()})

    def _timed(self) -> set[str]:
        return {"none", str((self.naive.meta if self.naive else {}).get("file"))}

    def _example(self, crop_img: Any, frame: dict[str, Any]) -> dict[str, Any]:
        return {
            "crop": crop_img,
            "label": self.labels[frame["index"]],
            "stop": frame["index"] == self.stop,
            "flagged": bool(frame["flagged"]),
        }

    def _record(
        self, cfg: stop_configs.StopConfig, cond: str, kind: str, s: Sticker, r: dict[str, Any],
        clean: dict[str, dict[str, Any]], seconds: float,
    ) -> dict[str, Any]:  # fmt: skip
        if kind == "none":
            clean[cond] = r
        base = clean[cond]
        rec = {
            "config": cfg.name,
            "condition": cond,
            "sticker": kind,
            "attack": "none" if kind == "none" else str(s.meta.get("attack", kind)),
            "eps": None,
            "norm": "none",
            "mode": "naive" if kind in ("none", "naive") else "adaptive",
            "clean_accuracy": base["accuracy"],
            "clean_ci": base["accuracy_ci"],
            "robust_accuracy": r["accuracy"],
            "robust_ci": r["accuracy_ci"],
            "norm_l2": None,
            "norm_linf": None,
            "l2": None,
            "detection_rate": r["flagged"] if cfg.detector else None,
            "seconds": seconds,
            "seed": self.opts.seed,
            "eot": int((s.meta.get("key") or {}).get("eot", 1)),
            "kind": {"none": "none", "query": "query"}.get(kind, "white-box"),
            "white_box": kind in ("naive", "adaptive"),
            **r,
        }
        self.records.append(rec)
        return rec

    def results(self, seconds: float) -> dict[str, Any]:
        from ..eval.records import results
        from .stop_report import choose, latencies, summary

        o = self.opts
        out = results(
            command=o.command or ["edgeguard", "scenario", "stop-sign", "--out", str(o.out)],
            data={
                "spec": "synthetic stop sign (seed 004 drive-by conditions)",
                "n": o.frames,
                "approach_frames": o.approach_frames,
                "conditions": [c.name for c in self.chosen],
            },
            seed=o.seed,
            configs=self.configs,
            records=self.records,
        )
        choice = choose(summary(self.records, [c["name"] for c in self.configs], latencies(self.configs)))
        notes = [
            "latency: wall time per frame of Pipeline([crop]) on this machine (onnxruntime CPU, "
            f"1 thread; load average {_load()} at the end), preprocess to decision, masking rounds and "
            "escalation included; records: the mean over the cell's frames; the summary and the choice: "
            "the mean over the clean and naive-stickered frames with the configurations taking turns "
            "frame by frame (configs[].latency_ms.interleaved_*), so load changes hit all alike",
            "adaptive stickers do not differentiate through escalation: the detector-aware sticker aims "
            "to stay unflagged, so DIP never runs on it; the query sticker runs through the whole "
            "pipeline, DIP included",
            "certified (masking): clean frames certified AND read as stop, on the first "
            f"{o.cert_frames} frames of each condition (each certificate costs M·(M+1) model runs); it "
            "certifies ONE square sticker of side patch × face, not the two bars",
        ]
        if o.quick:
            notes.append(
                f"--quick: n = {o.frames} frames per condition, {o.approach_frames} approach frames, "
                f"attack budget {budget_dict(o.effort)}, DIP escalation with fewer iterations "
                "(configs[].escalate)"
            )
        out.update(
            {
                "scenario": "stop-sign",
                "quick": o.quick,
                "seconds": seconds,
                "load_average": _load(),
                "camera": conds.camera_model(),
                "target_label": self.target_label,
                "targeted": o.target is not None,
                "budget": budget_dict(o.effort),
                "stickers": self.stickers,
                "choice": choice,
                "best_realtime": choice["best_realtime"],
                "best_cheap": choice["best_cheap"],
                "notes": notes,
            }
        )
        return out


def _write(group: Any, out: Path, results: dict[str, Any], state: _State) -> None:
    from ..eval.records import dumps
    from .stop_figures import grid_png, video
    from .stop_report import render

    names = [c["name"] for c in results["configs"]]
    with group:
        grid_png(group.temp(out / GRID), state.examples, names, list(KINDS), EXAMPLE_CONDITION)
        full, rois = state.approach_cache.get(
            str((state.naive.meta if state.naive else {}).get("file")), ([], [])
        )
        readings = {c: state.approach_readings[c] for c in names if c in state.approach_readings}
        ok = video(group.temp(out / VIDEO), full, rois, readings, "drive-by, naive sticker")
        if not ok:
            results["notes"].append("driveby.mp4: no frames or OpenCV cannot encode mp4v here (empty file)")
        group.write_text(out / RESULTS, dumps(results))
        group.write_text(out / REPORT, render(results))


def _load() -> list[float] | None:
    """The machine's 1/5/15-minute load averages (latencies on a shared machine depend on them)."""
    import os

    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def options(**kw: Any) -> Options:
    """:class:`Options` from keyword arguments (``out`` as a path)."""
    return replace(Options(out=Path(kw.pop("out"))), **kw)


__all__ = ["GRID", "REPORT", "RESULTS", "VIDEO", "Options", "options", "run", "validate"]
