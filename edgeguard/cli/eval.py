"""``edgeguard eval``: robustness of a deployed configuration (or a grid of them), naive and adaptive.

Everything is checked before the output folder is created: the model or engine (and its outputs),
defenses, stages, detector, every attack spec at every ε, the data spec, the grid file, the executor.
Bad input is one line and exit 2 with nothing written. Finished cells land in ``OUT/cells`` as they
complete (an interrupt keeps them; ``--resume`` continues); ``OUT/results.json`` and ``OUT/report.md``
are written at the end (temp file, then rename). ``--strict`` exits 1 when a sanity check fails.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..errors import ConfigError
from ..registry import ATTACKS, DEFENSES, STAGES
from ._common import console, err_console, safe
from .app import app

DEFAULT_EPS = "2/255,4/255,8/255,16/255"


def split_attacks(text: str) -> list[str]:
    """``"autoattack,pgd:eps=8/255,steps=20,fgsm"`` → ``["autoattack", "pgd:eps=8/255,steps=20", "fgsm"]``.

    Specs contain commas, so a token with ``=`` and no ``:`` continues the spec before it.
    """
    specs: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            raise ConfigError(f"--attack {text!r}: empty attack name (two commas in a row?)"[:200])
        if "=" in token and ":" not in token:
            if not specs:
                raise ConfigError(f"--attack {text!r}: {token!r} has no attack before it"[:200])
            specs[-1] += "," + token
        else:
            specs.append(token)
    return specs


def _given(ctx: typer.Context, name: str) -> bool:
    return getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"


def _grid(ctx: typer.Context, opts: dict[str, Any]) -> Any:
    """The checked grid: from ``--grid`` (command-line n/eps/data/seed/eot override its [eval]) or
    from the single-configuration options."""
    from ..eval.grid import Grid
    from ..eval.plan import plan_attack
    from ..eval.values import check_config, check_data_spec, parse_eps_list

    try:
        eps = parse_eps_list(opts["eps"])
    except ValueError as err:
        raise ConfigError(f"--eps {opts['eps']!r}: {err}"[:300]) from None
    try:
        check_data_spec(opts["data"])
    except ValueError as err:
        raise ConfigError(f"--data: {err}") from None
    for key, lo in (("n", 1), ("eot", 1), ("seed", 0), ("threads", 1)):
        if opts[key] < lo:
            raise ConfigError(f"--{key} {opts[key]}: must be at least {lo}")
    if not 0 < opts["detector_fpr"] < 1:
        raise ConfigError(f"--detector-fpr {opts['detector_fpr']}: expected a fraction in (0, 1)")
    certify = _certify(ctx, opts)
    if opts["grid"] is not None:
        clash = [f"--{k}" for k in ("model", "defense", "stage", "detector", "attack") if _given(ctx, k)]
        if clash:
            raise ConfigError(f"--grid names the configurations and attacks; drop {', '.join(clash)}")
        from ..eval.grid import load_grid

        over = {k: opts[k] for k in ("n", "data", "seed", "eot") if _given(ctx, k)}
        if _given(ctx, "eps"):
            over["eps"] = eps
        if _given(ctx, "detector_fpr"):
            over["detector_fpr"] = opts["detector_fpr"]
        if certify is not None:
            over["certify"] = certify
        return load_grid(opts["grid"], **over)
    if opts["model"] is None:
        raise ConfigError("eval: give --model signs|ENGINE.onnx (with --attack …) or --grid FILE")
    plans = []
    for spec in split_attacks(opts["attack"]):
        plan = plan_attack(spec, eps, n=opts["n"], seed=opts["seed"], eot=opts["eot"])
        if plan.spec in {p.spec for p in plans}:
            raise ConfigError(f"--attack: {spec!r} is given twice")
        plans.append(plan)
    cfg = {"model": opts["model"], "defenses": opts["defense"], "stages": opts["stage"]}
    if opts["detector"]:
        cfg["detector"] = opts["detector"]
    try:
        config = check_config(cfg)
    except ValueError as err:
        key, _, why = str(err).partition(": ")
        flag = {"model": "--model", "defenses": "--defense", "stages": "--stage"}.get(key, f"--{key}")
        raise ConfigError(f"{flag}: {why}"[:300]) from None
    _config_object(config)
    return Grid(
        data=opts["data"],
        n=opts["n"],
        seed=opts["seed"],
        eot=opts["eot"],
        eps=eps,
        detector_fpr=opts["detector_fpr"],
        certify=certify,
        configs=(config,),
        attacks=tuple(plans),
    )


def _certify(ctx: typer.Context, opts: dict[str, Any]) -> float | None:
    """``--certify [--patch P]`` → the patch fraction (``None`` without --certify)."""
    from ..certify import mask_set
    from ..eval.values import check_patch

    if not opts["certify"]:
        if _given(ctx, "patch"):
            raise ConfigError("--patch needs --certify (e.g. --certify --patch 0.25)")
        return None
    try:
        patch = check_patch(opts["patch"])
    except ValueError as err:
        raise ConfigError(f"--patch: {err}") from None
    mask_set(patch, (64, 64))  # the sign models' input: a mask set larger than the image fails now
    return patch


def _config_object(config: dict[str, Any]) -> None:
    """Let the evaluated Config refuse what the generic checks let through (e.g. an unknown detector)."""
    from ..eval.config import Config

    Config.from_dict(dict(config))


def _out_folder(out: Path, resume: bool) -> bool:
    """Check ``--out``; return whether it already exists."""
    from ..outputs import check_destination

    check_destination(out / "results.json", what="--out", make_parents=True)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder")
    used = out.is_dir() and any((out / name).exists() for name in ("results.json", "cells", "report.md"))
    if used and not resume:
        raise ConfigError(
            f"--out {str(out)!r} already holds an evaluation; pass --resume to continue it "
            f"or choose another folder"
        )
    return out.exists()


@app.command("eval")
def eval_cmd(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model name (signs, signs-denoise) or an exported .onnx engine."
    ),
    defense: list[str] = typer.Option(
        [],
        "--defense",
        "-d",
        help=DEFENSES.help("In-graph defense fused into the evaluated engine, repeatable, in order."),
    ),
    stage: list[str] = typer.Option(
        [], "--stage", "-s", help=STAGES.help("Host stage run before the engine, repeatable, in order.")
    ),
    detector: str | None = typer.Option(
        None,
        "--detector",
        help="Feature-squeezing detector fused into the engine (squeeze:bits=5,median=2x2).",
    ),
    attack: str = typer.Option(
        "autoattack",
        "--attack",
        "-a",
        help=ATTACKS.help(
            "Comma-separated attack names or specs (pgd:steps=20,alpha=1/255 keeps its commas).",
            "See `edgeguard attacks`.",
        ),
    ),
    eps: str = typer.Option(
        DEFAULT_EPS, "--eps", help="Budgets ε to sweep, comma-separated (fractions allowed)."
    ),
    n: int = typer.Option(500, "--n", help="Examples per cell."),
    data: str = typer.Option(
        "signs",
        "--data",
        help="signs (the renderer's held-out test set) | signs:variety=unseen (the same scenes, signs drawn "
        "with held-out fonts, proportions, palettes, borders, wear) | gtsrb:PATH (local GTSRB copy) | "
        "folder:PATH (PATH/<class>/<images>). Nothing is downloaded.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: results.json, report.md, cells/."),
    grid: Path | None = typer.Option(
        None, "--grid", help="Grid TOML (configurations × attacks × ε; see eval/example.toml)."
    ),
    executor: str = typer.Option(
        "local", "--executor", help="local | ray | ray://HOST:PORT (the ray extra)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted evaluation in --out."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when a sanity check fails."),
    seed: int = typer.Option(0, "--seed", help="Seed of every attack's random draws."),
    eot: int = typer.Option(20, "--eot", help="Draws per gradient for configurations with random stages."),
    threads: int = typer.Option(1, "--threads", help="torch and onnxruntime threads per worker."),
    detector_fpr: float = typer.Option(0.05, "--detector-fpr", help="False-positive rate τ is set for."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    certify: bool = typer.Option(
        False,
        "--certify",
        help="Also measure certified accuracy against one square sticker of side --patch (PatchCleanser "
        "double masking: every two-mask prediction correct). See README 'Certified masking'. With a "
        "detector (persons, or an engine exported with --masking lines=K): ObjectSeeker's certified "
        "recall on --n rendered scenes (default 20), AP bare vs masked and the cost per frame.",
    ),
    masking: str | None = typer.Option(
        None,
        "--masking",
        help="--certify with a detector model name: its ObjectSeeker export options "
        "(default lines=30; masked_conf=, the score masked copies' boxes must pass, default 0.8).",
    ),
    patch: float = typer.Option(
        0.25,
        "--patch",
        help="--certify: the sticker's side as a fraction of the sign face's (0 < patch < 1); for a "
        "detector, the patch side as a fraction of √(H·W) (default 0.1: 1 % of the frame).",
    ),
) -> None:
    """Attack a deployed configuration naively and adaptively, and report robust accuracy vs latency.

    Every attack runs twice: naive (against the bare model, the defense applied afterwards) and
    adaptive (through the whole pipeline: straight-through rounding, BPDA host stages, EOT over random
    draws, query attacks on the deployed engine). Every adversarial image is scored on the deployed
    pipeline. Sanity checks (Carlini et al. 2019) run with every evaluation.
    """
    from ..eval.runner import check_executor

    opts = dict(locals())
    if certify and model is not None:
        from ..eval.seeker_eval import is_detection_model

        if is_detection_model(model):
            _certify_detector(ctx, opts)
            return
    if masking is not None:
        raise ConfigError("--masking is for --certify on a detector (e.g. --model persons --certify)")
    check_executor(executor)
    g = _grid(ctx, opts)
    existed = _out_folder(out, resume)
    _run(g, out, existed, opts, ["edgeguard", *sys.argv[1:]])


def _certify_detector(ctx: typer.Context, opts: dict[str, Any]) -> None:
    """``eval --certify`` on a detector: ObjectSeeker's certified recall (eval/seeker_eval.py)."""
    from ..eval import seeker_eval

    clash = [
        f"--{k}" for k in ("defense", "stage", "detector", "attack", "eps", "grid", "data") if _given(ctx, k)
    ]
    if clash:
        raise ConfigError(
            f"eval --certify on a detector measures ObjectSeeker's certified recall on rendered scenes; "
            f"drop {', '.join(clash)}"
        )
    n = opts["n"] if _given(ctx, "n") else seeker_eval.DEFAULT_FRAMES
    patch = opts["patch"] if _given(ctx, "patch") else seeker_eval.DEFAULT_PATCH
    if n < 1:
        raise ConfigError(f"--n {n}: must be at least 1")
    if isinstance(patch, bool) or not 0.0 < patch < 1.0:
        raise ConfigError(f"--patch {patch}: expected the patch side as a fraction of the frame side, 0..1")
    if opts["masking"] is not None:
        from ..seeker import parse

        parse(opts["masking"], (320, 320))  # the options' names and ranges, before --out is touched
    out: Path = opts["out"]
    existed = _out_folder(out, False)
    try:
        masked, bare = seeker_eval.engines(opts["model"], out / "engines", opts["masking"])
        res = seeker_eval.certify_detector(
            masked, frames=n, patch=patch, bare_engine=bare, threads=opts["threads"]
        )
        res["command"] = ["edgeguard", *sys.argv[1:]]
        paths = seeker_eval.write(res, out)
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise
    r = res["certified_recall"]
    console.print(
        f"certified recall at a {res['patch_px']} px patch ({res['objects']} people, "
        f"{res['frames']} frames): "
        f"far {r['far']:.1%}, close {r['close']:.1%}, over {r['over']:.1%}; "
        f"{res['forwards_per_frame']} forwards a frame, {res['ms_per_frame']['masked_engine_p50']:.0f} ms"
    )
    console.print(f"[bold green]wrote[/] {safe(paths[0], 400)} and {safe(paths[1], 400)}")


def _run(g: Any, out: Path, existed: bool, opts: dict[str, Any], command: list[str]) -> None:
    from ..eval.records import write_results
    from ..eval.runner import run_grid
    from ..eval.sanity import failed

    try:
        res = run_grid(
            g,
            out,
            executor=opts["executor"],
            resume=opts["resume"],
            threads=opts["threads"],
            command=command,
            progress=not opts["quiet"],
        )
    except KeyboardInterrupt:
        kept = len(list((out / "cells").glob("*.json")))
        err_console.print(
            f"interrupted: {kept} finished cells kept in {safe(out / 'cells')}; rerun with --resume"
        )
        raise typer.Exit(130) from None
    except BaseException:
        if not existed and not any((out / "cells").glob("*.json")):
            shutil.rmtree(out, ignore_errors=True)  # nothing finished: leave nothing behind
        raise
    write_results(out / "results.json", res)
    from ..eval.report import write_report

    report = write_report(res, out)
    _summary(res)
    console.print(f"[bold green]wrote[/] {safe(out / 'results.json', 400)} and {safe(report, 400)}")
    bad = failed(res["sanity"])
    if bad:
        for c in bad:
            err_console.print(
                f"sanity check failed: {c['check']} ({safe(c['config'])}): {safe(c['detail'], 300)}"
            )
        if opts["strict"]:
            raise typer.Exit(1)


def _summary(res: dict[str, Any]) -> None:
    worst = [r for r in res["records"] if r["mode"] == "worst"]
    eps = sorted({(r["norm"], r["eps"]) for r in worst})
    t = Table(
        "configuration",
        "clean",
        *(f"worst {n} {e * 255:.3g}/255" if n == "linf" else f"worst {n} {e:.3g}" for n, e in eps),
    )
    for c in res["configs"]:
        cells = []
        for n_, e in eps:
            r = next(
                (r for r in worst if r["config"] == c["name"] and (r["norm"], r["eps"]) == (n_, e)), None
            )
            cells.append("—" if r is None else f"{100 * r['robust_accuracy']:.1f} %")
        t.add_row(safe(c["name"]), f"{100 * c['clean_accuracy']:.1f} %", *cells)
    console.print(t)
