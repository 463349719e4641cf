"""Detection through the CLI: a bare YOLO ONNX file with Ultralytics metadata, and bad inputs (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from edgeguard import manifest as mf
from tests.fakes.tiny import tiny_onnx

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ultralytics"


def _one_line_error(r, *needles: str) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_infer_json_on_a_bare_yolo_onnx(cli, tmp_path: Path) -> None:
    engine = tmp_path / "yolo.onnx"
    shutil.copy(FIXTURE / "tiny_yolo.onnx", engine)
    img = FIXTURE / "img_wide.png"
    r = cli("infer", str(img), "--engine", str(engine), "--task", "detect", "--json", "--conf", "0.5")
    assert r.returncode == 0, r.stderr
    (line,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert set(line) == {"path", "boxes", "counts", "dropped", "adv_score", "flagged", "timing_ms"}
    assert line["path"] == str(img) and line["adv_score"] is None and line["flagged"] is False
    assert line["boxes"] and set(line["boxes"][0]) == {"xyxy", "score", "label", "index"}
    assert all(b["score"] > 0.5 and b["label"] in ("person", "car", "dog") for b in line["boxes"])
    assert all(
        0 <= b["xyxy"][0] < b["xyxy"][2] <= 500 and 0 <= b["xyxy"][1] < b["xyxy"][3] <= 300
        for b in line["boxes"]
    )
    assert sum(line["counts"].values()) == len(line["boxes"])
    assert "read names, imgsz, stride from its Ultralytics metadata" in r.stderr
    assert not list(tmp_path.glob("*.edgeguard.json"))  # reading an engine writes nothing beside it


def test_yolo_without_metadata_says_what_it_assumed(cli, tmp_path: Path) -> None:
    engine = tmp_path / "plain.onnx"
    model = onnx.load(str(FIXTURE / "tiny_yolo.onnx"))
    del model.metadata_props[:]
    onnx.save(model, str(engine))
    r = cli("infer", str(FIXTURE / "img_tall.png"), "--engine", str(engine), "--task", "detect", "--json")
    assert r.returncode == 0, r.stderr
    assert "no Ultralytics metadata" in r.stderr and "labels = class indices" in r.stderr
    boxes = json.loads(r.stdout)["boxes"]
    assert boxes and {b["label"] for b in boxes} <= {"0", "1", "2"}


def test_classifier_engine_with_task_detect_is_one_line_exit_2(cli, tmp_path: Path) -> None:
    bare = tiny_onnx(tmp_path / "classifier.onnx")  # (B, 6) logits: neither detection layout
    img = FIXTURE / "img_tall.png"
    _one_line_error(cli("infer", str(img), "-e", str(bare), "--task", "detect"), "matches neither layout")
    withm = tmp_path / "classifier-m.onnx"
    model = onnx.load(str(bare))
    m = mf.Manifest(input=mf.InputSpec(name="x", size=(32, 32)), outputs=("y",), labels=tuple("abcdef"))
    mf.embed(model, m)
    onnx.save(model, str(withm))
    _one_line_error(
        cli("infer", str(img), "-e", str(withm), "--task", "detect"),
        "manifest says it is a classification model",
    )
    _one_line_error(cli("infer", str(img), "-e", str(withm), "--conf", "0.3"), "unknown parameter 'conf'")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--conf", "1.5"], "--conf 1.5"),
        (["--classes", "horse"], "'horse': not a label"),
        (["--max-det", "0"], "--max-det 0"),
        (["--task", "segment"], "--task 'segment'"),
    ],
)
def test_bad_detection_options_are_one_line(cli, args: list[str], needle: str) -> None:
    r = cli("infer", str(FIXTURE / "img_tall.png"), "-e", str(FIXTURE / "tiny_yolo.onnx"), *args)
    _one_line_error(r, needle)


def test_export_a_detector_with_defenses_and_in_graph_nms(cli, tmp_path: Path) -> None:
    out = tmp_path / "det.onnx"
    r = cli(
        "export",
        str(FIXTURE / "tiny_yolo.onnx"),
        "--defense",
        "bits:5",
        "--nms",
        "--conf",
        "0.3",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert "boxes  : onnxruntime vs reference" in r.stdout and "boxes  : in-graph NMS vs host NMS" in r.stdout
    side = json.loads((tmp_path / "det.edgeguard.json").read_text())
    assert (
        side["task"] == "detection"
        and side["outputs"] == ["detections"]
        and side["input"]["resize"] == "letterbox"
    )
    r = cli("infer", str(FIXTURE / "img_wide.png"), "-e", str(out), "--json", "--conf", "0.3")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["boxes"]
    bad = tmp_path / "bad.onnx"
    _one_line_error(
        cli("export", str(FIXTURE / "tiny_yolo.onnx"), "--nms", "--iou", "3", "--out", str(bad)), "--iou 3"
    )
    assert not bad.exists()
