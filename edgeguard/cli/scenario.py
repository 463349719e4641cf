"""``edgeguard scenario …``: end-to-end scenario evaluations with a report.

This module creates the ``scenario`` sub-app and its ``stop-sign`` command; another scenario adds its
command to the same sub-app from its own CLI module (``from .scenario import scenario_app`` then
``@scenario_app.command("surveillance")``), listed after ``scenario`` in ``app._COMMANDS``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import err_console, safe
from .app import app

scenario_app = typer.Typer(
    help="End-to-end scenarios: a threat, the defenses, measured numbers and a report.",
    no_args_is_help=True,
)
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("stop-sign")
def stop_sign(
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output folder: results.json, report.md, frames.png, "
        "driveby.mp4 (stickers and engines cached in OUT/stickers, OUT/engines: a rerun resumes).",
    ),
    quick: bool = typer.Option(
        False,
        "--quick",
        help="All configurations with fewer frames and a smaller "
        "attack budget (a few minutes on 2 CPU cores); the report states n.",
    ),
    condition: list[str] = typer.Option(
        [],
        "--condition",
        help="Seed 004 condition, repeatable: 5ft-0deg, "
        "5ft-15deg, 10ft-0deg, 10ft-30deg, 40ft-0deg (default: all).",
    ),
    config: list[str] = typer.Option(
        [], "--config", help="Configuration name, repeatable (default: all; see README 'Stop-sign scenario')."
    ),
    n: int = typer.Option(None, "--n", help="Frames per condition (default 50; --quick 8)."),
    approach: int = typer.Option(
        None, "--approach", help="Frames of the drive-by approach (default 90; --quick 24; 0: none)."
    ),
    mask: str = typer.Option(
        "bars", "--mask", help="Sticker mask: bars, square, or x0:y0:x1:y1+… on the face."
    ),
    patch: float = typer.Option(
        0.25, "--patch", help="Certified masking: sticker side / face side, 0 < patch < 1."
    ),
    target: str = typer.Option(
        None,
        "--target",
        help="Targeted stickers (a label); default untargeted, "
        "targeted success counted against 'speed limit 80'.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the attacks and the viewing conditions."),
) -> None:
    """Seed 004's drive-by: RP2 stickers (naive, adaptive, query) on a stop sign through every configuration."""  # noqa: E501
    from ..scenario.stop_sign import RESULTS, options, run

    opts = options(
        out=out, quick=quick, conditions=tuple(condition), configs=tuple(config), n=n, approach=approach,
        mask=mask, patch=patch, target=target, seed=seed,
        command=["edgeguard", "scenario", "stop-sign", *__import__("sys").argv[3:]],
    )  # fmt: skip
    results = run(opts, log=lambda s: err_console.print(safe(s)))
    err_console.print(
        f"best_realtime: {results['best_realtime']}; best_cheap: {results['best_cheap']}; "
        f"wrote {safe(str(out / RESULTS))} and report.md, frames.png, driveby.mp4"
    )
