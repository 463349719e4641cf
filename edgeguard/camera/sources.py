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
import re
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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


def csi_pipeline(sensor_id: int, width: int = 1280, height: int = 720, fps: int = 30, flip: int = 0) -> str:
    """GStreamer pipeline for a Jetson CSI camera (``nvarguscamerasrc`` → BGR ``appsink``).

    Only validated integers enter the string, so no user text can inject pipeline elements. ``appsink
    drop=true max-buffers=1`` keeps the newest frame only (REFERENCE complaint 9/10).

    Raises:
        SourceError: a value is not an integer in range.
    """
    for label, value, lo, hi in (
        ("sensor id", sensor_id, 0, 15),
        ("width", width, 16, 8192),
        ("height", height, 16, 8192),
        ("fps", fps, 1, 240),
        ("flip", flip, 0, 7),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise SourceError(f"csi camera: {label} must be an integer in {lo}..{hi}, got {value!r}")
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM), width={width}, height={height}, framerate={fps}/1, format=NV12 ! "
        f"nvvidconv flip-method={flip} ! video/x-raw, width={width}, height={height}, format=BGRx ! "
        f"videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false"
    )


def gstreamer_available() -> bool:
    """Whether this OpenCV build can open GStreamer pipelines (pip wheels cannot; JetPack's can)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line.split(":", 1)[1]
    return False


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


def _query_int(query: dict[str, str], key: str, default: int, lo: int, hi: int, where: str) -> int:
    text = query.get(key)
    if text is None:
        return default
    if not re.fullmatch(r"\d{1,5}", text) or not lo <= int(text) <= hi:
        raise SourceError(f"{where}: {key}={text!r} must be an integer in {lo}..{hi}")
    return int(text)


def _is_device(text: str) -> bool:
    return text.isdigit() or text.startswith("/dev/video")


@SOURCES.register(
    "v4l2",
    summary="V4L2 camera by index or device path",
    usage="0 | /dev/video0",
    match=_is_device,
    examples=({"spec": "0"}, {"spec": "/dev/video2"}),
)
def open_device(spec: str, opts: SourceOptions) -> Source:
    """V4L2 camera ``N`` or ``/dev/videoN`` with a one-frame buffer."""
    width, height, fps = opts.width, opts.height, opts.fps
    if spec.isdigit():
        index, path = int(spec), f"/dev/video{spec}"
    else:
        m = re.fullmatch(r"/dev/video(\d{1,3})", spec)
        if not m:
            raise SourceError(f"--source {spec!r}: not a V4L2 device (expected N or /dev/videoN)")
        index, path = int(m.group(1)), spec
    if not os.path.exists(path):
        raise SourceError(
            f"camera {spec!r}: tried V4L2 device {path}, which does not exist (is it plugged in?)"
        )
    props: dict[int, float] = {cv2.CAP_PROP_BUFFERSIZE: 1}
    if width:
        props[cv2.CAP_PROP_FRAME_WIDTH] = width
    if height:
        props[cv2.CAP_PROP_FRAME_HEIGHT] = height
    if fps:
        props[cv2.CAP_PROP_FPS] = fps
    return CaptureSource(
        index,
        api=cv2.CAP_V4L2,
        name=f"V4L2 camera {path}",
        live=True,
        props=props,
        hint="is another program using it? check `v4l2-ctl --list-devices`",
    )


@SOURCES.register(
    "csi",
    summary="Jetson CSI camera through GStreamer",
    usage="csi://0[?flip=N]",
    schemes=("csi",),
    examples=({"spec": "csi://0"}, {"spec": "csi://1?flip=2"}),
)
def open_csi(spec: str, opts: SourceOptions) -> Source:
    """Jetson CSI camera ``csi://N[?flip=M]`` (``nvarguscamerasrc``; needs OpenCV with GStreamer)."""
    width, height, fps = opts.width, opts.height, opts.fps
    parts = urlsplit(spec)
    sensor = parts.netloc or parts.path.lstrip("/")
    if not re.fullmatch(r"\d{1,2}", sensor):
        raise SourceError(
            f"--source {spec!r}: malformed CSI camera; expected csi://N with N a sensor index 0..15"
        )
    flip = _query_int(dict(parse_qsl(parts.query)), "flip", 0, 0, 7, spec)
    pipeline = csi_pipeline(int(sensor), width or 1280, height or 720, fps or 30, flip)
    if not gstreamer_available():
        raise SourceError(
            f"csi://{sensor}: this OpenCV build has no GStreamer support (pip wheels lack it); "
            f"on Jetson use JetPack's OpenCV (python3-opencv) — tried pipeline: {pipeline}"
        )
    return CaptureSource(
        pipeline,
        api=cv2.CAP_GSTREAMER,
        name=f"CSI camera {sensor}",
        live=True,
        hint="is nvargus-daemon running and the sensor connected?",
    )


@SOURCES.register(
    "stream",
    summary="network stream through FFmpeg, newest frame only",
    usage="rtsp://… | http(s)://…",
    schemes=STREAM_SCHEMES,
    examples=({"spec": "rtsp://127.0.0.1:9/cam"}, {"spec": "http://127.0.0.1:9/feed.mjpg"}),
)
def open_stream(spec: str, opts: SourceOptions) -> Source:
    """Network stream through FFmpeg with a small buffer; the loop keeps only the newest frame."""
    latency_ms, transport, timeout_ms = opts.latency_ms, opts.transport, opts.timeout_ms
    if transport not in ("tcp", "udp"):
        raise SourceError(f"--transport {transport!r}: expected tcp or udp")
    if not isinstance(latency_ms, int) or not 0 <= latency_ms <= 10_000:
        raise SourceError(f"--latency {latency_ms!r}: expected milliseconds in 0..10000")
    scheme = urlsplit(spec).scheme
    opts = [f"max_delay;{latency_ms * 1000}", "fflags;nobuffer", "flags;low_delay"]
    if scheme.startswith("rtsp"):
        opts.insert(0, f"rtsp_transport;{transport}")
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    shown = urlsplit(spec)._replace(netloc=urlsplit(spec).netloc.rsplit("@", 1)[-1]).geturl()  # hide password
    return CaptureSource(
        spec,
        api=cv2.CAP_FFMPEG,
        name=f"stream {shown}",
        live=True,
        props={cv2.CAP_PROP_BUFFERSIZE: 1},
        open_params=params,
        env={"OPENCV_FFMPEG_CAPTURE_OPTIONS": "|".join(opts)},
        hint=f"tried FFmpeg with {transport.upper()} transport, timeout {timeout_ms} ms",
    )


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
    "csi_pipeline",
    "gstreamer_available",
    "open_source",
    "source_for",
    "SourceOptions",
]
