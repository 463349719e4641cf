"""Detection through the camera: a YOLO-layout ONNX on a generated video, tracks, vanish events, NaN boxes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeguard.camera.detect import DetectionWatch
from edgeguard.camera.loop import CameraLoop, LoopOptions
from edgeguard.camera.tracker import ByteTracker, greedy_match
from edgeguard.engines.base import Engine
from edgeguard.engines.onnxruntime import OnnxRuntimeEngine
from edgeguard.pipeline import Pipeline

from .fakes import FakeLive

YOLO = Path(__file__).parents[1] / "fixtures" / "ultralytics" / "tiny_yolo.onnx"
PERSON = (240, 0, 60)  # a BGR colour the tiny detector scores as "person" (0.70) on grey 114


def _frame(person: bool, shift: int = 0) -> np.ndarray:
    f = np.full((240, 320, 3), 114, np.uint8)
    if shift:  # a background of 40 px stripes panning past: the scene is not static
        stripes = np.where((np.arange(320) + shift) // 40 % 2, 60, 170).astype(np.uint8)
        f[:] = stripes[None, :, None]
    if person:
        f[80:180, 130:190] = PERSON
    return f


def _video(path: Path, frames: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def test_camera_detect_on_a_video_counts_tracks_and_fires_vanish(cli, tmp_path: Path) -> None:
    video = _video(tmp_path / "street.avi", [_frame(i < 20) for i in range(40)])
    out = tmp_path / "out"
    r = cli(
        "camera", "--engine", str(YOLO), "--task", "detect", "--source", str(video), "--conf", "0.6",
        "--record", "run.avi", "--events", "events.jsonl", "--snapshots", "snaps",
        "--summary", "summary.json", "--out-dir", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "detection" and summary["frames"] == 40
    det = summary["detection"]
    assert det["objects"]["person"] >= 20 and set(det["objects"]) == {"person"} and det["dropped_boxes"] == 0
    assert det["tracks"] >= 1 and det["vanished"] >= 1
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    vanished = [e for e in events if e["event"] == ["track_vanished"]]
    assert vanished and all(e["label"] == "person" and e["frames_seen"] >= 5 for e in vanished)
    assert {e["frame"] for e in vanished} == {22}  # gone at 20, missed for 3 frames at 22
    assert all((out / e["snapshot"]).is_file() or Path(e["snapshot"]).is_file() for e in vanished)
    assert "objects" in r.stdout and "person" in r.stdout
    assert (out / "run.avi").stat().st_size > 0


def test_no_vanish_event_when_the_scene_moves(tmp_path: Path) -> None:
    watch = DetectionWatch(("person", "car", "dog"))
    box = {"xyxy": [130.0, 80.0, 190.0, 180.0], "score": 0.9, "label": "person", "index": 0}
    events = []
    for i in range(30):
        frame = _frame(False, shift=8 * i)  # panning camera
        decision = {"boxes": [dict(box)] if i < 20 else [], "counts": {}, "dropped": 0}
        events += watch.update(frame, decision, i)
    assert events == [] and watch.summary()["tracks"] == 1
    still = DetectionWatch(("person", "car", "dog"))
    for i in range(30):
        decision = {"boxes": [dict(box)] if i < 20 else [], "counts": {}, "dropped": 0}
        events += still.update(_frame(False), decision, i)
    assert [e["frame"] for e in events] == [22] and events[0]["track"] == 1


class NaNEvery(Engine):
    """The tiny YOLO engine, with the boxes of every other frame turned to NaN (a flaky accelerator)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = OnnxRuntimeEngine(YOLO, provider="cpu", threads=1)
        self.inputs, self.outputs, self.metadata = self.inner.inputs, self.inner.outputs, self.inner.metadata
        self.manifest, self.provider, self.calls = None, "cpu", 0

    def _load(self) -> None: ...

    def _unload(self) -> None: ...

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.inner._run(feed)
        self.calls += 1
        if self.calls % 2 == 0:
            out["output0"][:, :, :40] = np.nan
        return out


def test_nan_boxes_in_a_live_stream_are_dropped_and_counted(tmp_path: Path) -> None:
    pipe = Pipeline(NaNEvery(), task="detect", decision={"conf": 0.6})
    src = FakeLive(drops=0, tail=12, frames=[_frame(True) for _ in range(12)])  # the overlay draws on them
    src.live = False  # every frame processed in order (a live source would drop stale ones)
    summary = CameraLoop(pipe, src, LoopOptions(summary=tmp_path / "s.json", warmup=False)).run()
    assert summary["frames"] == 12 and summary["error"] is None
    assert summary["detection"]["dropped_boxes"] == 6 * 40  # 40 NaN anchors on 6 of the 12 frames
    assert summary["detection"]["objects"] == {"person": 4 * 12}  # the NaN anchors hid no person


def test_tracker_keeps_ids_uses_low_scores_and_expires() -> None:
    t = ByteTracker(high=0.5, low=0.1, max_age=3)
    a, b = np.array([[0, 0, 10, 20]], np.float32), np.array([[50, 50, 60, 70]], np.float32)
    ids = []
    for step in range(5):  # two objects moving right by 2 px a frame
        boxes = np.concatenate([a + [2 * step, 0, 2 * step, 0], b + [2 * step, 0, 2 * step, 0]])
        ids.append([tr.id for tr in t.update(boxes, np.array([0.9, 0.8]), np.array([0, 0]))])
    assert ids == [[1, 2]] * 5
    # the first object's score drops to 0.3 (partly hidden): the second round keeps its track alive
    seen = t.update(
        np.array([[10, 0, 20, 20], [60, 50, 70, 70]], np.float32), np.array([0.3, 0.8]), np.array([0, 0])
    )
    assert sorted(tr.id for tr in seen) == [1, 2]
    # a low-score box never starts a track; a class change is a new object
    seen = t.update(
        np.array([[200, 200, 210, 210], [62, 50, 72, 70]], np.float32), np.array([0.3, 0.8]), np.array([0, 1])
    )
    assert [tr.id for tr in seen] == [3]
    for _ in range(4):
        t.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0))
    assert t.tracks == []


@pytest.mark.parametrize(
    ("iou", "pairs"),
    [
        (np.array([[0.9, 0.8], [0.85, 0.1]]), [(0, 0), (1, 1)]),  # greedy: the best pair first
        (np.array([[0.2, 0.1]]), []),
        (np.zeros((0, 3)), []),
    ],
)
def test_greedy_match(iou: np.ndarray, pairs: list) -> None:
    got = greedy_match(iou, 0.3)
    assert sorted(got) == sorted(p for p in pairs if iou[p] >= 0.3)


def test_overlay_draws_each_box_and_the_counts() -> None:
    from edgeguard.camera.detect import PALETTE, draw_boxes

    frame = np.zeros((240, 320, 3), np.uint8)
    decision = {
        "boxes": [
            {"xyxy": [40.0, 60.0, 120.0, 200.0], "score": 0.9, "label": "person", "index": 0, "track": 3},
            {"xyxy": [200.0, 100.0, 300.0, 150.0], "score": 0.5, "label": "car", "index": 1},
        ],
        "counts": {"person": 1, "car": 1},
        "dropped": 2,
    }
    draw_boxes(frame, decision)
    assert tuple(frame[130, 40]) == PALETTE[0] and tuple(frame[130, 120]) == PALETTE[0]  # left/right edges
    assert tuple(frame[125, 200]) == PALETTE[1] and tuple(frame[150, 250]) == PALETTE[1]
    assert frame[130, 80].max() == 0  # inside the box: untouched
    assert frame[225:, :150].max() > 150  # the per-class count line (white, anti-aliased) at the bottom left
    flagged = np.zeros_like(frame)
    draw_boxes(flagged, {**decision, "flagged": True})
    assert tuple(flagged[130, 40]) == (40, 40, 230)  # a flagged frame's boxes are red


def test_auto_crop_gives_a_detector_the_whole_frame(tmp_path: Path) -> None:
    """A source's ROI (the surveillance source reports its largest person) is not a crop for a detector."""
    pipe = Pipeline(OnnxRuntimeEngine(YOLO, provider="cpu", threads=1), task="detect", decision={"conf": 0.6})
    src = FakeLive(drops=0, tail=3, frames=[_frame(True) for _ in range(3)])
    src.live, src.roi = False, (0, 0, 40, 40)  # a region away from the person
    summary = CameraLoop(pipe, src, LoopOptions(warmup=False)).run()
    assert summary["frames"] == 3 and summary["detection"]["objects"] == {"person": 4 * 3}
