"""``edgeguard models``: what `edgeguard export MODEL` accepts."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ._common import console
from .app import app


@app.command("models")
def models_cmd(
    all_torchvision: bool = typer.Option(False, "--all", help="Also list every torchvision classifier name."),
) -> None:
    """List the embedded edgeguard models (shipped weights) and torchvision classifier names."""
    from .. import models

    t = Table("name", "input", "classes", "weights", title="edgeguard models")
    for e in models.REGISTRY:
        x = e.extra
        w = x.get("default_weights")
        t.add_row(
            e.name,
            "x".join(str(s) for s in x.get("input_size", ())),
            str(len(x.get("labels") or [])),
            Path(w).name if w else "random",
        )
    console.print(t)
    tv = models._torchvision_names()
    if all_torchvision:
        console.print(" ".join(tv))
    else:
        console.print(
            f"+ {len(tv)} torchvision classifiers (random init unless --weights), e.g. "
            f"resnet50, resnet18, mobilenet_v3_large, efficientnet_b0 — `--all` lists them"
        )
