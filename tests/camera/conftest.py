"""Camera fixtures: a small defended engine (random-weight sign classifier), fake sources, a video file."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from edgeguard.camera.synthetic import DriveBy, DriveBySequence


@pytest.fixture(scope="session")
def sign_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sign classifier's architecture with random weights, exported with bits:5 + median:3x3.

    Random weights keep these tests independent of the shipped checkpoint; the demo test uses the real one.
    """
    from edgeguard import models
    from edgeguard.exporter.onnx import export
    from edgeguard.models.signs import signs_resnet
    from edgeguard.registry import Entry

    if "signs-random-test" not in models.REGISTRY:
        extra = {k: v for k, v in models.REGISTRY.get("signs").extra.items() if k != "default_weights"}
        models.REGISTRY.register(Entry("signs-random-test", signs_resnet, extra=extra))
    out = tmp_path_factory.mktemp("engine") / "signs-rand.onnx"
    export("signs-random-test", defense=["bits:5", "median:3x3"], out=out, parity_images=2)
    return out


@pytest.fixture(scope="session")
def drive_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-frame 320×240 mp4 of the synthetic drive-by (a 'generated video file')."""
    seq = DriveBySequence(DriveBy(frames=40, width=320, height=240))
    path = tmp_path_factory.mktemp("video") / "drive.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    for i in range(40):
        writer.write(seq.render(i)[0])
    writer.release()
    return path
