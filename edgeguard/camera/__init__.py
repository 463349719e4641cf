"""The camera loop: sources (V4L2, CSI, RTSP/HTTP, files, synthetic drive-by), loop, overlay, outputs.

``open_source("synthetic:stop-sign")`` → :class:`~edgeguard.camera.sources.Source`;
``CameraLoop(pipeline, source, LoopOptions(...)).run()`` → summary dict;
``run_camera(CameraOptions(...))`` (:mod:`edgeguard.camera.run`) is a whole ``edgeguard camera`` run —
validate, load, open, loop — and the CLI only parses flags into it and prints the summary.
"""

from __future__ import annotations

from .channel import Backoff, Frame, FrameChannel
from .live import csi_pipeline
from .loop import CameraLoop, LoopOptions, check_task
from .run import CameraOptions, run_camera
from .sources import Source, open_source

__all__ = [
    "Backoff",
    "CameraLoop",
    "CameraOptions",
    "Frame",
    "FrameChannel",
    "LoopOptions",
    "Source",
    "check_task",
    "csi_pipeline",
    "open_source",
    "run_camera",
]
