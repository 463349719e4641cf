"""Where the loop's results go: annotated video, JSON-lines event log, event snapshots, summary, a window.

Nothing a user already has is lost (issue #10: a bad ``--crop`` once emptied an existing events file
and replaced the summary). :class:`RunOutputs` checks every destination before the engine loads or
the source opens, creates nothing until the run's first frame has been accepted, and then:

* ``--record`` and ``--summary`` are written to hidden temporary names beside their destinations and
  renamed onto them when the run ends (:class:`~edgeguard.outputs.OutputGroup`); an existing file is
  refused unless ``overwrite`` names it.
* ``--events`` is appended to when it exists (one JSON object per line, flushed per line, so a killed
  run leaves a complete log); ``overwrite`` starts it afresh.
* ``--snapshots`` JPEGs are each written to a temporary name and renamed; a folder that already holds
  ``frame_*.jpg`` files is refused unless ``overwrite`` names it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..checks import check_path
from ..errors import ConfigError, SourceError
from ..outputs import OutputGroup, check_destination

VIDEO_SUFFIXES = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
OUTPUTS = ("record", "events", "snapshots", "summary")  # what ``overwrite`` may name


def check_output_file(
    path: Path, what: str, suffixes: tuple[str, ...] | None = None, *, exists: str = "replace"
) -> Path:
    """Fail early if ``path`` cannot be written (missing folder, read-only, a folder, bad suffix …).

    Creates nothing. ``exists="refuse"`` also fails when the file is already there.

    Raises:
        ConfigError: naming the option and the reason.
    """
    p = check_path(path, what=what).expanduser()  # a 300-char name is typed before any stat
    if suffixes and p.suffix.lower() not in suffixes and not p.is_dir():
        raise ConfigError(f"{what} {str(p)!r}: expected a file ending in {', '.join(suffixes)}")
    return check_destination(p, what=what, exists=exists)


def _refuse(what: str, path: Path) -> str:
    return f"{what} {str(path)!r} already exists; pass --overwrite to replace it, or choose another name"


class Recorder:
    """Annotated video via ``cv2.VideoWriter``; opened on the first frame (its size fixes the video's).

    With a ``group`` the video is written to the group's temporary name for ``path`` and appears at
    ``path`` only when the group commits.
    """

    def __init__(self, path: Path, fps: float, group: OutputGroup | None = None) -> None:
        self.path = Path(path)
        self.group = group
        self.fps = 30.0
        self.set_fps(fps)
        self.writer: Any = None
        self.size: tuple[int, int] | None = None
        self.frames = 0

    def set_fps(self, fps: float | None) -> None:
        """The video's frame rate (before the first frame): the source's, when it is plausible."""
        self.fps = float(fps) if fps and 0 < fps <= 240 else 30.0

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            h, w = frame.shape[:2]
            target = self.group.temp(self.path) if self.group is not None else self.path
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_SUFFIXES[self.path.suffix.lower()])
            self.writer = cv2.VideoWriter(str(target), fourcc, self.fps, (w, h))
            if not self.writer.isOpened():
                self.writer = None
                raise ConfigError(f"--record {str(self.path)!r}: OpenCV cannot open a video writer for it")
            self.size = (w, h)
        if (frame.shape[1], frame.shape[0]) != self.size:  # a reconnect may change the camera's format
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        """Finalise the file (writes the MP4 index); safe to call twice."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None


class EventLog:
    """One JSON object per line, flushed per line, so a killed run leaves a complete log.

    The file opens on the first :meth:`write`: appended to when it exists, unless ``append=False``.
    """

    def __init__(self, path: Path, *, append: bool = True) -> None:
        self.path = Path(path)
        self.append = append
        self.appended = False  # whether this run's lines went after an earlier run's
        self.file: Any = None
        self.count = 0
        self.closed = False

    def write(self, record: dict[str, Any]) -> None:
        if self.closed:
            return
        if self.file is None:
            self.appended = self.append and self.path.is_file() and self.path.stat().st_size > 0
            mode = "a" if self.append else "w"
            self.file = open(self.path, mode, encoding="utf-8", buffering=1)  # noqa: SIM115 - see close()
        self.file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.file.flush()
        self.count += 1

    def close(self) -> None:
        self.closed = True
        if self.file is not None and not self.file.closed:
            self.file.close()


class Snapshots:
    """A JPEG of the annotated frame per event, ``DIR/frame_000042.jpg``; the folder is made on the first.

    Raises (at construction):
        ConfigError: ``folder`` is a file or unusable, or already holds ``frame_*.jpg`` and not ``overwrite``.
    """

    def __init__(self, folder: Path, quality: int = 90, *, overwrite: bool = False) -> None:
        self.folder = check_path(folder, what="--snapshots").expanduser()  # before any stat
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"--snapshots {str(self.folder)!r} is a file; give a folder")
        check_destination(self.folder / "frame_000000.jpg", what="--snapshots", make_parents=True)
        if not overwrite and self.folder.is_dir() and next(self.folder.glob("frame_*.jpg"), None):
            raise ConfigError(
                f"--snapshots {str(self.folder)!r} already holds frame_*.jpg from an earlier run; pass "
                f"--overwrite to replace them, or choose an empty folder"
            )
        self.quality = quality

    def save(self, frame: np.ndarray, index: int) -> str:
        path = self.folder / f"frame_{index:06d}.jpg"
        group = OutputGroup([path], what="--snapshots", make_parents=True)
        with group:  # a temporary name, renamed when the JPEG is complete
            if not cv2.imwrite(str(group.temp(path)), frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality]):
                raise SourceError(f"--snapshots: cannot write {path}")
        return str(path)


class RunOutputs:
    """Every file one camera run writes, checked at construction, written so that nothing is lost.

    Construction checks every destination (see the module docstring) and creates nothing; the loop
    then calls :meth:`commit` when the run ends (the video and summary appear under their names) or
    :meth:`abort` when it failed before its first frame (no file is left behind).

    Args:
        record, events, snapshots, summary: destinations (``None`` = not written).
        fps: the video's frame rate.
        overwrite: which of ``OUTPUTS`` may replace what is there (``events``: start afresh).
    """

    def __init__(
        self,
        *,
        record: Path | None = None,
        events: Path | None = None,
        snapshots: Path | None = None,
        summary: Path | None = None,
        fps: float = 30.0,
        overwrite: Collection[str] = (),
    ) -> None:
        unknown = set(overwrite) - set(OUTPUTS)
        if unknown:
            raise ValueError(f"overwrite: unknown outputs {sorted(unknown)}; expected some of {OUTPUTS}")
        files: list[tuple[Path, str]] = []
        if record is not None:
            p = check_output_file(record, "--record", tuple(VIDEO_SUFFIXES))
            if p.exists() and "record" not in overwrite:
                raise ConfigError(_refuse("--record", p))
            files.append((p, "--record"))
        if summary is not None:
            p = check_output_file(summary, "--summary")
            if p.exists() and "summary" not in overwrite:
                raise ConfigError(_refuse("--summary", p))
            files.append((p, "--summary"))
        events_path = check_output_file(events, "--events") if events is not None else None
        seen: dict[Path, str] = {}
        for p, what in [*files, *([(events_path, "--events")] if events_path else [])]:
            if p in seen:
                raise ConfigError(
                    f"{what} {str(p)!r} is also given as {seen[p]}; give each output its own file"
                )
            seen[p] = what
        self.group = OutputGroup([p for p, _ in files], what=[w for _, w in files])
        self.summary_path = next((p for p, w in files if w == "--summary"), None)
        self.recorder = Recorder(files[0][0], fps, self.group) if record is not None else None
        self.events = EventLog(events_path, append="events" not in overwrite) if events_path else None
        self.snapshots = (
            Snapshots(snapshots, overwrite="snapshots" in overwrite) if snapshots is not None else None
        )

    def write_summary(self, summary: dict[str, Any]) -> None:
        if self.summary_path is not None:
            self.group.write_text(self.summary_path, json.dumps(summary, indent=2) + "\n")

    def close(self) -> None:
        """Finalise the video and close the event log (their names are fixed by :meth:`commit`)."""
        for out in (self.recorder, self.events):
            if out is not None:
                with contextlib.suppress(Exception):  # closing must not hide the run's own error
                    out.close()

    def commit(self) -> None:
        self.close()
        self.group.commit()

    def abort(self) -> None:
        self.close()
        self.group.abort()

    def describe(self) -> dict[str, Any]:
        """The summary's ``outputs`` part."""
        return {
            "record": str(self.recorder.path) if self.recorder else None,
            "recorded_frames": self.recorder.frames if self.recorder else 0,
            "events": str(self.events.path) if self.events else None,
            "events_appended": bool(self.events and self.events.appended),
            "snapshots": str(self.snapshots.folder) if self.snapshots else None,
            "summary": str(self.summary_path) if self.summary_path else None,
        }


def display_available() -> tuple[bool, str]:
    """Whether an OpenCV window can open here; the reason when it cannot."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display (DISPLAY/WAYLAND_DISPLAY unset)"
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:") and "NONE" in line.upper():
            return False, "this OpenCV build has no GUI (opencv-python-headless); install opencv-python"
    return True, ""


class Window:
    """An OpenCV window; ``show`` returns False when the user pressed q or Esc."""

    def __init__(self, title: str = "edgeguard camera") -> None:
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, frame: np.ndarray) -> bool:
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(1) & 0xFF
        return key not in (ord("q"), 27)

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(self.title)


def now_iso(t: float | None = None) -> str:
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 1000):03d}"


__all__ = [
    "OUTPUTS",
    "EventLog",
    "Recorder",
    "RunOutputs",
    "Snapshots",
    "Window",
    "check_output_file",
    "display_available",
    "now_iso",
]
