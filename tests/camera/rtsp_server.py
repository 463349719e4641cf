"""A GStreamer RTSP server on the loopback address for the camera tests (issue #16).

Run under the *system* Python (``/usr/bin/python3 rtsp_server.py PORT``): the project's venv cannot
import ``gi``. Needs Debian's ``gir1.2-gst-rtsp-server-1.0``, ``python3-gi`` and
``gstreamer1.0-plugins-good`` (``.ci/run`` installs them where missing). Serves a generated video
(``videotestsrc``'s moving ball, 320×240 at 30 FPS, MJPEG over RTP) at ``rtsp://127.0.0.1:PORT/cam``
and prints ``ready`` once it listens. Imports nothing from edgeguard.
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

LAUNCH = (
    "( videotestsrc is-live=true pattern=ball ! "
    "video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! "
    "jpegenc quality=80 ! rtpjpegpay name=pay0 pt=26 )"
)


def main(port: str) -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(LAUNCH)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if not server.attach(None):
        print(f"cannot listen on 127.0.0.1:{port}", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(sys.argv[1])
