"""One ``edgeguard camera`` run as a library call: typed options → validated → engine + source → loop.

The CLI (``edgeguard/cli/camera.py``) only parses its flags into :class:`CameraOptions` and prints the
summary :func:`run_camera` returns; ``edgeguard demo`` is ``run_camera(CameraOptions())``. Every option
is checked (:meth:`CameraOptions.validate`) before the engine loads, the source opens or any output is
touched, so a bad flag never costs an existing file (issue #10).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..checks import check_path
from ..errors import ConfigError, SourceError
from . import default
from .channel import Backoff
from .loop import CameraLoop, LoopOptions
from .outputs import OUTPUTS, RunOutputs

Log = Callable[[str], None]
TASKS = ("classification", "detection", "detect")
FOREVER = -1  # --reconnect-attempts -1: retry until the source is back or the run is stopped


@dataclass
class CameraOptions:
    """Everything ``edgeguard camera`` takes; defaults are the CLI's. ``engine=None`` = the embedded demo.

    Attributes mirror the flags: ``stages`` = ``--stage`` (repeatable), ``timeout_ms`` = ``--timeout``,
    ``reconnect_attempts`` = consecutive failed re-opens before giving up (0 = do not reconnect,
    -1 = forever). ``overwrite``: replace an existing record/summary/snapshots and start the events
    afresh (otherwise those are refused and the events appended). The embedded default run replaces
    its own ``edgeguard-demo-*`` files (the names it chose), never a file the user named.
    """

    engine: Path | str | None = None  # a file, or a URI such as triton://HOST:8001/MODEL
    # a second engine run on every frame beside ``engine`` and drawn next to it; the default run
    # compares with the undefended bundled model; "none" turns the comparison off
    compare_engine: Path | str | None = None
    source: str | None = None
    width: int | None = None
    height: int | None = None
    fps: int | None = None
    latency: int = 200
    transport: str = "tcp"
    timeout_ms: int = 5000
    task: str | None = None
    stages: list[str] = field(default_factory=list)
    escalate: str | None = None
    crop: str = "auto"
    top: int = 3
    provider: str = "auto"
    threads: int = 0
    display: bool = False
    record: Path | None = None
    events: Path | None = None
    snapshots: Path | None = None
    summary: Path | None = None
    out_dir: Path | None = None
    overwrite: bool = False
    max_frames: int | None = None
    duration: float | None = None
    realtime: bool = False
    overlay: bool = True
    reconnect_attempts: int = 10
    backoff: float = 0.5
    backoff_max: float = 8.0
    conf: float | None = None
    iou: float | None = None
    agnostic: bool = False
    classes: str | None = None
    max_det: int | None = None

    def decision_options(self) -> dict[str, Any] | None:
        """The detection options given (unset ones keep the decision's defaults), or None."""
        given = {
            "conf": self.conf,
            "iou": self.iou,
            "agnostic": self.agnostic or None,
            "classes": self.classes,
            "max_det": self.max_det,
        }
        return {k: v for k, v in given.items() if v is not None} or None

    def validate(self) -> None:
        """Check every value that needs no engine or source; raise ConfigError naming the flag."""
        for name, value in (
            ("--width", self.width),
            ("--height", self.height),
            ("--fps", self.fps),
            ("--max-frames", self.max_frames),
            ("--top", self.top),
            ("--timeout", self.timeout_ms),
        ):
            _positive_int(name, value)
        _positive_int("--threads", self.threads, allow_zero=True)
        _positive_int("--latency", self.latency, allow_zero=True)
        for name, value in (
            ("--duration", self.duration),
            ("--backoff", self.backoff),
            ("--backoff-max", self.backoff_max),
        ):
            _positive_float(name, value)
        if not isinstance(self.reconnect_attempts, int) or self.reconnect_attempts < FOREVER:
            raise ConfigError(
                f"--reconnect-attempts {self.reconnect_attempts}: expected 0 (do not reconnect), "
                f"N > 0 attempts, or -1 (retry forever)"
            )
        if self.task not in (None, *TASKS):
            raise ConfigError(f"--task {self.task!r}: expected {', '.join(TASKS)}")
        if self.decision_options():  # conf/iou ranges, max_det, class names' form: before any file
            from ..detection import detection

            detection(**self.decision_options())  # type: ignore[arg-type]
        if self.transport not in ("tcp", "udp"):
            raise ConfigError(f"--transport {self.transport!r}: expected tcp or udp")
        crop_mode(self.crop)
        other = self.compare_engine
        if other is not None and str(other) != "none" and "://" not in str(other):
            path = check_path(other, what="--compare-engine").expanduser()
            if not path.is_file():
                raise ConfigError(f"--compare-engine {str(other)!r}: no such engine file")

    def resolved(self) -> tuple[CameraOptions, frozenset[str]]:
        """A copy with the embedded default's source and outputs filled in and ``--out-dir`` applied,
        and the outputs that may replace existing files."""
        opts = replace(self, stages=list(self.stages))
        out = Path(self.out_dir) if self.out_dir is not None else None
        replaceable = set(OUTPUTS) if self.overwrite else set()
        if opts.engine is None:  # the README's main job: no camera, no GPU, no files needed
            opts.source = opts.source or default.SOURCE
            base = out or Path(".")
            for name, file in (
                ("record", default.RECORD),
                ("events", default.EVENTS),
                ("summary", default.SUMMARY),
            ):
                if getattr(opts, name) is None:
                    setattr(opts, name, base / file)
                    replaceable.add(name)  # the demo's own file from an earlier demo run
        elif out is not None:
            opts.record, opts.events, opts.snapshots, opts.summary = (
                p if p is None or Path(p).is_absolute() else out / p
                for p in (opts.record, opts.events, opts.snapshots, opts.summary)
            )
        return opts, frozenset(replaceable)

    def loop_options(self, overwrite: frozenset[str] = frozenset()) -> LoopOptions:
        return LoopOptions(
            max_frames=self.max_frames,
            duration_s=self.duration,
            realtime=self.realtime,
            crop=crop_mode(self.crop),
            task=self.task,
            record=self.record,
            events=self.events,
            snapshots=self.snapshots,
            summary=self.summary,
            overwrite=overwrite,
            display=self.display,
            draw_overlay=self.overlay,
            backoff=Backoff(
                initial_s=self.backoff,
                max_s=max(self.backoff, self.backoff_max),
                attempts=self.reconnect_attempts,
            ),
        )


def crop_mode(text: str) -> str | tuple[int, int, int, int]:
    """``auto`` | ``resize`` | ``center`` | ``X,Y,W,H`` → the loop's crop (``auto`` = the source's ROI)."""
    from ..preprocess import parse_crop

    return "auto" if text == "auto" else parse_crop(text)


def _positive_int(name: str, value: int | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} {value}: must be an integer {'>= 0' if allow_zero else '> 0'}")


def _positive_float(name: str, value: float | None) -> None:
    # math.isfinite first: `nan < 0` and `nan == 0` are both False, so a plain sign test lets NaN through.
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise ConfigError(f"{name} {value}: must be a finite number of seconds > 0")


def run_camera(
    options: CameraOptions,
    *,
    log: Log = lambda msg: None,
    announce: Log = lambda msg: None,
) -> dict[str, Any]:
    """Validate ``options``, load the engine, open the source and run the loop; return the summary.

    Args:
        options: what to run (see :class:`CameraOptions`).
        log: status lines (first-run export, reconnects, headless fallback).
        announce: the one line said once source and engine are open.

    Raises:
        ConfigError, EngineError, SourceError …: a bad option, output, engine or source, or a
            ``--crop`` box outside the first frame (nothing is written then). A source that failed
            for good during the run is reported in the summary's ``error`` (see :func:`raise_on_error`).
    """
    options.validate()
    opts, replaceable = options.resolved()
    made = _make_out_dir(opts.out_dir)
    try:
        return _run(opts, replaceable, log, announce)
    finally:
        if made is not None:
            with contextlib.suppress(OSError):  # only succeeds when the run left the folder empty
                made.rmdir()


def _make_out_dir(out_dir: Path | None) -> Path | None:
    """Create ``--out-dir`` (and its parents); return it when this call created it."""
    if out_dir is None:
        return None
    p = check_path(out_dir, what="--out-dir").expanduser()  # a 300-char name: typed, before any stat
    if p.exists() and not p.is_dir():
        raise ConfigError(f"--out-dir {str(p)!r} is a file; give a folder")
    if p.is_dir():
        return None
    try:
        p.mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(f"--out-dir {str(p)!r}: cannot create folder ({exc.strerror})") from None
    return p


def _run(opts: CameraOptions, replaceable: frozenset[str], log: Log, announce: Log) -> dict[str, Any]:
    from ..pipeline import load
    from .sources import open_source

    loop_opts = opts.loop_options(replaceable)
    outputs = RunOutputs(  # every destination checked before the engine loads or the source opens
        record=loop_opts.record,
        events=loop_opts.events,
        snapshots=loop_opts.snapshots,
        summary=loop_opts.summary,
        overwrite=replaceable,
    )
    engine_path = default.ensure_engine(log=log) if opts.engine is None else opts.engine
    compare_path: Path | str | None = opts.compare_engine
    if compare_path is None and opts.engine is None:  # the demo: attack and defense side by side
        compare_path = default.ensure_engine(log=log, spec=default.UNDEFENDED)
    if compare_path is not None and str(compare_path) == "none":
        compare_path = None
    pipe = load(
        engine_path,
        provider=opts.provider,
        threads=opts.threads,
        host_stages=opts.stages or None,
        escalate=opts.escalate,
        top=opts.top,
        allow_slow=False,
        task=opts.task,
        decision=opts.decision_options(),
        rebuild=log,  # a stale TensorRT plan is rebuilt from the ONNX beside it, with one line saying why
    )
    compare = None
    if compare_path is not None:
        compare = load(
            compare_path, provider=opts.provider, threads=opts.threads, top=opts.top, task=opts.task
        )
    src = open_source(
        opts.source if opts.source is not None else "0",
        width=opts.width,
        height=opts.height,
        fps=opts.fps,
        latency_ms=opts.latency,
        transport=opts.transport,
        timeout_ms=opts.timeout_ms,
    )
    try:
        loop = CameraLoop(pipe, src, loop_opts, log=log, outputs=outputs, compare=compare)
    except Exception:
        src.close()
        raise
    for note in pipe.notes:  # what a bare YOLO file's manifest had to assume
        log(f"{Path(str(engine_path)).name}: {note}")
    vs = f" vs {Path(str(compare_path)).name}" if compare_path is not None else ""
    announce(f"{src.name} → {Path(str(engine_path)).name}{vs} ({pipe.engine.provider}); Ctrl-C stops")
    t0 = time.perf_counter()
    result = loop.run()
    result["run_s"] = round(time.perf_counter() - t0, 3)
    return result


def raise_on_error(summary: dict[str, Any]) -> None:
    """A run that ended because its source failed for good is an error (exit 2) after its summary."""
    if summary.get("error"):
        raise SourceError(summary["error"])


__all__ = ["FOREVER", "CameraOptions", "crop_mode", "raise_on_error", "run_camera"]
