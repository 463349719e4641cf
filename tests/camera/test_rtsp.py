"""The camera loop on a real RTSP stream: a GStreamer RTSP server on the loopback address (issue #16).

The server (``rtsp_server.py``) runs under the system Python, which has Debian's ``gi`` bindings; the
tests skip, saying why, only where those packages are not installed (``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeguard.camera.loop import Backoff, CameraLoop, LoopOptions
from edgeguard.camera.sources import open_source
from edgeguard.pipeline import load

from .test_camera_pipeline import Slow

pytestmark = pytest.mark.timeout(120)
SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).with_name("rtsp_server.py")
PROBE = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"


def _why_not() -> str | None:
    try:
        r = subprocess.run([SYSTEM_PYTHON, "-c", PROBE], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no system Python to run the GStreamer RTSP server ({exc})"
    if r.returncode != 0:
        return (
            "GStreamer RTSP server bindings missing (apt-get install gir1.2-gst-rtsp-server-1.0 "
            f"python3-gi gstreamer1.0-plugins-good): {r.stderr.strip().splitlines()[-1:]}"
        )
    return None


class Server:
    """The RTSP server subprocess; ``start``/``stop`` on one fixed port (a restart reuses it)."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == "ready", f"RTSP server did not start: {line!r}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def server() -> Iterator[Server]:
    why = _why_not()
    if why is not None:
        pytest.skip(why)
    srv = Server()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.slow
def test_slow_inference_on_a_live_stream_drops_stale_frames_and_keeps_latency_bounded(
    server: Server, sign_engine: Path
) -> None:
    slow = Slow(load(sign_engine), 0.1)  # 10 results/s from a 30 FPS stream
    src = open_source(server.url, timeout_ms=5000)
    s = CameraLoop(slow, src, LoopOptions(max_frames=15, crop="resize")).run()
    assert s["live"] and s["frames"] == 15 and s["stopped_by"] == "max-frames"
    assert s["dropped"] >= 15  # about two of every three frames were stale and were dropped
    # a result comes from a frame at most one inference (plus the hand-over) old: never a backlog
    assert s["latency_ms"]["p95"] < 4 * 1e3 * slow.delay_s + 500, s["latency_ms"]


@pytest.mark.slow
def test_the_loop_survives_the_server_stopping_and_coming_back(
    server: Server, sign_engine: Path, tmp_path: Path
) -> None:
    ev = tmp_path / "e.jsonl"
    src = open_source(server.url, timeout_ms=2000)
    opts = LoopOptions(events=ev, crop="resize", backoff=Backoff(initial_s=0.2, max_s=1.0, attempts=-1))
    loop = CameraLoop(load(sign_engine), src, opts)
    state: dict[str, int] = {}

    def outage() -> None:
        time.sleep(2.0)
        state["before"] = loop.stats.frames
        server.stop()
        time.sleep(2.0)
        server.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and loop.stats.reconnects == 0:
            time.sleep(0.1)
        time.sleep(1.5)
        loop.stop("test done")

    t = threading.Thread(target=outage)
    t.start()
    s = loop.run()
    t.join()
    assert s["stopped_by"] == "test done" and s["error"] is None
    assert s["disconnects"] >= 1 and s["reconnects"] >= 1
    assert state["before"] > 0 and s["frames"] > state["before"]  # frames again after the restart
    kinds = [json.loads(line).get("event") for line in ev.read_text().splitlines()]
    assert "disconnect" in kinds and "reconnect" in kinds
