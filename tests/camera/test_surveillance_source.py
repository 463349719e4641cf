"""``synthetic:surveillance``: frames with every walker's true box, deterministic, checked options."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeguard.camera.sources import open_source
from edgeguard.camera.surveillance import SurveillanceSource
from edgeguard.errors import SourceError

SPEC = "synthetic:surveillance?frames=6&people=3&seed=2"


def _frames(spec: str = SPEC, n: int = 6) -> tuple[SurveillanceSource, list, list]:
    src = open_source(spec, width=256, height=192)
    assert isinstance(src, SurveillanceSource)
    frames, boxes = [], []
    for _ in range(n):
        f = src.read()
        if f is None:
            break
        frames.append(f)
        boxes.append(src.boxes.copy())
    return src, frames, boxes


def test_frames_carry_the_walkers_boxes() -> None:
    """Oracle: the source's own empty background. Outside every box the frame is that background
    exactly (the source adds no camera noise); inside each box many pixels differ from it."""
    src, frames, boxes = _frames()
    assert len(frames) == 6 and src.read() is None
    assert src.seq is not None
    bg = cv2.cvtColor(np.clip(np.round(src.seq.background * 255), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    seen = 0
    for f, b in zip(frames, boxes, strict=True):
        assert f.shape == (192, 256, 3) and f.dtype == np.uint8
        diff = np.abs(f.astype(int) - bg.astype(int)).max(2) > 0
        inside = np.zeros(diff.shape, bool)
        for x1, y1, x2, y2 in b:
            inside[y1:y2, x1:x2] = True
            assert diff[y1:y2, x1:x2].mean() > 0.1
            seen += 1
        # anti-aliased edges may reach a pixel past the >50 %-coverage box
        assert diff[~cv2.dilate(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)].sum() == 0
    assert seen >= 6
    largest = max(boxes[-1], key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
    assert src.roi == (largest[0], largest[1], largest[2] - largest[0], largest[3] - largest[1])


def test_people_walk_and_replay_identically() -> None:
    _, a, ba = _frames()
    _, b, bb = _frames()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(ba, bb, strict=True))
    assert not np.array_equal(ba[0], ba[-1])  # they moved


@pytest.mark.parametrize(
    "spec",
    [
        "synthetic:surveillance?people=99",
        "synthetic:surveillance?frames=0",
        "synthetic:surveillance?walk=1",
        "synthetic:surveillance?seed=x",
    ],
)
def test_bad_options_are_one_source_error(spec: str) -> None:
    with pytest.raises(SourceError, match="surveillance"):
        open_source(spec)
