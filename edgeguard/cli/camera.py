"""``edgeguard camera``: parse the flags into :class:`~edgeguard.camera.run.CameraOptions`, print the summary.

The run itself lives in :mod:`edgeguard.camera.run`. With no arguments it is the embedded default: the
bundled stop-sign model (exported once into the cache with bits:5 + median:3x3) on the
``synthetic:stop-sign`` drive-by past a sign carrying the shipped RP2 sticker, with the undefended
model beside it (``--compare-engine``), headless, recording ``edgeguard-demo.mp4`` with
``edgeguard-demo-events.jsonl`` and ``edgeguard-demo-summary.json`` beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..registry import DECISIONS, SOURCES
from ._common import (
    ENGINE_HELP,
    PATH_MAX,
    AgnosticOpt,
    ClassesOpt,
    ConfOpt,
    CropOpt,
    EscalateOpt,
    IouOpt,
    MaxDetOpt,
    ProviderOpt,
    StageOpt,
    ThreadsOpt,
    TopOpt,
    console,
    err_console,
    safe,
)
from .app import app


def run_camera(**options: Any) -> dict[str, Any]:
    """Run the camera loop with ``CameraOptions(**options)``, print its summary; exit 2 if the source failed.

    ``edgeguard demo`` calls this with no arguments (the embedded default run).
    """
    from ..camera.run import CameraOptions, raise_on_error
    from ..camera.run import run_camera as run

    result = run(
        CameraOptions(**options),
        log=lambda m: err_console.print(f"[yellow]{safe(m, 400)}[/]"),
        announce=lambda m: console.print(f"[bold]edgeguard camera[/]: {safe(m, 400)}"),
    )
    print_summary(result)
    raise_on_error(result)
    return result


def print_summary(s: dict[str, Any]) -> None:
    """The end-of-run table (also printed after Ctrl-C / SIGTERM)."""
    fps = s["fps"]
    t = Table(title=f"camera summary — stopped by {safe(s['stopped_by'])}", show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("source", safe(s["source"], PATH_MAX))
    if s.get("engine_config"):
        t.add_row("engine", safe(s["engine_config"], PATH_MAX))
    attack = s.get("attack") or {}
    if attack.get("compare"):
        t.add_row("compared with", safe(attack["compare"]["engine"], PATH_MAX))
    t.add_row(
        "frames",
        f"{s['frames']}  (dropped {s['dropped']}, empty {s['empty']}, "
        f"reconnects {s['reconnects']}/{s['disconnects']} drops)",
    )
    e2e = "-" if fps["end_to_end"] is None else f"{fps['end_to_end']:.1f}"
    eng = "-" if fps["engine_only"] is None else f"{fps['engine_only']:.1f}"
    t.add_row("FPS", f"end-to-end {e2e}  |  engine-only {eng}  (engine = network alone)")
    lat = s["latency_ms"]
    if lat["p50"] is not None:
        t.add_row("latency", f"capture→result p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms")
    labels = ", ".join(f"{safe(k)} {v}" for k, v in list(s["labels"].items())[:5]) or "-"
    t.add_row("labels", labels)
    if s.get("detection"):
        d = s["detection"]
        objects = ", ".join(f"{safe(k)} {v}" for k, v in list(d["objects"].items())[:8]) or "-"
        extra = f"tracks {d['tracks']}, vanished {d['vanished']}, dropped boxes {d['dropped_boxes']}"
        t.add_row("objects", f"{objects}  ({extra})")
    t.add_row("flagged", f"{s['flagged']} (escalated {s['escalated']}); events {s['events']}")
    budget = s.get("pipeline") or {}
    if budget.get("stages"):
        parts = [
            f"{safe(k)} {v['mean']:.2f}" for k, v in budget["stages"].items() if v.get("mean") is not None
        ]
        eff = budget.get("efficiency")
        tail = f"; end-to-end = {eff:.0%} of the slowest ({safe(budget['slowest'])})" if eff else ""
        t.add_row("stage budget", "ms/frame " + ", ".join(parts) + tail)
    console.print(t)
    st = Table(title="per-stage milliseconds", show_lines=False)
    for col in ("stage", "p50", "p95", "mean"):
        st.add_column(col, justify="left" if col == "stage" else "right")
    for name, v in s["stage_ms"].items():
        st.add_row(safe(name), *("-" if v[k] is None else f"{v[k]:.2f}" for k in ("p50", "p95", "mean")))
    console.print(st)
    for key, label in (
        ("record", "video"),
        ("events", "events"),
        ("snapshots", "snapshots"),
        ("summary", "summary"),
    ):
        if s["outputs"].get(key):
            console.print(f"{label}: {escape_path(s['outputs'][key])}")
    from ..camera.compare import summary_lines

    for line in summary_lines(attack):  # the last lines: what the sticker did to each engine
        console.print(f"[bold]{safe(line, PATH_MAX)}[/]")


def escape_path(path: str) -> str:
    """An output path in full (users copy it), markup escaped."""
    return safe(Path(path).resolve(), PATH_MAX)


@app.command("camera")
def camera_cmd(
    engine: str | None = typer.Option(  # str: a triton://HOST:8001/MODEL URI keeps its "//"
        None, "--engine", "-e", help=f"{ENGINE_HELP} Default: the bundled stop-sign model."
    ),
    compare_engine: str | None = typer.Option(
        None,
        "--compare-engine",
        help="A second engine run on every frame beside --engine, drawn next to it and counted in the "
        "summary (frames a sticker fooled each). Default: the undefended bundled model in the default "
        "run, none otherwise; 'none' turns it off.",
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        "-i",
        help=SOURCES.help("Frame source.", "Default: synthetic:stop-sign without --engine, else camera 0."),
    ),
    width: int | None = typer.Option(None, "--width", help="Capture width (cameras, synthetic)."),
    height: int | None = typer.Option(None, "--height", help="Capture height (cameras, synthetic)."),
    fps: int | None = typer.Option(None, "--fps", help="Capture frame rate (cameras, synthetic)."),
    latency: int = typer.Option(200, "--latency", help="Stream jitter buffer in ms (rtsp/http)."),
    transport: str = typer.Option("tcp", "--transport", help="RTSP transport: tcp | udp."),
    timeout: int = typer.Option(5000, "--timeout", help="Stream open/read timeout in ms."),
    task: str | None = typer.Option(
        None,
        "--task",
        help=DECISIONS.help(
            "Task the engine must have been exported for (checked against its manifest; detect = "
            "detection). For a bare ONNX file without a manifest (a YOLO export): how to read it."
        ),
    ),
    conf: ConfOpt = None,
    iou: IouOpt = None,
    agnostic: AgnosticOpt = False,
    classes: ClassesOpt = None,
    max_det: MaxDetOpt = None,
    stage: StageOpt = None,
    escalate: EscalateOpt = None,
    crop: CropOpt = "auto",
    top: TopOpt = 3,
    provider: ProviderOpt = "auto",
    threads: ThreadsOpt = 0,
    display: bool = typer.Option(False, "--display/--headless", help="Show an OpenCV window if possible."),
    record: Path | None = typer.Option(
        None, "--record", help="Write the annotated video (.mp4/.avi); an existing file needs --overwrite."
    ),
    events: Path | None = typer.Option(
        None,
        "--events",
        help="JSON lines: flagged / class-changed frames, flushed per line; an existing file is "
        "appended to (--overwrite starts it afresh).",
    ),
    snapshots: Path | None = typer.Option(
        None,
        "--snapshots",
        help="Folder for a JPEG per event; one holding frame_*.jpg already needs --overwrite.",
    ),
    summary: Path | None = typer.Option(
        None, "--summary", help="Write the end-of-run summary JSON; an existing file needs --overwrite."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace an existing --record, --summary and snapshots, and start --events afresh. "
        "Without it they are refused before anything runs (the default run replaces only its own "
        "edgeguard-demo-* files).",
    ),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Folder for the default run's outputs (and relative paths); created."
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", help="Stop after N frames."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after S seconds."),
    realtime: bool = typer.Option(
        False, "--realtime", help="Pace files/synthetic at their FPS like a camera (newest frame only)."
    ),
    overlay: bool = typer.Option(True, "--overlay/--no-overlay", help="Draw the overlay."),
    reconnect_attempts: int = typer.Option(
        10,
        "--reconnect-attempts",
        help="Consecutive failed re-opens of a dropped camera/stream before giving up "
        "(0 = do not reconnect, -1 = retry forever).",
    ),
    backoff: float = typer.Option(0.5, "--backoff", help="First reconnect delay in s (doubles, capped)."),
    backoff_max: float = typer.Option(8.0, "--backoff-max", help="Longest reconnect delay in s."),
) -> None:
    """Run a defended engine on a camera/stream/file with overlay, recording, events and an honest summary."""
    run_camera(
        engine=engine,
        compare_engine=compare_engine,
        source=source,
        width=width,
        height=height,
        fps=fps,
        latency=latency,
        transport=transport,
        timeout_ms=timeout,
        task=task,
        stages=list(stage or []),
        escalate=escalate,
        crop=crop,
        top=top,
        provider=provider,
        threads=threads,
        display=display,
        record=record,
        events=events,
        snapshots=snapshots,
        summary=summary,
        out_dir=out_dir,
        overwrite=overwrite,
        max_frames=max_frames,
        duration=duration,
        realtime=realtime,
        overlay=overlay,
        reconnect_attempts=reconnect_attempts,
        backoff=backoff,
        backoff_max=backoff_max,
        conf=conf,
        iou=iou,
        agnostic=agnostic,
        classes=classes,
        max_det=max_det,
    )
