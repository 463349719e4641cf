"""edgeguard's boxes equal Ultralytics' predictor's on the same ONNX files and images (both layouts).

The expected boxes were generated once, outside the project, by Ultralytics itself
(tests/fixtures/ultralytics/generate.py; its version is in expected.json). Ultralytics keeps boxes that
clipping to the frame leaves with no area (they lay in the letterbox padding); edgeguard drops and
counts them (``dropped``), so those are removed from the expectation and their number checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgeguard

FIXTURE = Path(__file__).parent / "fixtures" / "ultralytics"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
CASES = EXPECTED["cases"]
# the same detector with edgeguard's in-graph NMS: the end-to-end layout (B, max_det, 6)
E2E_CASES = json.loads((FIXTURE / "expected_e2e.json").read_text())["cases"]


def _options(settings: dict) -> dict:
    opts = {"conf": settings["conf"], "agnostic": settings.get("agnostic_nms", False)}
    if "iou" in settings:
        opts["iou"] = settings["iou"]
    opts["max_det"] = settings.get("max_det", 300)
    if "classes" in settings:
        opts["classes"] = settings["classes"]
    return opts


@pytest.mark.parametrize(
    ("engine", "case"),
    [("tiny_yolo.onnx", c) for c in CASES] + [("tiny_yolo_e2e.onnx", c) for c in E2E_CASES],
    ids=lambda v: v if isinstance(v, str) else f"{v['image']}-{json.dumps(v['settings'], sort_keys=True)}",
)
def test_boxes_equal_ultralytics(engine: str, case: dict) -> None:
    pipe = edgeguard.load(FIXTURE / engine, task="detect", decision=_options(case["settings"]), threads=1)
    assert pipe.manifest.labels == tuple(EXPECTED["generated_by"]["names"])
    assert pipe.manifest.input.size == tuple(EXPECTED["generated_by"]["imgsz"])
    (res,) = pipe([FIXTURE / case["image"]])
    got = res.decision["boxes"]
    xyxy = np.array(case["xyxy"], np.float64).reshape(-1, 4)
    area = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    assert res.decision["dropped"] == int((~area).sum())
    want_xyxy, want_score = xyxy[area], np.array(case["score"])[area]
    want_cls = np.array(case["cls"])[area]
    assert len(got) == len(want_xyxy) and len(got) > 0
    assert np.abs(np.array([b["xyxy"] for b in got]) - want_xyxy).max() <= 1.0
    assert np.abs(np.array([b["score"] for b in got]) - want_score).max() <= 1e-3
    assert [b["index"] for b in got] == want_cls.tolist()
