"""The detection decision on hand-built tensors, host NMS against torchvision, the letterbox round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeguard import decision
from edgeguard.detection import layout_of
from edgeguard.errors import ConfigError, EngineError
from edgeguard.letterbox import letterbox, letterbox_geometry, stretch_geometry
from edgeguard.manifest import InputSpec, Manifest
from edgeguard.nms import batched_nms, box_iou, nms, nms_numpy, xywh_to_xyxy

LABELS = ("person", "car", "dog")
MANIFEST = Manifest(task="detection", input=InputSpec(size=(64, 64), resize="letterbox"), labels=LABELS)


def _raw(anchors: list[tuple[float, float, float, float, int, float]], n: int = 10) -> np.ndarray:
    """A (1, 4 + 3, n) raw head: the given anchors (cx, cy, w, h, class, score), the rest score 0."""
    p = np.zeros((1, 4 + len(LABELS), n), np.float32)
    p[0, :4] = 1.0
    for i, (cx, cy, w, h, c, s) in enumerate(anchors):
        p[0, :4, i] = (cx, cy, w, h)
        p[0, 4 + c, i] = s
    return p


def _decide(pred: np.ndarray, **opts) -> dict:
    (res,) = decision.for_task("detection", **opts)({"output0": pred}, MANIFEST)
    return res


def test_raw_layout_known_boxes_nms_and_class_awareness() -> None:
    pred = _raw(
        [
            (20, 20, 10, 10, 0, 0.9),  # person at (15, 15, 25, 25)
            (21, 20, 10, 10, 0, 0.8),  # same person, IoU 9·10/(110) = 0.818 > 0.7: suppressed
            (21, 20, 10, 10, 1, 0.6),  # a car at the same place: kept (class-aware)
            (50, 40, 8, 4, 2, 0.25),  # dog exactly at the threshold: not above it, dropped
            (50, 40, 8, 4, 2, 0.3),  # dog above it
        ]
    )
    res = _decide(pred)
    assert [(b["label"], b["score"]) for b in res["boxes"]] == [("person", 0.9), ("car", 0.6), ("dog", 0.3)]
    assert res["boxes"][0]["xyxy"] == [15.0, 15.0, 25.0, 25.0] and res["boxes"][2]["xyxy"] == [
        46.0,
        38.0,
        54.0,
        42.0,
    ]
    assert res["counts"] == {"person": 1, "car": 1, "dog": 1} and res["dropped"] == 0
    assert json.loads(json.dumps(res, allow_nan=False)) == res
    agnostic = _decide(pred, agnostic=True)
    assert [b["label"] for b in agnostic["boxes"]] == ["person", "dog"]  # the car overlaps the person
    assert [b["label"] for b in _decide(pred, classes="car,dog")["boxes"]] == ["car", "dog"]
    assert [b["index"] for b in _decide(pred, classes=[2])["boxes"]] == [2]
    assert len(_decide(pred, max_det=2)["boxes"]) == 2
    assert [b["score"] for b in _decide(pred, iou=0.9)["boxes"]] == [0.9, 0.8, 0.6, 0.3]
    assert _decide(pred, conf=0.95)["boxes"] == []


def test_only_the_best_class_of_an_anchor_counts() -> None:
    pred = _raw([(20, 20, 10, 10, 0, 0.9)])
    pred[0, 4 + 1, 0] = 0.5  # the same anchor also scores car 0.5: Ultralytics keeps it once, as person
    assert [b["label"] for b in _decide(pred)["boxes"]] == ["person"]
    assert _decide(pred, classes="car")["boxes"] == []  # the filter acts on the best class


def test_end_to_end_layout() -> None:
    rows = np.zeros((1, 5, 6), np.float32)
    rows[0, 0] = (1, 2, 11, 12, 0.9, 1)
    rows[0, 1] = (5, 5, 9, 9, 0.2, 0)  # below conf
    rows[0, 2] = (30, 30, 40, 50, 0.5, 2)
    res = _decide(rows)
    assert [(b["label"], b["xyxy"], b["score"]) for b in res["boxes"]] == [
        ("car", [1.0, 2.0, 11.0, 12.0], 0.9),
        ("dog", [30.0, 30.0, 40.0, 50.0], 0.5),
    ]
    assert [b["label"] for b in _decide(rows, classes="dog")["boxes"]] == ["dog"]


def test_nan_and_zero_area_boxes_are_dropped_and_counted() -> None:
    pred = _raw([(20, 20, 10, 10, 0, 0.9), (40, 40, 0, 10, 1, 0.8), (30, 30, 5, 5, 2, 0.7)])
    pred[0, 0, 2] = np.nan  # a NaN box coordinate
    pred[0, 4, 5] = np.nan  # a NaN score
    res = _decide(pred)
    assert [b["label"] for b in res["boxes"]] == ["person"] and res["dropped"] == 3


def test_boxes_map_back_through_the_letterbox_and_are_clipped() -> None:
    # A 100x200 (h x w) frame letterboxed into 64x64: gain 0.32, resized 64x32, padded 16 on top.
    geo = letterbox_geometry((100, 200), (64, 64))
    assert geo.gain == (0.32, 0.32) and geo.pad == (0.0, 16.0)
    pred = _raw([(32, 32, 16, 16, 0, 0.9), (2, 20, 8, 4, 1, 0.8)])
    (res,) = decision.for_task("detection")({"output0": pred}, MANIFEST, [geo])
    assert res["boxes"][0]["xyxy"] == pytest.approx([75.0, 25.0, 125.0, 75.0])
    assert res["boxes"][1]["xyxy"] == pytest.approx([0.0, 6.25, 18.75, 18.75])  # x1 = -6.25 clipped


def test_letterbox_round_trip_within_a_pixel() -> None:
    rng = np.random.default_rng(0)
    for h, w, size in (
        (480, 640, (640, 640)),
        (257, 131, (96, 128)),
        (300, 500, (320, 320)),
        (37, 53, (64, 96)),
    ):
        frame = np.zeros((h, w, 3), np.uint8)
        geo = letterbox_geometry((h, w), size)
        img = letterbox(frame, size)
        assert img.shape == (*size, 3)
        # the image occupies exactly the area the geometry says; the rest is 114
        x1, y1, x2, y2 = geo.to_input(np.array([[0, 0, w, h]]))[0]
        assert img[int(y1) : int(round(y2)), int(x1) : int(round(x2))].max() == 0
        assert (img == 114).sum() == img.size - 3 * round(x2 - x1) * round(y2 - y1)
        boxes = np.sort(rng.uniform(0, 1, (50, 2, 2)), axis=1) * [w, h]
        xyxy = boxes.reshape(50, 4)[:, [0, 1, 2, 3]]
        back = geo.to_frame(geo.to_input(xyxy))
        assert np.abs(back - xyxy).max() < 1e-3
    # a bright square keeps its place through the resize (the map is the image's, not only algebra)
    frame = np.zeros((300, 500, 3), np.uint8)
    frame[100:160, 200:300] = 255
    geo = letterbox_geometry((300, 500), (320, 320))
    img = letterbox(frame, (320, 320))
    ys, xs = np.nonzero(img[..., 0] > 127)
    found = geo.to_frame(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32))[0]
    assert np.abs(found - [200, 100, 300, 160]).max() <= 1.0


def test_stretch_geometry_maps_back() -> None:
    geo = stretch_geometry((100, 200), (64, 64), region=(10, 20, 200, 100))
    assert geo.to_frame(np.array([[0, 0, 64, 64]]))[0].tolist() == [10.0, 20.0, 210.0, 120.0]


def test_host_nms_equals_torchvision() -> None:
    torch = pytest.importorskip("torch")
    tv_ops = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(1)
    for n, iou in ((0, 0.5), (1, 0.5), (50, 0.3), (400, 0.5), (1000, 0.7)):
        c = rng.uniform(0, 200, (n, 2))
        wh = rng.uniform(2, 60, (n, 2))
        boxes = xywh_to_xyxy(np.concatenate([c, wh], 1)).astype(np.float32)
        scores = rng.uniform(1e-3, 1, n).astype(np.float32)
        classes = rng.integers(0, 4, n)
        want = tv_ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
        assert np.array_equal(nms(boxes, scores, iou), want)  # OpenCV's C++ NMS
        assert np.array_equal(nms_numpy(boxes, scores, iou), want)  # the numpy fallback
        want_b = tv_ops.batched_nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), iou
        ).numpy()
        assert np.array_equal(batched_nms(boxes, scores, classes, iou), want_b)
        if n:
            ious = box_iou(boxes, boxes)
            ref = tv_ops.box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes)).numpy()
            assert np.allclose(ious, ref, atol=1e-6)


def test_layouts_and_bad_shapes() -> None:
    assert layout_of((1, 84, 8400)) == "yolo" and layout_of((None, 84, None)) == "yolo"
    assert layout_of((1, 300, 6)) == "end2end"
    assert layout_of((1, 6, 6), classes=2) == "yolo"
    for shape in ((1, 10), (1, 8400, 84), (1, 3, 100), (2, 3, 4, 5)):
        with pytest.raises(EngineError, match="matches neither layout"):
            layout_of(shape)
    with pytest.raises(EngineError, match="names 3 labels"):
        layout_of((1, 84, 8400), classes=3)


def test_option_errors() -> None:
    for bad in ({"conf": 2}, {"iou": "x"}, {"max_det": 0}, {"classes": ""}, {"classes": [-1]}):
        with pytest.raises(ConfigError):
            decision.for_task("detection", **bad)
    with pytest.raises(ConfigError, match="'horse': not a label"):
        _decide(_raw([]), classes="horse")
