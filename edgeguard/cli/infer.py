"""``edgeguard infer``: classify image files through an exported engine, with per-stage timings."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import ConfigError
from ._common import console, err_console, fmt_ms
from .app import app


@app.command("infer")
def infer_cmd(
    images: list[Path] = typer.Argument(
        ..., help="Image files (jpg/png/ppm/…; gray and RGBA are converted)."
    ),
    engine: Path = typer.Option(..., "--engine", "-e", help="Engine: .onnx (or .trt/.engine/.plan)."),
    top: int = typer.Option(5, "--top", "-k", help="How many classes to print."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image on stdout."),
    provider: str = typer.Option(
        "auto", "--provider", help="onnxruntime provider: auto, cpu, cuda, tensorrt."
    ),
    stage: list[str] = typer.Option(
        [],
        "--stage",
        "-s",
        help="Host stage spec run before the engine, repeatable "
        "(tvm:keep=0.5,lam=0.03, nlm:11_3_4, jpeg:75, …). Default: the stages the manifest names.",
    ),
    escalate: str | None = typer.Option(
        None, "--escalate", help="Costly stage (dip, tvm …) run only on frames the detector flags."
    ),
    crop: str = typer.Option("resize", "--crop", help="resize | center | X,Y,W,H"),
    batch: int = typer.Option(1, "--batch", "-b", help="Images per engine call."),
) -> None:
    """Classify images through an engine; prints labels, probabilities and per-stage milliseconds."""
    from ..pipeline import load
    from ..preprocess import parse_crop

    if batch < 1:
        raise ConfigError(f"--batch {batch}: must be at least 1")
    pipe = load(
        engine,
        provider=provider,
        host_stages=stage or None,
        escalate=escalate,
        top=top,
        crop=parse_crop(crop),
        # A stale TensorRT plan is rebuilt from the ONNX beside it, with one line saying why.
        rebuild=lambda notice: err_console.print(notice, markup=False, highlight=False),
    )
    with pipe:
        pipe([images[0]])  # warm-up: first-call allocation is not what users should read as latency
        for i in range(0, len(images), batch):
            for r in pipe(images[i : i + batch]):
                if as_json:
                    print(json.dumps(r.to_dict()))
                    continue
                best = r.decision["top"][0]
                console.print(f"[bold]{r.source}[/]: {best['label']} ({best['prob']:.1%})")
                for t in r.decision["top"][1:]:
                    console.print(f"    {t['label']} ({t['prob']:.1%})")
                if "adversarial_score" in r.decision:
                    flag = "[red]FLAGGED[/]" if r.decision["flagged"] else "ok"
                    console.print(f"    adversarial score {r.decision['adversarial_score']:.4f} {flag}")
                if r.escalation:
                    console.print(
                        f"    escalated via {r.escalation['stage']}: first said "
                        f"{r.escalation['first']['top'][0]['label']}"
                    )
                console.print("    " + "  ".join(f"{k} {fmt_ms(v)}" for k, v in r.timing_ms.items()))
    if not as_json:
        console.print(f"engine: {pipe.engine.provider}; engine timing is per batch of ≤ {batch}")
