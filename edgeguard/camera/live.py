"""Live camera sources: V4L2 devices, Jetson CSI cameras (GStreamer) and RTSP/HTTP streams (FFmpeg).

Each registers itself with :data:`~edgeguard.registry.SOURCES` (found by scheme or matcher; see
:mod:`edgeguard.camera.sources` for the lookup and the file/image sources). All are ``live``: the loop
hands only the newest frame to inference and re-opens them with backoff when they drop.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlsplit

import cv2

from ..errors import SourceError
from ..registry import SOURCES
from .sources import STREAM_SCHEMES, CaptureSource, Source, SourceOptions


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


__all__ = ["csi_pipeline", "gstreamer_available", "open_csi", "open_device", "open_stream"]
