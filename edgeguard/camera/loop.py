"""The robust-inference camera loop: capture thread → Pipeline → overlay → record / display / events.

Capture runs in its own thread. For live sources (cameras, streams) it hands over only the newest frame:
a one-slot channel that overwrites and counts what it overwrote, so latency never builds up behind a
slow model (REFERENCE complaint 9: stale RTSP frames). Files and the synthetic source are processed in
order with no drops (a small blocking queue), unless ``realtime`` pacing makes them behave like a
camera. A live source that stops delivering (or delivers only empty frames) is closed and re-opened with
bounded exponential backoff; each disconnect/reconnect is an event, and the loop carries on. SIGINT and
SIGTERM stop the loop cleanly: the video is finalised and the event log and summary are complete.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, SourceError
from . import overlay
from .channel import END, Backoff, Frame, FrameChannel, stop_on_signals
from .detect import DetectionWatch, draw_boxes
from .outputs import RunOutputs, Window, display_available, now_iso
from .sources import Box, Source, clean_frame
from .stats import RunStats


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


def center_box(w: int, h: int, aspect: float) -> Box:
    """The box ``crop='center'`` takes from a ``w``×``h`` frame (same rule as preprocess.crop)."""
    cw, ch = (int(round(h * aspect)), h) if w / h > aspect else (w, int(round(w / aspect)))
    return (w - cw) // 2, (h - ch) // 2, cw, ch


class CameraLoop:
    """Run ``pipeline`` on frames from an opened ``source``; :meth:`run` returns the summary dict.

    Args:
        pipeline: an :class:`~edgeguard.pipeline.Pipeline`; ``options.crop`` is passed with each call.
        source: an opened :class:`~edgeguard.camera.sources.Source` (or any object with the same
            ``open/read/close/live/fps/roi/name`` members — tests inject fakes).
        options: :class:`LoopOptions`.
        outputs: the run's files, already checked (default: built from ``options``); nothing is
            created before the first frame is accepted (a ``--crop`` box must lie inside it).
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
    ) -> None:
        self.pipe = pipeline
        self.source = source
        self.opt = options or LoopOptions()
        check_task(pipeline, self.opt.task)
        self.log = log or (lambda msg: None)
        self._stop = threading.Event()
        self._sleep = sleep or (lambda s: self._stop.wait(s))
        self.stats = RunStats()
        self.stopped_by = "end of source"
        self.error: str | None = None
        self._lock = threading.Lock()
        self.live = bool(getattr(source, "live", False))
        self.channel = FrameChannel(keep_latest=self.live or self.opt.realtime)
        # auto = the source's region of interest (the sign's box) for a classifier; a detector looks
        # at the whole frame (the surveillance source's ROI is one of the people it must find)
        self.auto_roi = self.opt.crop == "auto" and pipeline.manifest.task != "detection"
        # Passed with every pipeline call; the pipeline's own ``crop`` is never changed from here.
        self.crop: str | Box = "resize" if self.opt.crop == "auto" else self.opt.crop
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
        self.window: Window | None = None
        if self.opt.display:
            ok, why = display_available()
            if ok:
                self.window = Window()
            else:
                self.log(f"--display: {why}; running headless")
        self._prev_label: str | None = None
        labels = pipeline.manifest.labels
        self.watch = DetectionWatch(labels) if pipeline.manifest.task == "detection" else None

    # -- control ------------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Ask the loop to finish after the current frame (thread- and signal-safe)."""
        if not self._stop.is_set():
            self.stopped_by = reason
            self._stop.set()

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
        if isinstance(self.crop, tuple) and not self.auto_roi:
            x, y, w, h = self.crop
            fh, fw = frame.image.shape[:2]
            if x + w > fw or y + h > fh:
                raise ConfigError(
                    f"--crop {x},{y},{w},{h} lies outside the {fw}x{fh} frames of "
                    f"{getattr(self.source, 'name', 'the source')}; nothing was written"
                )
        self._flush_pending()

    # -- capture thread -----------------------------------------------------------------------
    def _reconnect(self, reason: str, frame_index: int) -> bool:
        """Close and re-open a live source with backoff; False when it stays down (or on stop)."""
        self.stats.disconnects += 1
        again = "not reconnecting" if self.opt.backoff.attempts == 0 else "reconnecting"
        self.log(f"source dropped ({reason}); {again}")
        self._event({"event": "disconnect", "frame": frame_index, "reason": reason})
        with contextlib.suppress(Exception):  # a broken device may fail to close; we re-open it anyway
            self.source.close()
        last = ""
        for attempt, delay in enumerate(self.opt.backoff.delays(), 1):
            self._sleep(delay)
            if self._stop.is_set():
                return False
            try:
                self.source.open()
            except SourceError as err:
                last = str(err)
                continue
            self.stats.reconnects += 1
            self._event({"event": "reconnect", "frame": frame_index, "attempt": attempt, "after_s": delay})
            self.log(f"source back after {attempt} attempt(s)")
            return True
        name = getattr(self.source, "name", "source")
        if self.opt.backoff.attempts == 0:
            self.error = f"{name} dropped ({reason}); not reconnecting (--reconnect-attempts 0)"
        else:
            self.error = (
                f"{name} stayed down after {self.opt.backoff.attempts} reconnect attempts ({last or reason})"
            )
        self._event({"event": "gave_up", "frame": frame_index, "reason": self.error})
        self.stopped_by = "source failed"  # the capture thread ends; the frames already queued still run
        return False

    def _capture(self) -> None:
        idx, empties = 0, 0
        period = 1.0 / (getattr(self.source, "fps", None) or 30.0)
        pace = self.opt.realtime and not self.live
        next_t = time.perf_counter()
        try:
            while not self._stop.is_set():
                try:
                    raw, why = self.source.read(), "no frame"
                except Exception as exc:  # a driver error mid-stream is a drop, not a crash
                    raw, why = None, f"{type(exc).__name__}: {exc}"
                if raw is None:
                    if not self.live or not self._reconnect(why, idx):
                        break
                    continue
                img = clean_frame(raw)
                if img is None:
                    self.stats.empty += 1
                    empties += 1
                    if self.live and empties >= self.opt.empty_limit:
                        empties = 0
                        if not self._reconnect(f"{self.opt.empty_limit} empty frames in a row", idx):
                            break
                    continue
                empties = 0
                if pace:
                    next_t += period
                    self._stop.wait(max(0.0, next_t - time.perf_counter()))
                frame = Frame(img, idx, time.perf_counter(), getattr(self.source, "roi", None))
                idx += 1
                dropped = self.channel.put(frame, self._stop)
                if dropped:
                    with self._lock:
                        self.stats.dropped += dropped
        finally:
            self.channel.close()

    # -- inference ----------------------------------------------------------------------------
    def _roi(self, frame: Frame) -> Box | None:
        if self.auto_roi:
            return frame.roi
        if isinstance(self.opt.crop, tuple):
            return self.opt.crop
        if self.opt.crop == "center":
            h, w = frame.image.shape[:2]
            return center_box(w, h, self.pipe.size[1] / self.pipe.size[0])
        return None

    def _process(self, frame: Frame) -> None:
        if not self._started:
            self._accept_first(frame)
        img = frame.image
        roi = self._roi(frame)
        view = img
        if self.auto_roi and roi is not None:
            x, y, w, h = roi
            view = img[y : y + h, x : x + w]
        result = self.pipe([view], crop="resize" if self.auto_roi else self.crop)[0]
        latency = (time.perf_counter() - frame.t_capture) * 1e3
        timing = dict(result.timing_ms)
        decision = result.decision
        top = decision.get("top") or []
        label = top[0]["label"] if top else None
        flagged = bool(decision.get("flagged", False))
        escalated = result.escalation["stage"] if result.escalation else None
        found = self._detections(img, decision, roi, frame.index)
        t0 = time.perf_counter()
        if self.opt.draw_overlay:
            if self.watch is not None:
                draw_boxes(img, decision)
            fps_e2e, fps_eng = self.stats.live_fps()
            overlay.draw(
                img,
                decision,
                overlay.OverlayInfo(
                    fps_e2e=fps_e2e,
                    fps_engine=fps_eng,
                    timing_ms=timing,
                    threshold=self.pipe.manifest.detector.threshold if self.pipe.manifest.detector else None,
                    roi=roi,
                    frame_index=frame.index,
                    escalated=escalated,
                ),
            )
        t1 = time.perf_counter()
        if self.recorder is not None:
            self.recorder.write(img)
        if self.window is not None and not self.window.show(img):
            self.stop("window closed")
        changed = label != self._prev_label
        if flagged or changed:
            kinds = (["flagged"] if flagged else []) + (["class_changed"] if changed else [])
            record: dict[str, Any] = {
                "event": kinds,
                "frame": frame.index,
                "label": label,
                "score": round(top[0]["prob"], 5) if top else None,
                "previous": self._prev_label,
                "adv_score": decision.get("adv_score"),
                "flagged": flagged,
                "escalated": escalated,
                "latency_ms": round(latency, 3),
                "timing_ms": {k: round(v, 3) for k, v in timing.items()},
            }
            if self.snapshots is not None:
                record["snapshot"] = self.snapshots.save(img, frame.index)
            self._event(record)
        for record in found:  # a tracked person vanished while the scene stayed still (seed 004)
            if self.snapshots is not None:
                record["snapshot"] = self.snapshots.save(img, frame.index)
            self._event(record)
        self._prev_label = label
        timing["overlay"] = (t1 - t0) * 1e3
        timing["output"] = (time.perf_counter() - t1) * 1e3
        with self._lock:
            self.stats.escalated += int(escalated is not None)
            self.stats.add(timing, label, flagged, latency)

    def _detections(
        self, img: np.ndarray, decision: dict[str, Any], roi: Box | None, index: int
    ) -> list[dict[str, Any]]:
        """Boxes into frame pixels (the pipeline saw the ROI alone under auto), tracks, vanish events."""
        if self.watch is None:
            return []
        if self.auto_roi and roi is not None:
            for b in decision.get("boxes") or []:
                b["xyxy"] = [v + roi[k % 2] for k, v in enumerate(b["xyxy"])]
        return self.watch.update(img, decision, index)

    def _warmup(self) -> None:
        h, w = self.pipe.size
        # First-call allocation is not latency users see; "resize": a crop box may not fit this frame.
        self.pipe([np.zeros((h, w, 3), np.uint8)], crop="resize")
        self.pipe.engine.timings_ms.clear()

    def run(self) -> dict[str, Any]:
        """Run until the source ends, a limit is reached, a signal arrives, or the source gives up."""
        thread = threading.Thread(target=self._capture, name="edgeguard-capture", daemon=True)
        failed = False
        try:
            with stop_on_signals(self.stop), self.pipe:
                if self.opt.warmup:
                    self._warmup()
                self.stats.start()
                thread.start()
                self._consume()
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

    def _consume(self) -> None:
        limit, deadline = self.opt.max_frames, None
        if self.opt.duration_s is not None:
            deadline = time.perf_counter() + self.opt.duration_s
        while not self._stop.is_set():
            if deadline is not None and time.perf_counter() >= deadline:
                self.stop("duration")
                break
            item = self.channel.get(timeout=0.1)
            if item is None:
                continue
            if item is END:
                break
            self._process(item)
            if limit is not None and self.stats.frames >= limit:
                self.stop("max-frames")
                break

    def summary(self) -> dict[str, Any]:
        eng = self.pipe.engine
        return {
            "source": getattr(self.source, "name", type(self.source).__name__),
            "live": self.live,
            "engine": str(getattr(eng, "path", "")),
            "provider": getattr(eng, "provider", ""),
            "task": self.pipe.manifest.task,
            "crop": list(self.opt.crop) if isinstance(self.opt.crop, tuple) else self.opt.crop,
            "stopped_by": self.stopped_by,
            "error": self.error,
            **self.stats.to_dict(),
            **({"detection": self.watch.summary()} if self.watch is not None else {}),
            "outputs": self.out.describe(),
        }


__all__ = ["Backoff", "CameraLoop", "Frame", "FrameChannel", "LoopOptions", "center_box", "check_task"]
