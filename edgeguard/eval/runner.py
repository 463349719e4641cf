"""Run an evaluation grid: independent cells, locally or on Ray, resumable, with the worst case at the end.

Each finished cell is written at once to ``OUT/cells/<key>.json`` (temp file, then rename), so an
interrupted run keeps every finished cell and ``--resume`` runs only the rest (the key hashes
everything that shapes a cell's result, so a changed grid never reuses a stale cell). Each
configuration's deployed-pipeline summary (clean accuracy, latency, detector, notes) goes to
``OUT/configs/<key>.json`` the same way. ``executor="ray"`` (or ``"ray://HOST:PORT"``) runs cells as
Ray tasks (the ``ray`` extra; Ray does the scheduling — no home-made job queue).

The runner adds the few cheap cells the sanity checks need (:mod:`.cells`); their records carry
``extra`` (why they were added) and stay out of the worst case.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..extras import MissingExtraError, available
from .cells import plan_cells
from .grid import Grid
from .plan import Cell
from .progress import progress_bar
from .records import accuracy, results, write_json

FIT_N = 200  # fitting-set size for universal attacks
LATENCY_WARMUP, LATENCY_RUNS = 5, 30  # batch-1 calls per configuration (p50/p95 per stage)
# (workspace, config dict) -> (Target, EvalData, summary); tests swap in a fake pipeline
Prepare = Callable[["Workspace", dict[str, Any]], tuple[Any, Any, dict[str, Any]]]


# -- the work of one process -----------------------------------------------------------------------------


class Workspace:
    """Per-process caches: evaluation data per input size, prepared targets per configuration."""

    def __init__(self, grid: Grid, workdir: Path, threads: int = 1, prepare: Prepare | None = None) -> None:
        self.grid, self.workdir, self.threads = grid, Path(workdir), threads
        self._prepare_fn = prepare
        self._data: dict[Any, Any] = {}
        self._targets: dict[str, Any] = {}
        self.n = max([grid.n, *(a.n for a in grid.attacks)])
        self.fit = FIT_N if any(a.kind == "universal" for a in grid.attacks) else 0

    def data(self, size: tuple[int, int], labels: Sequence[str] | None) -> Any:
        from .data import load_data

        key = (tuple(size), tuple(labels) if labels else None)
        if key not in self._data:
            self._data[key] = load_data(
                self.grid.data, self.n, tuple(size), labels=labels, fit=self.fit, seed=self.grid.seed
            )
        return self._data[key]

    def target(self, cfg: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        """``(Target, EvalData, summary)`` for a configuration (deployed and scored once per process)."""
        name = cfg["name"]
        if name not in self._targets:
            fn = self._prepare_fn or Workspace._prepare
            self._targets[name] = fn(self, cfg)
        return self._targets[name]

    def _prepare(self, cfg: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        import torch

        from .attackable import attackable
        from .config import Config, deploy
        from .latency import total_ms
        from .robustness import Target, score

        torch.set_num_threads(max(1, self.threads))
        config = Config.from_dict(dict(cfg))
        pipe = deploy(config, self.workdir, threads=self.threads, detector_fpr=self.grid.detector_fpr)
        data = self.data(pipe.size, pipe.labels)
        clean = score(pipe, data.x, data.y)
        atk = attackable(config, eot=self.grid.eot, seed=self.grid.seed)
        latency = _latency(pipe, data.x)
        per_image = total_ms(latency)
        target = Target(
            name=config.name,
            pipeline=pipe,
            attackable=atk,
            clean=clean.correct,
            latency_ms=per_image if per_image == per_image else clean.ms_per_image,
            detector=clean.flagged is not None,
            notes=list(atk.notes),
        )
        acc, ci = accuracy(clean.correct)
        summary = {
            **config.to_dict(),
            "clean_accuracy": acc,
            "clean_ci": ci,
            "clean_correct": clean.correct,
            "clean_scores": clean.scores,
            "latency_ms": latency,
            "detector": _detector(pipe),
            "white_box": bool(atk.white_box),
            "random": bool(atk.random),
            "notes": list(atk.notes),
            "data": data.describe(),
        }
        if self.grid.certify is not None:  # PatchCleanser's certified accuracy (eval/certified.py)
            from ..certify import mask_set
            from .certified import certified_correct

            ok = certified_correct(pipe, data.x.numpy(), data.y.numpy(), self.grid.certify)
            summary["certified_patch"] = self.grid.certify
            summary["certified_masks"] = mask_set(self.grid.certify, tuple(pipe.size)).count
            summary["certified_accuracy"], summary["certified_ci"] = accuracy(ok)
        return target, data, summary


def _latency(pipe: Any, x: Any) -> dict[str, Any]:
    """Per-stage latency of the deployed pipeline, batch 1, on the evaluation images (eval/latency.py)."""
    from .latency import measure_latency

    return dict(measure_latency(pipe, x[:8].numpy(), warmup=LATENCY_WARMUP, runs=LATENCY_RUNS))


def _detector(pipe: Any) -> dict[str, Any] | None:
    det = getattr(pipe.manifest, "detector", None)
    if det is None:
        return None
    out = {k: getattr(det, k, None) for k in ("spec", "output", "fpr")}
    out["tau"] = float(det.threshold)
    cal = getattr(det, "calibration", None)
    if cal is not None:
        out["calibration"] = {"source": cal.source, "images": cal.images, "sha256": cal.sha256}
    return out


def measured_detector(summary: dict[str, Any], cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The detector entry of a configuration: τ and its target FPR from the manifest, plus the clean
    flag rate, AUC and ROC measured here against the adaptive adversarial inputs of the grid's cells
    (pooled over attacks and ε; the naive ones when no adaptive attack ran), ``auc_naive`` beside it."""
    from .detection import roc
    from .detection import summary as det_summary

    det = dict(summary["detector"])
    clean = summary.get("clean_scores")
    if not clean:
        return det
    for mode in ("naive", "adaptive"):
        adv = [
            s
            for res in cells
            if not res["cell"].get("extra")
            for s in (res["examples"].get(mode, {}).get("scores") or [])
        ]
        if not adv:
            continue
        measured = det_summary(clean, adv, det["tau"], det.get("fpr"))
        if mode == "naive":
            det["auc_naive"] = measured["auc"]
        det.update({k: measured[k] for k in ("auc", "clean_flagged")})
        fpr, tpr, _ = roc(clean, adv)
        det["roc"] = {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr], "mode": mode}
    return det


def execute(ws: Workspace, cell: Cell) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one cell in this process: ``(config summary, cell result)``."""
    from .robustness import run_cell

    target, data, summary = ws.target(dict(cell.config))
    result = run_cell(cell, target, data.x, data.y, fit=(data.fit_x, data.fit_y) if ws.fit else None)
    result["cell"] = {
        "config": cell.config["name"],
        "attack": cell.attack.spec,
        "eps": cell.eps,
        "extra": cell.extra,
    }
    return summary, result


_WORKSPACES: dict[str, Workspace] = {}


def _ray_execute(
    grid: Grid, workdir: str, threads: int, cell: Cell, prepare: Prepare | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Ray task: one workspace per worker process, reused by the cells it runs."""
    ws = _WORKSPACES.get(workdir)
    if ws is None:
        ws = _WORKSPACES[workdir] = Workspace(grid, Path(workdir), threads, prepare)
    return execute(ws, cell)


# -- the grid --------------------------------------------------------------------------------------------


def check_executor(executor: str) -> str:
    """``local``, ``ray`` or ``ray://ADDRESS``; Ray must be installed for the last two.

    Raises:
        ConfigError: another value; MissingExtraError when the ``ray`` extra is missing.
    """
    if executor == "local":
        return executor
    if executor != "ray" and not (executor.startswith("ray://") and len(executor) > 6):
        raise ConfigError(f"--executor {executor!r}: expected local, ray or ray://HOST:PORT")
    if not available("ray"):
        raise MissingExtraError(f"--executor {executor}", "ray", "ray")
    return executor


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged file counts as not done
    return data if isinstance(data, dict) else None


def run_grid(
    grid: Grid,
    out: str | Path,
    *,
    executor: str = "local",
    resume: bool = False,
    threads: int = 1,
    command: Sequence[str] = (),
    progress: bool = True,
    sanity_cells: bool = True,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
    prepare: Prepare | None = None,
) -> dict[str, Any]:
    """Run every cell not yet done, then return the ``results.json`` object (not written; see the CLI).

    Args:
        grid: the checked grid.
        out: output folder; cells go to ``out/cells``, deployed engines to ``out/work``.
        executor: ``local`` (default), ``ray`` or ``ray://ADDRESS``.
        resume: reuse finished cells found in ``out/cells`` (without it they are run again).
        threads: torch and onnxruntime threads per process.
        command: the command line, recorded in the results.
        progress: show a rich progress bar with ETA on stderr.
        sanity_cells: add the cells the sanity checks need.
        on_cell: called with each finished cell result (tests count them).
        prepare: replaces deploy + attackable for a configuration (tests use a fake pipeline).
    """
    from .sanity import sanity_checks

    check_executor(executor)
    out = Path(out)
    cells_dir, configs_dir, work = out / "cells", out / "configs", out / "work"
    for d in (cells_dir, configs_dir, work):
        d.mkdir(parents=True, exist_ok=True)
    cells = plan_cells(grid, sanity_cells=sanity_cells)
    done: dict[str, dict[str, Any]] = {}
    if resume:
        for c in cells:
            found = _read_json(cells_dir / f"{c.key}.json")
            if found is not None and found.get("key") == c.key:
                done[c.key] = found
    todo = [c for c in cells if c.key not in done]
    summaries: dict[str, dict[str, Any]] = {}
    for cfg in grid.configs:
        s = _read_json(configs_dir / f"{_config_key(cfg)}.json") if resume else None
        if s is not None:
            summaries[cfg["name"]] = s

    def finish(summary: dict[str, Any], result: dict[str, Any]) -> None:
        name = result["cell"]["config"]
        if name not in summaries:
            summaries[name] = summary
            write_json(configs_dir / f"{_config_key(summary)}.json", summary)
        write_json(cells_dir / f"{result['key']}.json", result)
        done[result["key"]] = result
        if on_cell is not None:
            on_cell(result)

    with progress_bar(len(cells), len(done), progress) as advance:
        if executor == "local":
            ws = Workspace(grid, work, threads, prepare)
            for c in todo:
                finish(*execute(ws, c))
                advance(c)
        else:
            _run_ray(grid, work, threads, todo, executor, finish, advance, prepare)
    missing = [c for c in grid.configs if c["name"] not in summaries]
    if missing:  # every cell of a configuration was resumed but its summary is gone: prepare it again
        ws = Workspace(grid, work, threads, prepare)
        for cfg in missing:
            summaries[cfg["name"]] = ws.target(dict(cfg))[2]
            write_json(configs_dir / f"{_config_key(cfg)}.json", summaries[cfg["name"]])
    ordered = [done[c.key] for c in cells if c.key in done]
    for name, summary in summaries.items():
        if summary.get("detector") is not None:
            summary["detector"] = measured_detector(
                summary, [r for r in ordered if r["cell"]["config"] == name]
            )
    recs = [r for res in ordered for r in res["records"]]
    recs += worst_records(ordered, summaries)
    data_entry = next(iter(summaries.values()))["data"] if summaries else {"spec": grid.data}
    configs = [
        {k: v for k, v in summaries[c["name"]].items() if k not in ("clean_correct", "clean_scores", "data")}
        for c in grid.configs
    ]
    res = results(command=list(command), data=data_entry, seed=grid.seed, configs=configs, records=recs)
    res["sanity"] = sanity_checks(res["records"])
    res["extra_cells"] = sorted({c.extra for c in cells if c.extra})
    return res


def _config_key(cfg: dict[str, Any]) -> str:
    import hashlib

    keep = {k: cfg.get(k) for k in ("name", "model", "defenses", "stages", "detector", "weights")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _run_ray(
    grid: Grid,
    work: Path,
    threads: int,
    todo: list[Cell],
    executor: str,
    finish: Callable[[dict[str, Any], dict[str, Any]], None],
    advance: Callable[[Cell], None],
    prepare: Prepare | None,
) -> None:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(
            address=None if executor == "ray" else executor, include_dashboard=False, log_to_driver=False
        )
    try:
        task = ray.remote(num_cpus=max(1, threads))(_ray_execute)
        pending = {task.remote(grid, str(work), threads, c, prepare): c for c in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                cell = pending.pop(ref)
                finish(*ray.get(ref))
                advance(cell)
    finally:
        for ref in list(locals().get("pending", {})):
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


# -- the worst case ---------------------------------------------------------------------------------------


def worst_records(
    cells: Sequence[dict[str, Any]], summaries: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per (config, ε, norm): the mean over examples of the minimum over every bounded attack run, in
    both modes (mode ``worst``): the headline robust accuracy.

    An example counts as robust only if every attack at that budget, naive or adaptive, failed on it
    (Carlini et al. 2019: report the per-example worst case; an attacker picks the attack that works).
    Attacks evaluated on different n share their first examples. Minimal attacks (no ε) and the cells
    added for sanity checks are left out.
    """
    groups: dict[tuple, list[tuple[dict[str, Any], list[bool]]]] = defaultdict(list)
    for res in cells:
        for rec in res["records"]:
            if rec["eps"] is None or rec.get("extra") or rec.get("minimal"):
                continue
            correct = res["examples"][rec["mode"]]["correct"]
            groups[(rec["config"], rec["eps"], rec["norm"])].append((rec, correct))
    out = []
    for (config, eps, norm), items in groups.items():
        n = min(len(c) for _, c in items)
        worst = [all(c[i] for _, c in items) for i in range(n)]
        robust, robust_ci = accuracy(worst)
        clean = summaries.get(config, {}).get("clean_correct")
        clean_acc, clean_ci = (
            accuracy(clean[:n]) if clean else (items[0][0]["clean_accuracy"], items[0][0]["clean_ci"])
        )
        recs = [r for r, _ in items]
        out.append(
            {
                "config": config,
                "attack": "worst-case",
                "attacks": sorted({f"{r['attack']} ({r['mode']})" for r in recs}),
                "eps": eps,
                "norm": norm,
                "mode": "worst",
                "n": n,
                "clean_accuracy": clean_acc,
                "robust_accuracy": robust,
                "robust_ci": robust_ci,
                "clean_ci": clean_ci,
                "norm_l2": None,
                "norm_linf": None,
                "l2": None,
                "latency_ms": recs[0]["latency_ms"],
                "detection_rate": None,
                "seconds": round(sum(r["seconds"] or 0 for r in recs), 3),
                "seed": recs[0]["seed"],
                "eot": max(r["eot"] for r in recs),
                "kind": "+".join(sorted({r["kind"] for r in recs})),
                "white_box": any(r["white_box"] for r in recs),
                "minimal": False,
                "extra": "",
            }
        )
    return out


__all__ = ["Workspace", "check_executor", "execute", "run_grid", "worst_records"]
