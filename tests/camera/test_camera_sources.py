"""Sources: the spec grammar, bad input (what was tried), CSI pipeline safety, synthetic drive-by, files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeguard.camera.live import csi_pipeline
from edgeguard.camera.sources import clean_frame, open_source
from edgeguard.camera.synthetic import STICKERS, DriveBy, DriveBySequence, parse_synthetic
from edgeguard.errors import SourceError


def read_all(src) -> list[np.ndarray]:
    out = []
    while (f := src.read()) is not None:
        out.append(f)
    return out


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("/nonexistent/clip.mp4", "no such file, folder or device"),
        ("/dev/video97", "/dev/video97, which does not exist"),
        ("97", "/dev/video97"),
        ("ftp://host/stream", "unsupported scheme ftp://"),
        ("gst://videotestsrc", "unsupported scheme gst://"),
        ("csi://abc", "malformed CSI"),
        ("csi://0;rm -rf", "malformed CSI"),
        ("csi://123", "malformed CSI"),
        ("csi://", "malformed CSI"),
        ("csi://0?flip=9", "flip='9'"),
        ("synthetic:cat", "unknown synthetic scene"),
        ("synthetic:stop-sign?frames=0", "bad value frames"),
        ("synthetic:stop-sign?colour=red", "unknown option 'colour'"),
        ("/tmp/*.nothing-matches-this", "glob matches no image"),
        ("", "--source is empty"),
    ],
)
def test_bad_sources_say_what_was_tried(spec: str, needle: str) -> None:
    with pytest.raises(SourceError, match=None) as err:
        open_source(spec)
    assert needle in str(err.value)


def test_csi_pipeline_is_built_from_validated_integers_only() -> None:
    p = csi_pipeline(1, 1920, 1080, 30, flip=2)
    assert p.startswith("nvarguscamerasrc sensor-id=1 ! ")
    assert "width=1920, height=1080, framerate=30/1" in p and "flip-method=2" in p
    assert p.endswith("appsink drop=true max-buffers=1 sync=false")  # newest frame only
    for bad in ("0 ! fakesink", True, 1.5, -1, 16):
        with pytest.raises(SourceError, match="sensor id"):
            csi_pipeline(bad)  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="width"):
        csi_pipeline(0, width=10)


def test_csi_without_gstreamer_names_the_pipeline_it_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeguard.camera.live as live

    # Independent of the installed OpenCV: pretend it was built without GStreamer (pip's wheels are).
    monkeypatch.setattr(live, "gstreamer_available", lambda: False)
    with pytest.raises(SourceError, match="no GStreamer support.*nvarguscamerasrc sensor-id=0"):
        open_source("csi://0")


def test_unreachable_stream_fails_with_what_was_tried() -> None:
    with pytest.raises(SourceError, match="cannot open stream rtsp://127.0.0.1:9/x.*TCP transport"):
        open_source("rtsp://user:secret@127.0.0.1:9/x", timeout_ms=1000)


def test_stream_message_hides_the_password() -> None:
    with pytest.raises(SourceError) as err:
        open_source("http://user:secret@127.0.0.1:9/cam.mjpg", timeout_ms=1000)
    assert "secret" not in str(err.value)


def test_synthetic_drive_by_is_deterministic_with_rois_inside_the_frame() -> None:
    src = open_source("synthetic:stop-sign?frames=12&angles=0,30", width=320, height=240)
    frames, rois = [], []
    while (f := src.read()) is not None:
        frames.append(f)
        rois.append(src.roi)
    assert len(frames) == 12 and frames[0].shape == (240, 320, 3) and frames[0].dtype == np.uint8
    for x, y, w, h in rois:
        assert x >= 0 and y >= 0 and x + w <= 320 and y + h <= 240 and w == h
    sides = [r[2] for r in rois[:6]]
    assert sides == sorted(sides) and sides[-1] > 2 * sides[0]  # the sign approaches: far → near
    again = open_source("synthetic:stop-sign?frames=12&angles=0,30", width=320, height=240)
    assert all(np.array_equal(a, b) for a, b in zip(frames, read_all(again)))


def test_sticker_changes_only_the_sign() -> None:
    clean = DriveBySequence(DriveBy(frames=4, angles=(0.0,)))
    stick = DriveBySequence(DriveBy(frames=4, angles=(0.0,), sticker=True))
    a, roi = clean.render(3)
    b, roi2 = stick.render(3)
    assert roi == roi2
    diff = np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 0
    x, y, w, h = roi
    assert diff.sum() > 0.02 * w * h  # the black/white bars are visible
    outside = diff.copy()
    outside[y : y + h, x : x + w] = False
    assert not outside.any()
    assert len(STICKERS) == 4 and parse_synthetic("synthetic:stop-sign?sticker=1").sticker


def test_image_folder_and_glob_convert_gray_and_bgra(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    cv2.imwrite(str(tmp_path / "a.png"), rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), rng.integers(0, 255, (30, 20), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "c.png"), rng.integers(0, 255, (16, 16, 4), dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    for spec in (str(tmp_path), str(tmp_path / "*.png")):
        frames = read_all(open_source(spec))
        assert [f.shape for f in frames] == [(40, 50, 3), (30, 20, 3), (16, 16, 3)]
    single = open_source(str(tmp_path / "b.png"))
    assert not single.live and len(read_all(single)) == 1


def test_video_file_is_not_live_and_reads_every_frame(drive_video: Path) -> None:
    src = open_source(str(drive_video))
    assert not src.live and src.fps == pytest.approx(30.0)
    assert len(read_all(src)) == 40


def test_clean_frame_converts_or_rejects() -> None:
    assert clean_frame(None) is None and clean_frame(np.empty((0, 0, 3), np.uint8)) is None
    assert clean_frame(np.zeros((5, 6), np.uint8)).shape == (5, 6, 3)
    assert clean_frame(np.zeros((5, 6, 4), np.uint8)).shape == (5, 6, 3)
    assert clean_frame(np.full((5, 6, 3), 65535, np.uint16)).max() == 255
    assert clean_frame(np.zeros((5, 6, 7), np.uint8)) is None
