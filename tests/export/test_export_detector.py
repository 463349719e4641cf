"""Exporting a YOLO-layout ONNX detector: defenses composed in front, boxes checked, in-graph NMS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

import edgeguard
from edgeguard.errors import ConfigError

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ultralytics"


@pytest.fixture
def yolo(tmp_path: Path) -> Path:
    p = tmp_path / "yolo.onnx"
    shutil.copy(FIXTURE / "tiny_yolo.onnx", p)
    return p


def test_defended_detector_export_checks_boxes_and_adds_nms(yolo: Path, tmp_path: Path) -> None:
    raw = edgeguard.export(str(yolo), defense=["bits:5"], out=tmp_path / "raw.onnx", parity_images=2)
    m = raw.manifest
    assert m.task == "detection" and m.labels == ("person", "car", "dog") and m.input.size == (96, 128)
    assert m.input.resize == "letterbox" and m.input.stride == 32 and m.outputs == ("output0",)
    assert m.defenses == ("bits:bits=5",)
    (box,) = m.extra["box_parity"]
    assert box["boxes"] > 0 and box["max_px"] <= 1.0 and box["max_score"] <= 1e-3

    nms = edgeguard.export(
        str(yolo),
        defense=["bits:5"],
        out=tmp_path / "nms.onnx",
        parity_images=2,
        nms={"conf": 0.3, "iou": 0.6},
    )
    assert nms.manifest.outputs == ("detections",)
    assert [c["what"] for c in nms.manifest.extra["box_parity"]] == [
        "onnxruntime vs reference",
        "in-graph NMS vs host NMS",
    ]
    graph = onnx.load(str(tmp_path / "nms.onnx"))
    assert "NonMaxSuppression" in {n.op_type for n in graph.graph.node}
    side = json.loads((tmp_path / "nms.edgeguard.json").read_text())
    assert side["task"] == "detection" and side["version"] == edgeguard.manifest.VERSION

    # the in-graph NMS engine and the host-NMS engine give the same boxes on a real image
    img = FIXTURE / "img_wide.png"
    host = edgeguard.load(tmp_path / "raw.onnx", decision={"conf": 0.3, "iou": 0.6})([img])[0].decision
    ingraph = edgeguard.load(tmp_path / "nms.onnx", decision={"conf": 0.3, "iou": 0.6})([img])[0].decision
    assert [b["index"] for b in host["boxes"]] == [b["index"] for b in ingraph["boxes"]] and host["boxes"]
    diff = np.abs(np.array([b["xyxy"] for b in host["boxes"]]) - [b["xyxy"] for b in ingraph["boxes"]])
    assert diff.max() <= 1e-3


def test_in_graph_nms_batches_and_equals_host_nms(tmp_path: Path) -> None:
    import onnxruntime as ort

    from edgeguard import decision
    from edgeguard.exporter.nms_graph import add_nms
    from edgeguard.manifest import InputSpec, Manifest
    from edgeguard.samples import photo_batch
    from tests.fakes.tiny_yolo import tiny_yolo_onnx

    model = onnx.load(str(tiny_yolo_onnx(tmp_path / "dyn.onnx", dynamic=True)))  # a dynamic batch axis
    for conf, iou, max_det in ((0.25, 0.7, 300), (0.5, 0.45, 20), (0.9, 0.3, 5)):
        graph = add_nms(model, output="output0", classes=3, anchors=192, conf=conf, iou=iou, max_det=max_det)
        onnx.checker.check_model(graph)
        x = photo_batch(3, (96, 128))
        e2e = ort.InferenceSession(graph.SerializeToString()).run(None, {"images": x})[0]
        raw = ort.InferenceSession(model.SerializeToString()).run(None, {"images": x})[0]
        assert e2e.shape == (3, min(max_det, 192), 6)
        man = Manifest(task="detection", input=InputSpec(size=(96, 128)), labels=("a", "b", "c"))
        decide = decision.for_task("detection", conf=conf, iou=iou, max_det=max_det)
        for a, b in zip(decide({"output0": raw}, man), decide({"detections": e2e}, man)):
            assert [(r["index"], r["xyxy"], r["score"]) for r in a["boxes"]] == [
                (r["index"], r["xyxy"], r["score"]) for r in b["boxes"]
            ]


def test_detector_export_bad_options(yolo: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option 'top'"):
        edgeguard.export(str(yolo), out=tmp_path / "a.onnx", nms={"top": 1})
    with pytest.raises(ConfigError, match="fp32 graphs only"):
        edgeguard.export(str(yolo), out=tmp_path / "a.onnx", nms=True, precision="fp16")
    with pytest.raises(ConfigError, match="--conf 2"):
        edgeguard.export(str(yolo), out=tmp_path / "a.onnx", nms={"conf": 2})
    assert not list(tmp_path.glob("a*"))
