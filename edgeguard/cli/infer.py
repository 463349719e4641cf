"""``edgeguard infer``: classify (or detect in) image files through an engine, with per-stage timings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..checks import check_path
from ..errors import ConfigError, InputError
from ._common import (
    PATH_MAX,
    AgnosticOpt,
    ClassesOpt,
    ConfOpt,
    CropOpt,
    EngineOpt,
    EscalateOpt,
    IouOpt,
    MaxDetOpt,
    PlainUsage,
    ProviderOpt,
    StageOpt,
    TaskOpt,
    ThreadsOpt,
    TopOpt,
    console,
    decision_options,
    err_console,
    fmt_ms,
    safe,
)
from .app import app


@app.command("infer", cls=PlainUsage)
def infer_cmd(
    images: Annotated[
        list[Path],
        typer.Argument(metavar="IMAGES", help="Image files (jpg/png/ppm/…; gray and RGBA are converted)."),
    ],
    engine: EngineOpt,
    top: TopOpt = 5,
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per image on stdout (labels and paths in full)."
    ),
    provider: ProviderOpt = "auto",
    threads: ThreadsOpt = 0,
    stage: StageOpt = None,
    escalate: EscalateOpt = None,
    crop: CropOpt = "resize",
    batch: int = typer.Option(1, "--batch", "-b", help="Images per engine call."),
    task: TaskOpt = None,
    conf: ConfOpt = None,
    iou: IouOpt = None,
    agnostic: AgnosticOpt = False,
    classes: ClassesOpt = None,
    max_det: MaxDetOpt = None,
) -> None:
    """Classify images (or detect objects) through an engine; prints labels, scores and milliseconds.

    Labels and file names longer than 80 characters are shortened with … in the table (not in --json).
    Detection prints one line per box (label, score, x1,y1,x2,y2 in image pixels); --json gives
    {"path", "boxes": [{"xyxy", "score", "label", "index"}], "counts", "dropped", "adv_score",
    "flagged", "timing_ms"}. An engine exported with --masking adds "certified" and "masking"
    ({"label", "index", "case", "second_round", "patch"}: PatchCleanser double masking).
    """
    from ..pipeline import load
    from ..preprocess import parse_crop

    if batch < 1:
        raise ConfigError(f"--batch {batch}: must be at least 1")
    if threads < 0:
        raise ConfigError(f"--threads {threads}: must be 0 (onnxruntime's default) or more")
    for img in images:  # every path checked before the engine loads (not after 99 results)
        img = check_path(img, what="image", error=InputError)  # a 300-char name: typed, before stat
        if img.is_dir():
            raise InputError(
                f"image {str(img)!r} is a folder; pass image files (DIR/*.jpg), or run "
                f"`edgeguard camera --source DIR` on a folder"
            )
        if not img.is_file():
            raise InputError(f"image {str(img)!r} does not exist")
    pipe = load(
        engine,
        provider=provider,
        threads=threads,
        host_stages=stage or None,
        escalate=escalate,
        top=top,
        crop=parse_crop(crop),
        task=task,
        decision=decision_options(conf, iou, agnostic, classes, max_det) or None,
        # A stale TensorRT plan is rebuilt from the ONNX beside it, with one line saying why.
        rebuild=lambda notice: err_console.print(notice, markup=False, highlight=False),
    )
    for note in pipe.notes:  # what a bare YOLO file's manifest had to assume, said once
        err_console.print(f"{Path(str(engine)).name}: {note}", markup=False, highlight=False)
    with pipe:
        pipe([images[0]])  # warm-up: first-call allocation is not what users should read as latency
        for i in range(0, len(images), batch):
            for r in pipe(images[i : i + batch]):
                if as_json:
                    # allow_nan=False: NaN is not JSON; the pipeline already refuses non-finite outputs.
                    print(json.dumps(r.to_dict(), allow_nan=False), flush=True)
                    continue
                if "boxes" in r.decision:
                    _print_boxes(r)
                    continue
                best = r.decision["top"][0]
                console.print(
                    f"[bold]{safe(r.source, PATH_MAX)}[/]: {safe(best['label'])} ({best['prob']:.1%})"
                )
                for t in r.decision["top"][1:]:
                    console.print(f"    {safe(t['label'])} ({t['prob']:.1%})")
                if "adv_score" in r.decision:
                    flag = "[red]FLAGGED[/]" if r.decision["flagged"] else "ok"
                    console.print(f"    adversarial score {r.decision['adv_score']:.4f} {flag}")
                if "masking" in r.decision:  # an engine exported with --masking
                    k, cert = r.decision["masking"], r.decision["certified"]
                    word = "certified" if cert else ("NOT certified" if cert is False else "not checked")
                    console.print(
                        f"    double masking: {safe(k['label'])} ({k['case']}), {word} against one "
                        f"sticker of {k['patch']} of the face"
                    )
                if r.escalation:
                    console.print(
                        f"    escalated via {safe(r.escalation['stage'])}: first said "
                        f"{safe(r.escalation['first']['top'][0]['label'])}"
                    )
                console.print("    " + "  ".join(f"{safe(k)} {fmt_ms(v)}" for k, v in r.timing_ms.items()))
    if not as_json:
        console.print(f"engine: {safe(pipe.engine.provider)}; engine timing is per batch of ≤ {batch}")


def _print_boxes(r: object) -> None:
    """One detection result as text: a header line, then one line per box."""
    d, path = r.decision, r.source  # type: ignore[attr-defined]
    counts = ", ".join(f"{safe(k)} {v}" for k, v in d["counts"].items()) or "nothing"
    dropped = f" (dropped {d['dropped']} NaN/empty boxes)" if d.get("dropped") else ""
    console.print(f"[bold]{safe(path, PATH_MAX)}[/]: {counts}{dropped}")
    for b in d["boxes"]:
        x1, y1, x2, y2 = b["xyxy"]
        console.print(f"    {safe(b['label'])} {b['score']:.3f}  {x1:.1f},{y1:.1f},{x2:.1f},{y2:.1f}")
    if "adv_score" in d:
        flag = "[red]FLAGGED[/]" if d["flagged"] else "ok"
        console.print(f"    adversarial score {d['adv_score']:.4f} {flag}")
    console.print("    " + "  ".join(f"{safe(k)} {fmt_ms(v)}" for k, v in r.timing_ms.items()))  # type: ignore[attr-defined]
