"""``edgeguard camera``: the robust-inference camera loop (any source, overlay, recording, events, summary).

With no arguments it runs the embedded default: the bundled stop-sign model (exported once into the
cache with bits:5 + median:3x3) on the ``synthetic:stop-sign`` drive-by, headless, recording
``edgeguard-demo.mp4`` with ``edgeguard-demo-events.jsonl`` and ``edgeguard-demo-summary.json`` beside it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..errors import ConfigError, SourceError
from ._common import console, err_console
from .app import app


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise ConfigError(f"{name} {value}: must be {'>= 0' if allow_zero else '> 0'}")


def run_camera(
    engine: Path | None = None,
    source: str | None = None,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: int | None = None,
    latency: int = 200,
    transport: str = "tcp",
    timeout: int = 5000,
    task: str | None = None,
    stage: list[str] | None = None,
    escalate: str | None = None,
    crop: str = "auto",
    top: int = 3,
    provider: str = "auto",
    display: bool = False,
    record: Path | None = None,
    events: Path | None = None,
    snapshots: Path | None = None,
    summary: Path | None = None,
    out_dir: Path | None = None,
    max_frames: int | None = None,
    duration: float | None = None,
    realtime: bool = False,
    overlay: bool = True,
    reconnect_attempts: int = 10,
    backoff: float = 0.5,
    backoff_max: float = 8.0,
) -> dict[str, Any]:
    """Everything ``edgeguard camera`` does; ``edgeguard demo`` calls it with no arguments."""
    from ..camera import default
    from ..camera.loop import Backoff, CameraLoop, LoopOptions
    from ..camera.sources import open_source
    from ..pipeline import load
    from ..preprocess import parse_crop

    for name, value in (
        ("--width", width),
        ("--height", height),
        ("--fps", fps),
        ("--max-frames", max_frames),
        ("--duration", duration),
        ("--backoff", backoff),
        ("--backoff-max", backoff_max),
    ):
        _positive(name, value)
    _positive("--reconnect-attempts", reconnect_attempts, allow_zero=True)
    if task not in (None, "classification", "detection"):
        raise ConfigError(f"--task {task!r}: expected classification or detection")
    embedded = engine is None
    if embedded:  # the README's main job: no camera, no GPU, no files needed
        source = source or default.SOURCE
        out = Path(out_dir or ".")
        record = record or out / default.RECORD
        events = events or out / default.EVENTS
        summary = summary or out / default.SUMMARY
    elif out_dir is not None:
        out = Path(out_dir)
        record, events, summary = (
            p if p is None or p.is_absolute() else out / p for p in (record, events, summary)
        )
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    opts = LoopOptions(
        max_frames=max_frames,
        duration_s=duration,
        realtime=realtime,
        crop="auto" if crop == "auto" else parse_crop(crop),
        task=task,
        record=record,
        events=events,
        snapshots=snapshots,
        summary=summary,
        display=display,
        draw_overlay=overlay,
        backoff=Backoff(initial_s=backoff, max_s=max(backoff, backoff_max), attempts=reconnect_attempts),
    )
    engine_path = default.ensure_engine(log=lambda m: err_console.print(m)) if embedded else engine
    pipe = load(
        engine_path,
        provider=provider,
        host_stages=stage or None,
        escalate=escalate,
        top=top,
        allow_slow=False,
        # A stale TensorRT plan is rebuilt from the ONNX beside it, with one line saying why.
        rebuild=lambda notice: err_console.print(notice, markup=False, highlight=False),
    )
    src = open_source(
        source if source is not None else "0",
        width=width,
        height=height,
        fps=fps,
        latency_ms=latency,
        transport=transport,
        timeout_ms=timeout,
    )
    try:
        loop = CameraLoop(pipe, src, opts, log=lambda m: err_console.print(f"[yellow]{m}[/]"))
    except Exception:
        src.close()
        raise
    console.print(
        f"[bold]edgeguard camera[/]: {src.name} → {Path(str(engine_path)).name} "
        f"({pipe.engine.provider}); Ctrl-C stops"
    )
    t0 = time.perf_counter()
    result = loop.run()
    result["run_s"] = round(time.perf_counter() - t0, 3)
    print_summary(result)
    if result.get("error"):
        raise SourceError(result["error"])
    return result


def print_summary(s: dict[str, Any]) -> None:
    """The end-of-run table (also printed after Ctrl-C / SIGTERM)."""
    fps = s["fps"]
    t = Table(title=f"camera summary — stopped by {s['stopped_by']}", show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("source", s["source"])
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
    labels = ", ".join(f"{k} {v}" for k, v in list(s["labels"].items())[:5]) or "-"
    t.add_row("labels", labels)
    t.add_row("flagged", f"{s['flagged']} (escalated {s['escalated']}); events {s['events']}")
    console.print(t)
    st = Table(title="per-stage milliseconds", show_lines=False)
    for col in ("stage", "p50", "p95", "mean"):
        st.add_column(col, justify="left" if col == "stage" else "right")
    for name, v in s["stage_ms"].items():
        st.add_row(name, *("-" if v[k] is None else f"{v[k]:.2f}" for k in ("p50", "p95", "mean")))
    console.print(st)
    for key, label in (
        ("record", "video"),
        ("events", "events"),
        ("snapshots", "snapshots"),
        ("summary", "summary"),
    ):
        if s["outputs"].get(key):
            console.print(f"{label}: {Path(s['outputs'][key]).resolve()}")


@app.command("camera")
def camera_cmd(
    engine: Path | None = typer.Option(
        None, "--engine", "-e", help="Engine (.onnx/.trt). Default: the bundled stop-sign model."
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        "-i",
        help="0 | /dev/video0 | csi://0 | rtsp://… | http://… | video file | image | folder | glob | "
        "synthetic:stop-sign[?sticker=1&frames=N&angles=0,30,-30]. "
        "Default: synthetic:stop-sign without --engine, else camera 0.",
    ),
    width: int | None = typer.Option(None, "--width", help="Capture width (cameras, synthetic)."),
    height: int | None = typer.Option(None, "--height", help="Capture height (cameras, synthetic)."),
    fps: int | None = typer.Option(None, "--fps", help="Capture frame rate (cameras, synthetic)."),
    latency: int = typer.Option(200, "--latency", help="Stream jitter buffer in ms (rtsp/http)."),
    transport: str = typer.Option("tcp", "--transport", help="RTSP transport: tcp | udp."),
    timeout: int = typer.Option(5000, "--timeout", help="Stream open/read timeout in ms."),
    task: str | None = typer.Option(
        None, "--task", help="classification | detection (must match the engine)."
    ),
    stage: list[str] = typer.Option(
        [], "--stage", "-s", help="Real-time host stage on every frame, repeatable (jpeg:75 …)."
    ),
    escalate: str | None = typer.Option(
        None, "--escalate", help="Costly stage (dip, tvm …) run only on flagged frames."
    ),
    crop: str = typer.Option(
        "auto", "--crop", help="auto (source ROI if it has one, else full frame) | resize | center | X,Y,W,H"
    ),
    top: int = typer.Option(3, "--top", "-k", help="Top-k classes shown."),
    provider: str = typer.Option(
        "auto", "--provider", help="onnxruntime provider: auto, cpu, cuda, tensorrt."
    ),
    display: bool = typer.Option(False, "--display/--headless", help="Show an OpenCV window if possible."),
    record: Path | None = typer.Option(None, "--record", help="Write the annotated video (.mp4/.avi)."),
    events: Path | None = typer.Option(None, "--events", help="JSON lines: flagged / class-changed frames."),
    snapshots: Path | None = typer.Option(None, "--snapshots", help="Folder for a JPEG per event."),
    summary: Path | None = typer.Option(None, "--summary", help="Write the end-of-run summary JSON."),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Folder for the default run's outputs (and relative paths)."
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", help="Stop after N frames."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after S seconds."),
    realtime: bool = typer.Option(
        False, "--realtime", help="Pace files/synthetic at their FPS like a camera (newest frame only)."
    ),
    overlay: bool = typer.Option(True, "--overlay/--no-overlay", help="Draw the overlay."),
    reconnect_attempts: int = typer.Option(
        10, "--reconnect-attempts", help="Consecutive failed re-opens before giving up (0 = never)."
    ),
    backoff: float = typer.Option(0.5, "--backoff", help="First reconnect delay in s (doubles, capped)."),
    backoff_max: float = typer.Option(8.0, "--backoff-max", help="Longest reconnect delay in s."),
) -> None:
    """Run a defended engine on a camera/stream/file with overlay, recording, events and an honest summary."""
    run_camera(
        engine,
        source,
        width=width,
        height=height,
        fps=fps,
        latency=latency,
        transport=transport,
        timeout=timeout,
        task=task,
        stage=stage,
        escalate=escalate,
        crop=crop,
        top=top,
        provider=provider,
        display=display,
        record=record,
        events=events,
        snapshots=snapshots,
        summary=summary,
        out_dir=out_dir,
        max_frames=max_frames,
        duration=duration,
        realtime=realtime,
        overlay=overlay,
        reconnect_attempts=reconnect_attempts,
        backoff=backoff,
        backoff_max=backoff_max,
    )
