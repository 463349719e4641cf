"""The shipped demo engine carries the feature-squeezing detector: score in the overlay and the events."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import edgeguard
from edgeguard import manifest
from edgeguard.camera import default, overlay
from edgeguard.camera.synthetic import DriveBy, DriveBySequence


def _shipped() -> Path:
    return default.shipped_engine_path()


def test_the_shipped_demo_engine_has_the_detector():
    m = manifest.load_sidecar(manifest.sidecar_path(_shipped()))
    assert m.outputs == ("logits", "adv_score") and m.detector.spec == default.DETECTOR
    assert m.detector.fpr == 0.05 and m.detector.calibration.images == 500 and 0 < m.detector.threshold < 2


def test_overlay_shows_the_score_bar_for_the_demo_engine():
    frame = DriveBySequence(DriveBy(frames=10, width=320, height=240)).render(5)[0]
    with edgeguard.load(_shipped()) as pipe:
        result = pipe([frame])[0]
        tau = pipe.manifest.detector.threshold
    assert isinstance(result.adv_score, float) and result.flagged == (result.adv_score > tau)
    black = np.zeros((240, 320, 3), np.uint8)
    drawn = overlay.draw(black.copy(), result.decision, overlay.OverlayInfo(threshold=tau))
    without = {k: v for k, v in result.decision.items() if k not in ("adv_score", "flagged")}
    na = overlay.draw(black.copy(), without, overlay.OverlayInfo(threshold=tau))
    bar = overlay.RED if result.flagged else overlay.GREEN

    def has(img: np.ndarray, colour: tuple[int, int, int]) -> bool:
        return bool((img == np.array(colour, np.uint8)).all(axis=-1).any())

    # The score row draws a bar filled in the flag colour; the "n/a" overlay draws no such pixel.
    assert result.adv_score == 0.0 or has(drawn, bar)
    assert has(drawn, overlay.GREY) and not has(na, bar) and not np.array_equal(drawn, na)


def test_camera_events_carry_the_score(cli, tmp_path: Path):
    r = cli(
        "camera", "-e", str(_shipped()), "-i", "synthetic:stop-sign?frames=4", "--width", "160", "--height",
        "120", "--events", "e.jsonl", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert events and all(isinstance(e["adv_score"], float) for e in events)
