"""Bad inputs to `infer`, `camera` and `export` that once escaped: NaN engines, markup in names, huge labels.

The engines here are tiny hand-built ONNX graphs (onnx.helper) with a version-1 sidecar manifest, so
each case controls exactly what the engine outputs and what its labels are.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper

MARKUP = ["[red]stop[/]", "a[/]b", "[bold]yield"]


def tiny_engine(path: Path, labels: list[str], *, nan: bool = False) -> Path:
    """(B, 3, 8, 8) → channel means (B, 3) → linear → logits (B, len(labels)); NaN logits if ``nan``."""
    n = len(labels)
    w = np.linspace(-1.0, 1.0, 3 * n, dtype=np.float32).reshape(3, n)
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["mean", "w"], ["logits" if not nan else "pre"]),
    ]
    inits = [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.flatten().tolist())]
    if nan:
        inits.append(helper.make_tensor("nan", TensorProto.FLOAT, [1], [float("nan")]))
        nodes.append(helper.make_node("Mul", ["pre", "nan"], ["logits"]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["B", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", n])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    manifest = {
        "format": "edgeguard-manifest",
        "version": 1,
        "task": "classification",
        "input": {"name": "input", "size": [8, 8], "color": "RGB", "layout": "NCHW"},
        "normalize": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
        "outputs": ["logits"],
        "labels": labels,
        "defenses": [],
        "host_stages": [],
        "detector": None,
        "precision": "fp32",
        "opset": 17,
        "source": {"model": "tiny"},
        "versions": {},
        "engine": path.name,
    }
    path.with_name(path.stem + ".edgeguard.json").write_text(json.dumps(manifest))
    return path


def image(path: Path, value: int = 120) -> Path:
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = value, 255 - value, value // 2
    assert cv2.imwrite(str(path), rgb)
    return path


def one_line_error(r, *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgeguard: error:"), r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_nan_engine_output_is_an_error_not_invalid_json(tmp_path: Path, cli) -> None:
    eng = tiny_engine(tmp_path / "nan.onnx", ["a", "b"], nan=True)
    img = image(tmp_path / "x.png")
    for args in (["--json"], []):
        r = cli("infer", str(img), "--engine", str(eng), *args)
        one_line_error(r, "engine output 'logits' is NaN or Inf", "x.png")
        assert all(json.loads(line) for line in r.stdout.splitlines())  # nothing, or valid JSON only
    good = tiny_engine(tmp_path / "good.onnx", ["a", "b"])
    r = cli("infer", str(img), str(img), "--engine", str(good), "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["top"][0]["label"] for line in r.stdout.splitlines()] == ["b", "b"]


def test_markup_in_file_names_and_labels_is_printed_verbatim(tmp_path: Path, cli) -> None:
    eng = tiny_engine(tmp_path / "m.onnx", MARKUP)
    folder = tmp_path / "[cam]"
    folder.mkdir()
    img = image(folder / "[bold]x[red].png")
    r = cli("infer", str(img), "--engine", str(eng), "--top", "3")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith(f"{img}: ") and any(lab in first for lab in MARKUP)
    for label in MARKUP:
        assert label in r.stdout
    r = cli("camera", "--engine", str(eng), "--source", str(folder), "--top", "3")
    assert r.returncode == 0, r.stderr
    assert "1 images in" in r.stdout and "[cam]" in r.stdout
    assert sum(label in r.stdout for label in MARKUP) == 1  # the one label it read, as written


def test_megabyte_labels_are_shortened_in_the_table_and_kept_in_json(tmp_path: Path, cli) -> None:
    labels = ["A" * 1_000_000, "B" * 1_000_000]
    eng = tiny_engine(tmp_path / "big.onnx", labels)
    img = image(tmp_path / "x.png")
    t0 = time.perf_counter()
    r = cli("infer", str(img), "--engine", str(eng), "--top", "2")
    took = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(r.stdout) < 2_000 and max(len(line) for line in lines) < 200
    assert "B" * 79 + "…" in lines[0] and "A" * 79 + "…" in lines[1]
    assert took < 60  # minutes before the labels were bounded
    r = cli("infer", str(img), "--engine", str(eng), "--json", "--top", "2")
    assert r.returncode == 0 and [t["label"] for t in json.loads(r.stdout)["top"]] == labels[::-1]


def test_megabyte_labels_keep_the_camera_loop_fast(tmp_path: Path, cli) -> None:
    eng = tiny_engine(tmp_path / "big.onnx", ["A" * 1_000_000, "B" * 1_000_000])
    summary = tmp_path / "s.json"
    r = cli(
        "camera",
        "-e",
        str(eng),
        "-i",
        "synthetic:stop-sign?frames=6",
        "--width",
        "160",
        "--height",
        "120",
        "--summary",
        str(summary),
    )
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) < 5_000 and "B" * 79 + "…" in r.stdout  # the labels row, shortened
    s = json.loads(summary.read_text())
    assert s["labels"] == {"B" * 1_000_000: 6}  # whole in the summary
    assert s["stage_ms"]["overlay"]["p50"] < 200  # 2 s per frame when the overlay drew all of it


def test_image_paths_are_checked_before_the_engine_loads(tmp_path: Path, cli) -> None:
    img = image(tmp_path / "x.png")
    missing_engine = tmp_path / "none.onnx"  # never opened: the paths fail first
    one_line_error(cli("infer", str(img), str(tmp_path), "-e", str(missing_engine)), "is a folder")
    one_line_error(
        cli("infer", str(img), str(tmp_path / "gone.png"), "-e", str(missing_engine)),
        "gone.png",
        "does not exist",
    )
    long_name = "x" * 300 + ".png"
    one_line_error(cli("infer", str(img), long_name, "-e", str(missing_engine)), "longer than")


def test_markup_in_export_paths_is_printed_verbatim(tmp_path: Path, cli) -> None:
    src = tiny_engine(tmp_path / "[bold]m.onnx", ["a", "b"])
    out = tmp_path / "[red]out"
    out.mkdir()
    r = cli("export", str(src), "--defense", "bits:5", "--out", str(out / "[b]x.onnx"))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out / '[b]x.onnx'}  (+ [b]x.edgeguard.json)" in r.stdout
    assert f"normalize → {src}" in r.stdout
