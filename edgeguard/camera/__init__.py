"""The camera loop: sources (V4L2, CSI, RTSP/HTTP, files, synthetic drive-by), loop, overlay, outputs.

``open_source("synthetic:stop-sign")`` → :class:`~edgeguard.camera.sources.Source`;
``CameraLoop(pipeline, source, LoopOptions(...)).run()`` → summary dict. The ``edgeguard camera``
command (``edgeguard/cli/camera.py``) wires them to the CLI.
"""

from __future__ import annotations

from .channel import Backoff, Frame, FrameChannel
from .loop import CameraLoop, LoopOptions, check_task
from .sources import Source, csi_pipeline, open_source

__all__ = [
    "Backoff",
    "CameraLoop",
    "Frame",
    "FrameChannel",
    "LoopOptions",
    "Source",
    "check_task",
    "csi_pipeline",
    "open_source",
]
