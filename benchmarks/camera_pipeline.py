"""Pipelined camera loop: end-to-end throughput vs the slowest stage timed alone (issue #16).

The loop runs capture, inference and overlay + recording as concurrent stages. Its target: end-to-end
FPS ≥ 0.8 × the FPS of its slowest stage when that stage runs *alone* (not inside the loop, where the
stages share the CPU). This script measures, on the default sign engine (bits:5 + median:3x3 + squeeze
detector) and the ``synthetic:stop-sign`` drive-by at 640×480 with the overlay drawn and an MP4
recorded:

* each stage alone, over the same frames: **capture** (render + clean a synthetic frame),
  **inference** (the pipeline on the sign's ROI), **output** (overlay + MP4 write of the result);
* the **loop** end to end (``CameraLoop`` with overlay and recording), and its ``pipeline`` budget;
* both with the demo's comparison engine (undefended ``signs``) in the inference stage too.

* **RTSP**: the loop on a real stream (a GStreamer RTSP server on the loopback address serving 320×240
  MJPEG at 30 FPS, ``tests/camera/rtsp_server.py`` under the system Python): capture → result latency
  p50/p95 and frames dropped as stale; skipped, saying why, when the server cannot run.

Rounds alternate alone/loop measurements (``--rounds``) so a change in machine load hits both; the
median of the per-round ratios is reported with the machine's load average (2 shared cores here).
Writes ``benchmarks/results/camera_pipeline.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
SPEC = "synthetic:stop-sign?sticker=stop-bars&frames={n}"


def capture_alone(n: int) -> tuple[float, list[Any]]:
    """FPS of reading + cleaning ``n`` synthetic frames; returns the frames with their ROIs."""
    from edgeguard.camera.sources import clean_frame, open_source

    src = open_source(SPEC.format(n=n))
    frames = []
    t0 = time.perf_counter()
    while (raw := src.read()) is not None:
        frames.append((clean_frame(raw), src.roi))
    dt = time.perf_counter() - t0
    src.close()
    return n / dt, frames


def inference_alone(pipe: Any, compare: Any | None, frames: list[Any]) -> tuple[float, list[Any]]:
    """FPS of the inference stage (pipeline, + comparison engine) on the frames' ROIs."""
    from edgeguard.camera.channel import Frame
    from edgeguard.camera.infer import Inference

    stage = Inference(pipe, compare, "auto", auto_roi=True)
    stage.warmup()
    items = [Frame(img.copy(), i, time.perf_counter(), roi) for i, (img, roi) in enumerate(frames)]
    t0 = time.perf_counter()
    results = [stage(f) for f in items]
    return len(items) / (time.perf_counter() - t0), results


def output_alone(results: list[Any], tmp: Path, compare: bool) -> float:
    """FPS of the output stage (overlay + MP4 recording + statistics) on inferred frames."""
    import threading

    from edgeguard.camera.compare import Tally
    from edgeguard.camera.outputs import RunOutputs
    from edgeguard.camera.present import Presenter
    from edgeguard.camera.stats import RunStats

    out = RunOutputs(record=tmp / "alone.mp4", fps=30.0, overwrite=("record",))
    stats = RunStats()
    stats.start()
    present = Presenter(
        draw_overlay=True,
        threshold=0.5,
        recorder=out.recorder,
        window=None,
        snapshots=None,
        event=lambda r: None,
        stop=lambda reason: None,
        stats=stats,
        lock=threading.Lock(),
        watch=None,
        auto_roi=True,
        tally=Tally("stop", "stop-bars", "signs" if compare else None),
        titles=("defended: default", "undefended: signs") if compare else None,
    )
    t0 = time.perf_counter()
    for r in results:
        present(r)
    out.recorder.close()  # finalising the MP4 is part of the stage's work
    dt = time.perf_counter() - t0
    out.abort()
    return len(results) / dt


THREADS = {"n": 0}  # onnxruntime intra-op threads for every pipeline here (--threads)


def loop_run(engine: Path, compare_engine: Path | None, n: int, tmp: Path) -> dict[str, Any]:
    from edgeguard.camera.loop import CameraLoop, LoopOptions
    from edgeguard.camera.sources import open_source
    from edgeguard.pipeline import load

    compare = load(compare_engine, top=3, threads=THREADS["n"]) if compare_engine else None
    loop = CameraLoop(
        load(engine, top=3, threads=THREADS["n"]),
        open_source(SPEC.format(n=n)),
        LoopOptions(record=tmp / "loop.mp4", events=tmp / "loop.jsonl", overwrite=("record", "events")),
        compare=compare,
    )
    return loop.run()


def measure(engine: Path, compare_engine: Path | None, n: int, rounds: int, tmp: Path) -> dict[str, Any]:
    from edgeguard.pipeline import load

    per_round = []
    for _ in range(rounds):
        cap_fps, frames = capture_alone(n)
        compare = load(compare_engine, top=3, threads=THREADS["n"]) if compare_engine else None
        with load(engine, top=3, threads=THREADS["n"]) as pipe, compare or contextlib.nullcontext():
            inf_fps, results = inference_alone(pipe, compare, frames)
        out_fps = output_alone(results, tmp, compare_engine is not None)
        alone = {"capture": cap_fps, "inference": inf_fps, "output": out_fps}
        slowest = min(alone, key=lambda k: alone[k])
        s = loop_run(engine, compare_engine, n, tmp)
        e2e = s["fps"]["end_to_end"]
        per_round.append(
            {
                "alone_fps": {k: round(v, 1) for k, v in alone.items()},
                "slowest_alone": slowest,
                "loop_fps": e2e,
                "ratio_to_slowest_alone": round(e2e / alone[slowest], 3),
                "engine_only_fps": s["fps"]["engine_only"],
                "e2e_over_engine": s["fps"]["ratio"],
                "in_loop_budget": s["pipeline"],
                "latency_ms": s["latency_ms"],
                "load_1min": round(os.getloadavg()[0], 2),
            }
        )
    ratios = [r["ratio_to_slowest_alone"] for r in per_round]
    return {
        "frames": n,
        "rounds": per_round,
        "ratio_to_slowest_alone_median": round(statistics.median(ratios), 3),
        "target": 0.8,
    }


def rtsp_latency(engine: Path, frames: int) -> dict[str, Any]:
    """The default engine with overlay on a live RTSP stream: latency, FPS, stale frames dropped."""
    import socket
    import subprocess

    from edgeguard.camera.loop import CameraLoop, LoopOptions
    from edgeguard.camera.sources import open_source
    from edgeguard.pipeline import load

    server = Path(__file__).resolve().parent.parent / "tests" / "camera" / "rtsp_server.py"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    try:
        proc = subprocess.Popen(
            ["/usr/bin/python3", str(server), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        return {"skipped": f"no system Python for the RTSP server ({exc})"}
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            return {
                "skipped": f"RTSP server did not start: {(proc.stderr.read() if proc.stderr else '')[-300:]}"
            }
        s = CameraLoop(
            load(engine, top=3, threads=THREADS["n"]),
            open_source(f"rtsp://127.0.0.1:{port}/cam"),
            LoopOptions(max_frames=frames, crop="resize"),
        ).run()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    return {
        "stream": "320x240 MJPEG/RTP at 30 FPS over TCP, loopback",
        "frames": s["frames"],
        "dropped_stale": s["dropped"],
        "fps": s["fps"],
        "latency_ms": s["latency_ms"],
        "in_loop_budget": s["pipeline"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=240, help="frames per measurement (default 240)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating alone/loop rounds (default 3)")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = its default)")
    ap.add_argument("--out", type=Path, default=RESULTS / "camera_pipeline.json")
    args = ap.parse_args(argv if argv is not None else [])

    import onnxruntime

    from edgeguard.camera import default

    def log(m: str) -> None:
        print(f"[camera_pipeline] {m}", file=sys.stderr)

    THREADS["n"] = args.threads
    engine = default.ensure_engine(log=log)
    bare = default.ensure_engine(log=log, spec=default.UNDEFENDED)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result: dict[str, Any] = {
            "command": "python benchmarks/camera_pipeline.py " + " ".join(argv or []),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                "load_1min_at_start": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
                "onnxruntime": onnxruntime.__version__,
                "provider": "CPUExecutionProvider",
            },
            "engine": engine.name,
            "onnxruntime_threads": args.threads,
            "frame_size": [640, 480],
            "outputs": "overlay drawn + MP4 recorded + events",
            "default_engine": measure(engine, None, args.frames, args.rounds, tmp),
            "with_undefended_comparison": measure(engine, bare, args.frames, args.rounds, tmp),
            "rtsp": rtsp_latency(engine, 150),
        }
    result["seconds"] = round(time.time() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
