"""``edgeguard data calib``: render a calibration image folder for an embedded model (INT8 export).

Adds one command to the ``data`` sub-app defined in :mod:`edgeguard.cli.data`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..errors import ConfigError
from ._common import console
from .data import data_app

CALIB_SEED = 3  # renderer base seed of calibration sets: disjoint from train 0 / val 1 / test 2
GENERATORS = (
    "signs",
    "signs-resnet",
    "signs-denoise",
    "signs-resnet-denoise",
    "signs-roa",
    "signs-resnet-roa",
)


@data_app.command("calib")
def calib_cmd(
    model: str = typer.Argument("signs", help="Embedded model whose deployment data to render (signs)."),
    out: Path = typer.Option(Path("calibration/signs"), "--out", "-o", help="Output folder (NNNNN.png)."),
    count: int = typer.Option(512, "--count", "-n", min=1, help="Images (≥ 300 recommended)."),
    seed: int = typer.Option(CALIB_SEED, "--seed", help="Renderer base seed (3 = calibration)."),
) -> None:
    """Render a class-balanced calibration set at the model's input size, as PNG files.

    Use it with `edgeguard export signs --precision int8 --calib calibration/signs`.
    """
    from ..data import SignDataset, save_rgb
    from ..models.signs import SIGNS_INPUT_SIZE

    if model not in GENERATORS:
        raise ConfigError(
            f"data calib: no renderer for {model!r} (choose {', '.join(GENERATORS)}); for other models "
            "collect ≥ 300 photos from the deployment camera — see calibration/README.md"
        )
    ds = SignDataset(count, seed=seed, size=SIGNS_INPUT_SIZE[0])
    out.mkdir(parents=True, exist_ok=True)
    with console.status(f"rendering {count} calibration images …"):
        for i in range(count):
            save_rgb(out / f"{i:05d}.png", ds.render(i))
    console.print(f"wrote {count} images ({len(ds.labels)} classes, seed {seed}) to {escape(str(out))}")
