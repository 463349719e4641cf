"""``edgeguard data``: look at the procedural sign data and write image folders from it."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError
from .app import app

data_app = typer.Typer(
    help="Procedural traffic-sign data: contact sheets, image folders and calibration sets.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command("preview")
def preview(
    what: str = typer.Argument(
        "signs",
        help="signs (rendered scenes) | templates (front views) | persons (surveillance scenes, boxes) | "
        "yolo:PATH (your YOLO-layout folder: data.yaml, images/, labels/; val split, boxes drawn)",
    ),
    out: Path = typer.Option(Path("signs.png"), "--out", "-o", help="PNG to write."),
    per_class: int = typer.Option(
        10, "--per-class", min=1, help="Samples per class (one row per class); persons, yolo: frames shown."
    ),
    seed: int = typer.Option(4, help="Renderer base seed (4 = preview; 0-3 are train/val/test/calib)."),
    size: int = typer.Option(
        64, min=16, help="Rendered image side in pixels (persons, yolo: 320 when left at 64)."
    ),
    variety: str = typer.Option(
        "classic",
        help="signs, templates: how the signs are drawn: classic | wide (training variety) | unseen "
        "(held-out drawing choices, as a new user's own signs).",
    ),
) -> None:
    """Write a contact sheet of rendered signs (one row per class), or of surveillance scenes with their
    person boxes (green; orange = more than half hidden, ignored in evaluation)."""
    import numpy as np

    from ..data import LABELS, contact_sheet, save_rgb
    from ..data.looks import check_variety, draw_sign

    check_variety(variety, what="--variety")
    if variety != "classic" and what not in ("signs", "templates"):
        raise ConfigError(f"data preview {what}: --variety applies to signs and templates only")
    if what == "signs":
        sheet = contact_sheet(per_class, seed, size, variety=variety)
    elif what == "templates":
        tiles = []
        rng = np.random.default_rng(seed)
        for i in range(len(LABELS)):
            rgb, mask = draw_sign(i, 128, rng, variety)
            tile = np.full_like(rgb, 128)
            tile[mask > 0] = rgb[mask > 0]
            tiles.append(tile)
        sheet = np.concatenate(tiles, axis=1)
    elif what == "persons":
        from ..data.scene_sets import PERSONS_PREVIEW_SEED, scenes_contact_sheet

        if size < 64:
            raise ConfigError(f"data preview persons: --size must be >= 64, got {size}")
        sheet = scenes_contact_sheet(
            per_class, PERSONS_PREVIEW_SEED if seed == 4 else seed, 320 if size == 64 else size
        )
    elif what.startswith("yolo:"):  # a user's own YOLO-layout folder: its frames with their labels
        from ..data import yolo

        sheet = yolo.contact_sheet(yolo.from_spec(what), per_class, 320 if size == 64 else size)
    else:
        raise ConfigError(f"data preview: unknown {what!r} (choose signs, templates, persons or yolo:PATH)")
    typer.echo(f"wrote {save_rgb(out, sheet)} ({sheet.shape[1]}x{sheet.shape[0]})")


@data_app.command("folder")
def folder(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to fill with <class>/<NNNNN>.png."),
    per_class: int = typer.Option(20, "--per-class", min=1),
    seed: int = typer.Option(4, help="Renderer base seed (4 = preview; 0-3 are train/val/test/calib)."),
    size: int = typer.Option(64, min=16),
    variety: str = typer.Option("classic", help="How the signs are drawn: classic | wide | unseen."),
) -> None:
    """Write rendered signs as an image folder (calibration sets, ImageFolder training)."""
    from ..data import LABELS, write_image_folder
    from ..data.looks import check_variety

    write_image_folder(out, per_class, seed, size, variety=check_variety(variety, what="--variety"))
    typer.echo(f"wrote {per_class * len(LABELS)} images in {len(LABELS)} class folders under {out}")
