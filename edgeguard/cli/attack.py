"""``edgeguard attack rp2`` (an RP2 sticker for the stop sign) and ``edgeguard attack patch`` (a
person-hiding patch for a detector), each written as a PNG.

Writes ``--out`` (RGBA: the sticker's black/white pixels, alpha 255 on the sticker and 0 elsewhere,
in sign-face coordinates), ``<out>.stickered.png`` (the stop sign's face wearing it) and
``<out>.json`` (mask geometry, colours, attack spec, seed, configuration and the success measured
over fresh viewing conditions). Every option is checked before anything is computed; files appear
all together (temp names, renamed when complete).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import typer
from rich.markup import escape

from ..errors import ConfigError
from ._common import console
from .app import app

attack_app = typer.Typer(
    help="Physical attacks that write an artefact (a printable sticker).",
    no_args_is_help=True,
)
app.add_typer(attack_app, name="attack")


def sidecars(out: Path) -> tuple[Path, Path]:
    """The JSON record and the stickered-face preview written beside ``out``."""
    return out.with_suffix(".json"), out.with_name(out.stem + ".stickered.png")


@attack_app.command("rp2")
def rp2_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Sticker PNG to write (RGBA, sign-face pixels)."),
    model: str = typer.Option("signs", "--model", "-m", help="Registry model (signs) or ENGINE.onnx."),
    defense: list[str] = typer.Option([], "--defense", "-d", help="In-graph defense spec (repeatable)."),
    stage: list[str] = typer.Option([], "--stage", help="Host stage spec (repeatable)."),
    detector: str | None = typer.Option(
        None, "--detector", help="Squeeze detector spec (adaptive: stay under τ)."
    ),
    target: str | None = typer.Option(
        None, "--target", "-t", help="Target label or index (default: untargeted)."
    ),
    mask: str = typer.Option(
        "bars", "--mask", help="bars, square, l1, or rectangles x0:y0:x1:y1+… (face fractions)."
    ),
    colours: str = typer.Option("bw", "--colours", help="bw (black/white) or palette (printable inks, NPS)."),
    steps: int = typer.Option(200, "--steps", help="Gradient steps (white-box)."),
    eot: int = typer.Option(8, "--eot", help="Viewing conditions per gradient step."),
    query: int = typer.Option(0, "--query", help="Query-only search with this many queries (0: gradients)."),
    views: int = typer.Option(200, "--views", help="Fresh viewing conditions the sticker is measured on."),
    seed: int = typer.Option(0, "--seed", help="Seeds every random draw (same seed, same sticker)."),
    masking: float | None = typer.Option(
        None,
        "--masking",
        help="Attack certified masking with this patch side (its mask set); engines: from the manifest.",
    ),
) -> None:
    """Optimise a black-and-white sticker on the stop sign (RP2, Eykholt et al. CVPR'18) that makes
    the deployed model misread it across viewing conditions; write it with a JSON record."""
    from .. import attacks
    from ..eval import Config
    from ..eval import sticker as sticker_run
    from ..outputs import OutputGroup

    if not str(out).lower().endswith(".png"):
        raise ConfigError(f"--out {str(out)!r}: the sticker is written as PNG (name it *.png)")
    for key, v, lo in (("--steps", steps, 1), ("--eot", eot, 1), ("--query", query, 0)):
        if v < lo:
            raise ConfigError(f"attack rp2: {key} must be >= {lo}, got {v}")
    # the attack's own validation (mask syntax, colours, eot range) before anything runs
    if query:
        attacks.create("rp2-query", mask=mask, target=target, queries=query)
    else:
        attacks.create("rp2", mask=mask, target=target, steps=steps, eot=eot, colours=colours)
    config = Config(
        name="+".join([Path(model).name, *defense, *stage]),
        model=model,
        defenses=tuple(defense),
        stages=tuple(stage),
        detector=detector,
    )
    _, side, _, _ = sticker_run.check_plan(config, target=target, mask=mask)
    sticker_run.mask_set_for(config, masking, side)
    meta_path, preview_path = sidecars(out)
    group = OutputGroup(
        [out, meta_path, preview_path], what=["--out", "--out (.json)", "--out (.stickered.png)"]
    )
    with console.status("optimising the sticker …"):
        result = sticker_run.run(
            config,
            target=target,
            mask=mask,
            colours=colours,
            steps=steps,
            eot=eot,
            query=query,
            views=views,
            seed=seed,
            masking=masking,
        )
    with group:
        ok1, png = cv2.imencode(".png", cv2.cvtColor(result.rgba, cv2.COLOR_RGBA2BGRA))
        ok2, prev = cv2.imencode(".png", cv2.cvtColor(result.stickered, cv2.COLOR_RGB2BGR))
        if not (ok1 and ok2):
            raise ConfigError("attack rp2: PNG encoding failed")
        group.write_bytes(out, png.tobytes())
        group.write_bytes(preview_path, prev.tobytes())
        group.write_text(meta_path, json.dumps(result.meta, indent=2) + "\n")
        group.commit()
    m = result.meta["measured"]
    tgt = f", target {result.meta['target']['label']!r} {m['targeted']:.0%}" if result.meta["target"] else ""
    console.print(
        f"wrote {escape(str(out))} (+ .json, .stickered.png): fooled {m['fooled']:.0%} of {m['views']} "
        f"fresh views{tgt}, flagged {m['flagged']:.0%} — measured on {m['on']}"
    )


@attack_app.command("patch")
def patch_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Patch PNG to write (RGB, patch pixels)."),
    model: str = typer.Option("persons", "--model", "-m", help="Registry detector (persons) or ENGINE.onnx."),
    defense: list[str] = typer.Option([], "--defense", "-d", help="In-graph defense spec (repeatable)."),
    stage: list[str] = typer.Option([], "--stage", help="Host stage spec (repeatable)."),
    detector: str | None = typer.Option(
        None, "--detector", help="Squeeze detector spec (adaptive: stay under τ)."
    ),
    scale: float = typer.Option(0.25, "--scale", help="Patch side as a fraction of the person's height."),
    steps: int = typer.Option(300, "--steps", help="Adam steps (white-box)."),
    query: int = typer.Option(0, "--query", help="Query-only search with this many queries (0: gradients)."),
    naive: bool = typer.Option(
        False, "--naive", help="Fit on the bare detector (default: adaptive, through the defenses)."
    ),
    fit: int = typer.Option(200, "--fit", help="Rendered scenes the patch is fitted on."),
    test: int = typer.Option(200, "--test", help="Held-out scenes it is measured on."),
    seed: int = typer.Option(0, "--seed", help="Seeds every random draw (same seed, same patch)."),
) -> None:
    """Optimise a printable patch worn on people's torsos (Thys et al. 2019) that hides them from the
    deployed person detector; write it with a JSON record (recall clean / random patch / patch) and a
    grid of example detections."""
    from .. import attacks
    from ..eval import Config, person_patch
    from ..outputs import OutputGroup

    if not str(out).lower().endswith(".png"):
        raise ConfigError(f"--out {str(out)!r}: the patch is written as PNG (name it *.png)")
    for key, v, lo in (("--steps", steps, 1), ("--query", query, 0), ("--fit", fit, 1), ("--test", test, 1)):
        if v < lo:
            raise ConfigError(f"attack patch: {key} must be >= {lo}, got {v}")
    if query:
        attacks.create("patch-query", scale=scale, queries=query)
    else:
        attacks.create("patch", scale=scale, steps=steps)
    config = Config(
        name="+".join([Path(model).name, *defense, *stage]),
        model=model,
        defenses=tuple(defense),
        stages=tuple(stage),
        detector=detector,
    )
    labels, _ = person_patch.detector_facts(config)
    person_patch.person_class(labels, config.name)
    meta_path, examples_path = out.with_suffix(".json"), out.with_name(out.stem + ".examples.png")
    group = OutputGroup(
        [out, meta_path, examples_path], what=["--out", "--out (.json)", "--out (.examples.png)"]
    )
    mode = "query" if query else ("naive" if naive else "adaptive")
    with console.status("optimising the patch …"):
        result = person_patch.run(
            config, mode=mode, scale=scale, steps=steps, queries=query, fit=fit, test=test, seed=seed
        )
    with group:
        rgb = (result.patch.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
        ok1, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        ok2, ex = cv2.imencode(".png", cv2.cvtColor(result.examples, cv2.COLOR_RGB2BGR))
        if not (ok1 and ok2):
            raise ConfigError("attack patch: PNG encoding failed")
        group.write_bytes(out, png.tobytes())
        group.write_bytes(examples_path, ex.tobytes())
        group.write_text(meta_path, json.dumps(result.meta, indent=2) + "\n")
        group.commit()
    m = result.meta["measured"]
    console.print(
        f"wrote {escape(str(out))} (+ .json, .examples.png): person recall clean {m['clean']['recall']:.0%}, "
        f"random patch {m['random']['recall']:.0%}, patch {m['patch']['recall']:.0%} "
        f"({m['patch']['people']} people, {result.meta['test']['scenes']} held-out scenes), "
        f"measured on {m['on']}"
    )
