"""The robust-inference camera loop: capture → inference → overlay + outputs, as three pipelined stages.

Each stage runs concurrently, joined by bounded channels, so end-to-end throughput approaches the
slowest stage instead of the sum of all (issue #16; onnxruntime and OpenCV release the GIL while they
work): :class:`~.capture.Capture` in its own thread, :class:`~.infer.Inference` in another, and
:class:`~.present.Presenter` (overlay, recording, display, events) on the calling thread. Frames never
pile up: for live sources (cameras, streams) the capture → inference hand-over is a one-slot mailbox
where the newest frame wins (stale frames are dropped and counted, REFERENCE complaint 9); files and
the synthetic source go through small blocking queues, every frame in order, unless ``realtime`` pacing
makes them behave like a camera. Inference → output is a small blocking queue either way, so a slow
output stage makes a live source drop frames at capture rather than letting results queue.

SIGINT and SIGTERM stop the loop cleanly: capture and inference stop taking new frames, every frame
already inferred is drawn, recorded and logged, then the video is finalised and the event log and
summary are complete.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .capture import Capture
from .channel import END, Backoff, Frame, FrameChannel, stop_on_signals
from .compare import Tally
from .detect import DetectionWatch
from .infer import Inference, center_box
from .outputs import RunOutputs, Window, display_available, now_iso
from .present import Presenter
from .sources import Box, Source
from .stats import RunStats

QUEUE = 4  # frames a blocking hand-over holds: enough to absorb jitter, few enough to bound latency


@dataclass
class LoopOptions:
    """What the loop does besides inference (all optional)."""

    max_frames: int | None = None
    duration_s: float | None = None
    realtime: bool = False
    crop: str | Box = "auto"
    task: str | None = None
    record: Path | None = None
    events: Path | None = None
    snapshots: Path | None = None
    summary: Path | None = None
    overwrite: Collection[str] = ()  # outputs that may replace existing files (see outputs.OUTPUTS)
    display: bool = False
    draw_overlay: bool = True
    backoff: Backoff = field(default_factory=Backoff)
    empty_limit: int = 5  # consecutive empty frames from a live source → treat as a drop and reconnect
    warmup: bool = True


def check_task(pipeline: Any, task: str | None) -> None:
    """Raise ConfigError when the engine's manifest task is not the one the loop was asked for."""
    have = pipeline.manifest.task
    if task is not None and {"detect": "detection", "classify": "classification"}.get(task, task) != have:
        raise ConfigError(
            f"--task {task}: the engine's manifest says it is a {have} model; pass --task {have} "
            f"or use a {task} engine"
        )


def describe(pipeline: Any) -> str:
    """``signs + bits:bits=5 + median:kernel=3x3 + detector squeeze:…`` from an engine's manifest."""
    m = pipeline.manifest
    parts = [m.provenance.source.model or Path(str(getattr(pipeline.engine, "path", "engine"))).stem]
    parts += list(m.defenses) + list(m.host_stages)
    if m.detector is not None:
        parts.append(f"detector {m.detector.spec}")
    if m.masking is not None:
        parts.append("certified masking")
    return " + ".join(parts)


def short_name(pipeline: Any) -> str:
    """The engine's file name without suffix (``signs-bits5-median3x3``), + ``detector`` if it has one."""
    stem = Path(str(getattr(pipeline.engine, "path", "engine"))).stem
    return stem + (" + detector" if pipeline.manifest.detector is not None else "")


class CameraLoop:
    """Run ``pipeline`` on frames from an opened ``source``; :meth:`run` returns the summary dict.

    Args:
        pipeline: an :class:`~edgeguard.pipeline.Pipeline`; ``options.crop`` is passed with each call.
        source: an opened :class:`~edgeguard.camera.sources.Source` (or any object with the same
            ``open/read/close/live/fps/roi/name`` members — tests inject fakes). A source that knows
            the true label (``truth``, e.g. the synthetic drive-by's "stop") lets the summary count
            frames a sticker fooled.
        options: :class:`LoopOptions`.
        outputs: the run's files, already checked (default: built from ``options``); nothing is
            created before the first frame is accepted (a ``--crop`` box must lie inside it).
        compare: a second pipeline run on the same view of every frame (the demo's undefended
            engine), drawn beside the first and counted in the summary's ``attack`` part.
        sleep: how the reconnect backoff waits (injectable so fault tests run fast); default waits on
            the stop event, so Ctrl-C interrupts a backoff at once.
        log: where human-readable status lines go (default: discarded).
    """

    def __init__(
        self,
        pipeline: Any,
        source: Source,
        options: LoopOptions | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
        log: Callable[[str], None] | None = None,
        outputs: RunOutputs | None = None,
        compare: Any | None = None,
    ) -> None:
        self.pipe = pipeline
        self.compare = compare
        self.source = source
        self.opt = options or LoopOptions()
        check_task(pipeline, self.opt.task)
        if compare is not None and compare.manifest.task != pipeline.manifest.task:
            raise ConfigError(
                f"--compare-engine: a {compare.manifest.task} engine cannot be compared with a "
                f"{pipeline.manifest.task} engine"
            )
        self.log = log or (lambda msg: None)
        self._stop = threading.Event()
        self._sleep = sleep or (lambda s: self._stop.wait(s))
        self.stats = RunStats()
        self.stopped_by = "end of source"
        self.error: str | None = None
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self.live = bool(getattr(source, "live", False))
        self.channel = FrameChannel(keep_latest=self.live or self.opt.realtime, maxsize=QUEUE)
        # live: one result in hand-over, so a slow output stage makes capture drop, not results queue
        keep = self.live or self.opt.realtime
        self.results = FrameChannel(keep_latest=False, maxsize=1 if keep else QUEUE)
        # auto = the source's region of interest (the sign's box) for a classifier; a detector looks
        # at the whole frame (the surveillance source's ROI is one of the people it must find)
        auto_roi = self.opt.crop == "auto" and pipeline.manifest.task != "detection"
        self.infer = Inference(pipeline, compare, self.opt.crop, auto_roi=auto_roi)
        self.crop = self.infer.crop
        # Outputs are checked before any frame is read and created only once the first is accepted.
        self.out = outputs or RunOutputs(
            record=self.opt.record,
            events=self.opt.events,
            snapshots=self.opt.snapshots,
            summary=self.opt.summary,
            fps=getattr(source, "fps", None) or 30.0,
            overwrite=self.opt.overwrite,
        )
        self.recorder, self.events, self.snapshots = self.out.recorder, self.out.events, self.out.snapshots
        if self.recorder is not None:
            self.recorder.set_fps(getattr(source, "fps", None))
        self._started = False  # the first frame passed its checks: outputs may be written
        self._pending: list[dict[str, Any]] = []  # events from before that (e.g. an early disconnect)
        window: Window | None = None
        if self.opt.display:
            ok, why = display_available()
            if ok:
                window = Window()
            else:
                self.log(f"--display: {why}; running headless")
        self.window = window
        det = pipeline.manifest.task == "detection"
        self.tally = Tally(
            getattr(source, "truth", None),
            getattr(source, "sticker", None),
            describe(compare) if compare is not None else None,
        )
        self.capture = Capture(
            source,
            self.channel,
            live=self.live,
            realtime=self.opt.realtime,
            backoff=self.opt.backoff,
            empty_limit=self.opt.empty_limit,
            stop=self._stop,
            sleep=self._sleep,
            log=self.log,
            event=self._event,
            stats=self.stats,
            lock=self._lock,
            gave_up=self._gave_up,
        )
        self.present = Presenter(
            draw_overlay=self.opt.draw_overlay,
            threshold=pipeline.manifest.detector.threshold if pipeline.manifest.detector else None,
            recorder=self.recorder,
            window=window,
            snapshots=self.snapshots,
            event=self._event,
            stop=self.stop,
            stats=self.stats,
            lock=self._lock,
            watch=DetectionWatch(pipeline.manifest.labels) if det else None,
            auto_roi=auto_roi,
            tally=self.tally,
            titles=(f"defended: {short_name(pipeline)}", f"undefended: {short_name(compare)}")
            if compare is not None
            else None,
        )

    # -- control ------------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Ask the loop to finish: no new frame is taken, every frame already inferred is still
        drawn, recorded and logged (thread- and signal-safe)."""
        if not self._stop.is_set():
            self.stopped_by = reason
            self._stop.set()

    def _gave_up(self, error: str) -> None:
        self.error = error
        self.stopped_by = "source failed"  # the capture thread ends; the frames already queued still run

    def _event(self, record: dict[str, Any]) -> None:
        if self.events is None:
            return
        t = time.time()
        with self._lock:
            line = {"time": now_iso(t), "t": round(t, 3), **record}
            if self._started:
                self.events.write(line)
            else:
                self._pending.append(line)
            self.stats.events += 1

    def _flush_pending(self) -> None:
        with self._lock:
            self._started = True
            for line in self._pending:
                if self.events is not None:
                    self.events.write(line)
            self._pending.clear()

    def _accept_first(self, frame: Frame) -> None:
        """Check what only a frame can show (a crop box inside it) before any output is created."""
        if isinstance(self.crop, tuple) and not self.infer.auto_roi:
            x, y, w, h = self.crop
            fh, fw = frame.image.shape[:2]
            if x + w > fw or y + h > fh:
                raise ConfigError(
                    f"--crop {x},{y},{w},{h} lies outside the {fw}x{fh} frames of "
                    f"{getattr(self.source, 'name', 'the source')}; nothing was written"
                )
        self._flush_pending()

    # -- stages -------------------------------------------------------------------------------
    def _inference(self) -> None:
        """Thread body: frames → results, stopping at the limits; any error ends the run."""
        limit, deadline, n = self.opt.max_frames, None, 0
        if self.opt.duration_s is not None:
            deadline = time.perf_counter() + self.opt.duration_s
        try:
            while not self._stop.is_set():
                if deadline is not None and time.perf_counter() >= deadline:
                    self.stop("duration")
                    break
                item = self.channel.get(timeout=0.1)
                if item is None:
                    continue
                if item is END:
                    break
                if not self._started:
                    self._accept_first(item)
                t0 = time.perf_counter()
                result = self.infer(item)
                with self._lock:
                    self.stats.busy("inference", (time.perf_counter() - t0) * 1e3)
                self.results.put(result, self._stop)  # never blocks once stopping: nothing is lost
                n += 1
                if limit is not None and n >= limit:
                    self.stop("max-frames")
                    break
        except BaseException as exc:  # re-raised on the calling thread by run()
            self._failure = exc
            self._stop.set()
        finally:
            self.results.close()

    def _present_all(self) -> None:
        """Draw, record and log every result until inference ends (also after a stop: drain)."""
        while True:
            item = self.results.get(timeout=0.1)
            if item is None:
                continue
            if item is END:
                return
            self.present(item)

    def run(self) -> dict[str, Any]:
        """Run until the source ends, a limit is reached, a signal arrives, or the source gives up."""
        capture = threading.Thread(target=self.capture.run, name="edgeguard-capture", daemon=True)
        inference = threading.Thread(target=self._inference, name="edgeguard-inference", daemon=True)
        failed = False
        try:
            with stop_on_signals(self.stop), self.pipe, self.compare or contextlib.nullcontext():
                if self.opt.warmup:
                    self.infer.warmup()
                self.stats.start()
                capture.start()
                inference.start()
                self._present_all()
                inference.join()
                if self._failure is not None:
                    raise self._failure
            if self.stats.frames == 0 and self.error is None and self.stopped_by == "end of source":
                # a file, folder or clip without one usable frame is an error, not an empty run
                name = getattr(self.source, "name", "source")
                self.error = f"{name}: no frame could be read ({self.stats.empty} unreadable or empty)"
                self.stopped_by = "source failed"
        except BaseException as exc:  # the summary still records how far the run got, then re-raise
            failed = True
            self.stopped_by, self.error = "error", self.error or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._stop.set()
            for thread in (inference, capture):
                if thread.is_alive():
                    thread.join(timeout=5.0)  # a blocked network read times out on its own
            summary = self._finish(failed)
        return summary

    def _finish(self, failed: bool) -> dict[str, Any]:
        """Close the window and source; commit the outputs, or leave none when the run never began."""
        if self.window is not None:
            self.window.close()
        with contextlib.suppress(Exception):  # closing a dead device must not hide the summary
            self.source.close()
        if failed and not self._started:  # a bad option or engine: no file is created or changed
            self.out.abort()
            return self.summary()
        if not self._started:  # no frame came at all: record the early events, then the summary
            self._flush_pending()
        self.out.close()
        summary = self.summary()
        self.out.write_summary(summary)
        self.out.commit()
        return summary

    def summary(self) -> dict[str, Any]:
        eng = self.pipe.engine
        crop = self.opt.crop
        return {
            "source": getattr(self.source, "name", type(self.source).__name__),
            "live": self.live,
            "engine": str(getattr(eng, "path", "")),
            "engine_config": describe(self.pipe),
            "provider": getattr(eng, "provider", ""),
            "task": self.pipe.manifest.task,
            "crop": list(crop) if isinstance(crop, tuple) else crop,
            "stopped_by": self.stopped_by,
            "error": self.error,
            **self.stats.to_dict(),
            **({"detection": self.present.watch.summary()} if self.present.watch is not None else {}),
            "attack": self.tally.to_dict(),
            "outputs": self.out.describe(),
        }


__all__ = ["Backoff", "CameraLoop", "Frame", "FrameChannel", "LoopOptions", "center_box", "check_task"]
