"""Frame sources for the camera loop: V4L2 devices, Jetson CSI, RTSP/HTTP streams, files, images, synthetic.

``open_source(spec, ...)`` parses a ``--source`` string into a :class:`Source` and opens it; a failure
raises :class:`~edgeguard.errors.SourceError` naming what was tried. Every source yields uint8 BGR
``(H, W, 3)`` frames from :meth:`Source.read`, which returns ``None`` when no frame came (end of a
file, or a dropped stream: the loop then reconnects live sources with backoff).

Each kind of source registers itself with ``@SOURCES.register(kind, schemes=(...))`` (a URI scheme)
or ``match=`` (a test on the text); :func:`open_source` is a registry lookup: a registered scheme
first, then the matchers, then the ``fallback`` entry (files). The kinds:

* ``0`` / ``/dev/video0``            V4L2 camera (``cv2.CAP_V4L2``)
* ``csi://0[?flip=N]``               Jetson CSI camera through GStreamer ``nvarguscamerasrc`` (REFERENCE
                                     complaint 10); the pipeline string is built only from validated ints
* ``rtsp://…`` ``http(s)://…``       network stream (FFmpeg); low-latency options, small buffer
                                     (REFERENCE complaint 9: stale frames are dropped by the loop)
* ``synthetic:stop-sign[?…]``        rendered drive-by (registered in :mod:`edgeguard.camera.synthetic`)
* a folder, a glob, an image file    images in sorted order
* any other existing file            video file (FFmpeg)
"""

from __future__ import annotations

import glob
import os
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..checks import check_path
from ..errors import InputError, SourceError
from ..preprocess import load_image, to_bgr
from ..registry import SOURCES, Entry, uri_scheme

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class SourceOptions:
    """Options every source builder receives (each uses those that apply to it)."""

    width: int | None = None
    height: int | None = None
    fps: int | None = None
    latency_ms: int = 200
    transport: str = "tcp"
    timeout_ms: int = 5000


class Source(ABC):
    """A frame source. ``live`` sources (cameras, streams) run freely and may drop; others do not.

    Attributes:
        name: what the source is, for messages and the summary.
        live: frames arrive in real time (the loop keeps only the newest one).
        fps: nominal frame rate when known (used for pacing and recording).
        roi: region of interest of the last frame ``(x, y, w, h)`` when the source knows one (synthetic).
    """

    name: str = "source"
    live: bool = False
    fps: float | None = None
    roi: Box | None = None

    @abstractmethod
    def open(self) -> None:
        """Open (or re-open) the source. Raises SourceError saying what was tried."""

    @abstractmethod
    def read(self) -> np.ndarray | None:
        """The next frame (uint8 BGR), or ``None`` when none came."""

    def close(self) -> None:  # noqa: B027 - optional hook: sources without a handle need no close
        """Release the device/file. Safe to call twice."""

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CaptureSource(Source):
    """Anything ``cv2.VideoCapture`` opens: a V4L2 device, a GStreamer pipeline, a stream URL or a file."""

    def __init__(
        self,
        target: int | str,
        *,
        api: int,
        name: str,
        live: bool,
        props: dict[int, float] | None = None,
        open_params: list[int] | None = None,
        env: dict[str, str] | None = None,
        hint: str = "",
    ) -> None:
        self.target = target
        self.api = api
        self.name = name
        self.live = live
        self.props = props or {}
        self.open_params = open_params or []
        self.env = env or {}
        self.hint = hint
        self.cap: Any = None

    def open(self) -> None:
        self.close()
        with _scoped_env({"OPENCV_FFMPEG_LOGLEVEL": "-8", **self.env}), _quiet_opencv():
            cap = cv2.VideoCapture(self.target, self.api, self.open_params)
        if not cap.isOpened():
            cap.release()
            hint = f"; {self.hint}" if self.hint else ""
            raise SourceError(f"cannot open {self.name}: OpenCV ({_api_name(self.api)}) failed{hint}")
        for prop, value in self.props.items():
            cap.set(prop, value)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else self.fps
        self.cap = cap

    def read(self) -> np.ndarray | None:
        if self.cap is None:
            return None
        ok, frame = self.cap.read()
        return frame if ok else None

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class ImageSource(Source):
    """Image files in a fixed order (one file, a folder, or a glob); unreadable files are skipped."""

    def __init__(self, paths: list[Path], name: str, fps: float = 30.0) -> None:
        self.paths = paths
        self.name = name
        self.fps = fps
        self.pos = 0

    def open(self) -> None:
        self.pos = 0

    def read(self) -> np.ndarray | None:
        while self.pos < len(self.paths):
            p = self.paths[self.pos]
            self.pos += 1
            try:
                return load_image(p)
            except InputError:
                return np.empty((0, 0, 3), np.uint8)  # counted as an empty frame by the loop
        return None


def _api_name(api: int) -> str:
    return {cv2.CAP_V4L2: "V4L2", cv2.CAP_GSTREAMER: "GStreamer", cv2.CAP_FFMPEG: "FFmpeg"}.get(api, str(api))


@contextmanager
def _scoped_env(env: dict[str, str]):
    """Set environment variables only while a capture opens (FFmpeg reads its options from the env)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _quiet_opencv():
    """Silence OpenCV's own warnings while opening: the SourceError we raise says what failed, in one line."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


@SOURCES.register(
    "files",
    summary="video file, image file, folder or glob of images",
    usage="clip.mp4 | image.png | folder | 'frames/*.png'",
    fallback=True,
    examples=({"spec": "clip.mp4"}, {"spec": "frames/*.png"}),
)
def open_files(spec: str, opts: SourceOptions) -> Source:
    """Folder, glob or file (anything no scheme or matcher claimed).

    Raises:
        SourceError: nothing there; the message lists every kind of source that was considered.
    """
    found = _files(spec)
    if found is None:
        tried = ", ".join(x.usage for x in SOURCES.listing())
        raise SourceError(f"--source {spec!r}: no such file, folder or device (tried: {tried})")
    return found


def _files(spec: str) -> Source | None:
    """Folder, glob or file; ``None`` if nothing matches."""
    p = check_path(spec, what="--source", error=SourceError).expanduser()  # long names: typed, before stat
    if any(c in spec for c in "*?[") and not p.exists():  # a folder named "[cam]" is a folder, not a glob
        paths = sorted(Path(q) for q in glob.glob(str(p)) if Path(q).suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise SourceError(
                f"--source {spec!r}: the glob matches no image files ({', '.join(IMAGE_SUFFIXES)})"
            )
        return ImageSource(paths, f"{len(paths)} images matching {spec}")
    if p.is_dir():
        paths = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
        if not paths:
            raise SourceError(f"--source {spec!r}: folder has no image files ({', '.join(IMAGE_SUFFIXES)})")
        return ImageSource(paths, f"{len(paths)} images in {p}")
    if p.is_file():
        if p.suffix.lower() in IMAGE_SUFFIXES:
            return ImageSource([p], f"image {p.name}")
        return CaptureSource(
            str(p),
            api=cv2.CAP_FFMPEG,
            name=f"video {p.name}",
            live=False,
            hint="not a video FFmpeg can decode",
        )
    return None


def open_source(
    spec: str | int,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: int | None = None,
    latency_ms: int = 200,
    transport: str = "tcp",
    timeout_ms: int = 5000,
) -> Source:
    """Parse ``spec`` (see the module docstring), build the source and open it.

    Args:
        spec: device index, ``/dev/videoN``, ``csi://N``, ``rtsp://…``, ``http(s)://…``, a video/image
            file, a folder, a glob, or ``synthetic:stop-sign[?sticker=1&frames=N&seed=S&angles=0,30]``.
        width, height, fps: requested capture format (cameras and synthetic; files keep theirs).
        latency_ms: stream jitter buffer (FFmpeg ``max_delay``).
        transport: RTSP transport, ``tcp`` or ``udp``.
        timeout_ms: stream open/read timeout.

    Raises:
        SourceError: nothing usable at ``spec``; the message says what was tried.
    """
    text = str(spec).strip()
    if not text:
        raise SourceError(
            "--source is empty; give a camera index, csi://N, a URL, a file or synthetic:stop-sign"
        )
    opts = SourceOptions(width, height, fps, latency_ms, transport, timeout_ms)
    src = source_for(text).factory(text, opts)
    src.open()
    return src


def source_for(text: str) -> Entry:
    """The registered source kind for ``text``: its URI scheme, else a matcher, else the fallback.

    Raises:
        SourceError: a ``scheme://`` no source registers (the message lists those that exist).
    """
    scheme = uri_scheme(text)
    if scheme:
        entry = SOURCES.find("schemes", scheme)
        if entry is not None:
            return entry
        if "://" in text:
            known = ", ".join(x.usage for x in SOURCES.listing() if SOURCES.get(x.name).extra.get("schemes"))
            raise SourceError(f"--source {text!r}: unsupported scheme {scheme}:// (supported: {known})")
    for entry in SOURCES:
        match = entry.extra.get("match")
        if match is not None and match(text):
            return entry
    return next(e for e in SOURCES if e.extra.get("fallback"))


def clean_frame(frame: Any) -> np.ndarray | None:
    """A frame as uint8 BGR ``(H, W, 3)`` (gray/BGRA/16-bit converted), or ``None`` if empty/unusable."""
    if frame is None or not isinstance(frame, np.ndarray) or frame.size == 0:
        return None
    try:
        return np.ascontiguousarray(to_bgr(frame))
    except InputError:
        return None


__all__ = [
    "CaptureSource",
    "ImageSource",
    "Source",
    "clean_frame",
    "open_source",
    "source_for",
    "SourceOptions",
]
