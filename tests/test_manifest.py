from __future__ import annotations

import copy
import json

import onnx
import pytest

from edgeguard import manifest as mf
from edgeguard.errors import ConfigError


def _m() -> dict:
    return mf.new(
        input_size=(64, 64),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        labels=["a", "b"],
        defenses=["bits:bits=5"],
        source={"model": "x", "sha256": "0" * 64},
        versions={"edgeguard": "0.1.0"},
    )


def test_round_trip_sidecar(tmp_path):
    data = _m()
    engine = tmp_path / "net.onnx"
    side = mf.save_sidecar(data, engine)
    assert side.name == "net.edgeguard.json"
    back = mf.load_sidecar(side)
    assert back["engine"] == "net.onnx"
    assert {k: v for k, v in back.items() if k != "engine"} == data


def test_round_trip_onnx_metadata():
    model = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    data = _m()
    mf.embed(model, data)
    mf.embed(model, data)  # re-embedding replaces, never duplicates
    assert sum(p.key == mf.METADATA_KEY for p in model.metadata_props) == 1
    assert mf.read_embedded(model) == data
    assert mf.read_embedded(onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))) is None


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("format",), "other", "format"),
        (("version",), 99, "version"),
        (("task",), "segmentation", "task"),
        (("input", "size"), [64], "input.size"),
        (("input", "size"), [64, 0], "input.size"),
        (("input", "color"), "YUV", "input.color"),
        (("normalize", "std"), [1, 0, 1], "std"),
        (("normalize", "mean"), [float("nan"), 0, 0], "mean"),
        (("labels",), "abc", "labels"),
        (("defenses",), [1, 2], "defenses"),
        (("precision",), "int4", "precision"),
        (("opset",), 5, "opset"),
        (("detector",), {"output": "s", "threshold": "high"}, "detector.threshold"),
        (("engine",), "../../etc/passwd", "engine"),
    ],
)
def test_validation_names_the_field(path, value, field):
    data = copy.deepcopy(_m())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        mf.validate(data)


def test_corrupt_sidecar(tmp_path):
    p = tmp_path / "x.edgeguard.json"
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        mf.load_sidecar(p)
    p.write_text(json.dumps({"format": "edgeguard-manifest", "version": 1}))
    with pytest.raises(ConfigError, match="task"):
        mf.load_sidecar(p)
    with pytest.raises(ConfigError, match="does not exist"):
        mf.load_sidecar(tmp_path / "missing.edgeguard.json")
