"""``edgeguard demo`` (``make demo``): exactly the default ``edgeguard camera`` run.

The bundled stop-sign model, exported once with bits:5 + median:3x3, on the synthetic drive-by,
headless, writing ``edgeguard-demo.mp4``, ``edgeguard-demo-events.jsonl`` and
``edgeguard-demo-summary.json`` (current folder or ``--out-dir``). No camera, GPU or download needed.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import ProviderOpt, ThreadsOpt
from .app import app
from .camera import run_camera


@app.command("demo")
def demo_cmd(
    out_dir: Path | None = typer.Option(
        None,
        "--out-dir",
        help="Folder for the video, events and summary (created); a new demo run replaces the "
        "edgeguard-demo-* files an earlier one left there.",
    ),
    provider: ProviderOpt = "auto",
    threads: ThreadsOpt = 0,
) -> None:
    """The whole mission on a fresh machine: defended engine → drive-by camera loop → video, events."""
    run_camera(out_dir=out_dir, provider=provider, threads=threads)
