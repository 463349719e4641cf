"""``edgeguard scenario surveillance``: the person-hiding patch through every detector configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ._common import err_console, safe
from .scenario import scenario_app


@scenario_app.command("surveillance")
def surveillance(
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output folder: results.json, report.md, examples.png (patches and engines cached in "
        "OUT/patches, OUT/engines: a rerun resumes).",
    ),
    quick: bool = typer.Option(
        False,
        "--quick",
        help="Fewer scenes (24 held out, 32 to fit) and 40 fitting steps; the report states n.",
    ),
    config: list[str] = typer.Option(
        [],
        "--config",
        help="Configuration name, repeatable (default: all; undefended, bits+median, squeeze).",
    ),
    n: int = typer.Option(None, "--n", help="Held-out scenes (default 200; --quick 24)."),
    fit: int = typer.Option(
        None, "--fit", help="Scenes the patches are fitted on (default 200; --quick 32)."
    ),
    steps: int = typer.Option(None, "--steps", help="Adam steps per patch (default 300; --quick 40)."),
    query: int = typer.Option(
        0, "--query", help="Also a query-only patch per configuration (this many queries)."
    ),
    scale: float = typer.Option(0.25, "--scale", help="Patch side as a fraction of the person's height."),
    seed: int = typer.Option(0, "--seed", help="Seed of the patches and the conditions."),
) -> None:
    """Seed 004's surveillance threat: a printed patch (Thys et al.) hides people from the person
    detector; naive, adaptive and random patches through each configuration, with recall, AP, flags
    and latency."""
    from ..scenario.surveillance import RESULTS, options, run

    opts = options(
        out=out, quick=quick, configs=tuple(config), n=n, fit=fit, steps=steps, queries=query, scale=scale,
        seed=seed, command=["edgeguard", "scenario", "surveillance", *sys.argv[3:]],
    )  # fmt: skip
    results = run(opts, log=lambda s: err_console.print(safe(s)))
    from ..scenario.surveillance_report import best

    b = best(results)
    pick = "none" if b is None else f"{b['config']} (worst caught {b['worst_caught']:.0%})"
    err_console.print(
        f"best within 1.2x latency: {pick}; wrote {safe(str(out / RESULTS))}, report.md, examples.png"
    )
