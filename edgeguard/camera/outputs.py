"""Where the loop's results go: annotated video, JSON-lines event log, event snapshots, a window.

Paths are checked before the loop starts (:func:`check_output_file`), so an unwritable ``--record``
fails with a clear :class:`~edgeguard.errors.ConfigError` instead of after the camera has opened.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError, SourceError

VIDEO_SUFFIXES = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


def check_output_file(path: Path, what: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """Fail early if ``path`` cannot be written (missing folder, read-only, a directory, bad suffix).

    Raises:
        ConfigError: naming the option and the reason.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(f"{what} {str(p)!r} is a folder; give a file name")
    if suffixes and p.suffix.lower() not in suffixes:
        raise ConfigError(f"{what} {str(p)!r}: expected a file ending in {', '.join(suffixes)}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{what} {str(p)!r}: folder {str(parent)!r} does not exist")
    existed = p.exists()
    try:
        with open(p, "ab"):
            pass
    except OSError as exc:
        raise ConfigError(f"{what} {str(p)!r} is not writable ({exc.strerror})") from None
    if not existed:
        p.unlink(missing_ok=True)
    return p


def check_output_dir(path: Path, what: str) -> Path:
    """Create ``path`` if needed and check it is a writable folder."""
    p = Path(path).expanduser()
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {str(p)!r}: cannot create folder ({exc.strerror})") from None
    if not os.access(p, os.W_OK):
        raise ConfigError(f"{what} {str(p)!r}: folder is not writable")
    return p


class Recorder:
    """Annotated video via ``cv2.VideoWriter``; opened on the first frame (its size fixes the video's)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = check_output_file(path, "--record", tuple(VIDEO_SUFFIXES))
        self.fps = float(fps) if fps and 0 < fps <= 240 else 30.0
        self.writer: Any = None
        self.size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            h, w = frame.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_SUFFIXES[self.path.suffix.lower()])
            self.writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
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
    """One JSON object per line, flushed per line, so a killed run leaves a complete log."""

    def __init__(self, path: Path) -> None:
        self.path = check_output_file(path, "--events")
        self.file = open(self.path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        if self.file.closed:
            return
        self.file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.file.flush()
        self.count += 1

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()


class Snapshots:
    """A JPEG of the annotated frame per event, ``DIR/frame_000042.jpg``."""

    def __init__(self, folder: Path, quality: int = 90) -> None:
        self.folder = check_output_dir(folder, "--snapshots")
        self.quality = quality

    def save(self, frame: np.ndarray, index: int) -> str:
        path = self.folder / f"frame_{index:06d}.jpg"
        if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality]):
            raise SourceError(f"--snapshots: cannot write {path}")
        return str(path)


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
    "EventLog",
    "Recorder",
    "Snapshots",
    "Window",
    "check_output_dir",
    "check_output_file",
    "display_available",
    "now_iso",
]
