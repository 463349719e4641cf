"""The typed manifest: fixtures of every version load to the same values; bad files are ConfigErrors."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from pathlib import Path

import onnx
import pytest

from edgeguard import manifest as mf
from edgeguard.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))
SIGNS_SHA = "f9a0239e37601c6cd6357f4ead78916bffdbdbe359cd9d6018fc8b9565cffca6"


def _m(**changes) -> mf.Manifest:
    m = mf.new(
        input_size=(64, 64),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        labels=["a", "b"],
        defenses=["bits:bits=5"],
        source={"model": "x", "sha256": "0" * 64},
        versions={"edgeguard": "0.1.0"},
    )
    return dataclasses.replace(m, **changes)


def _v2() -> dict:
    return json.loads((FIXTURES / "v2.json").read_text())


# -- fixtures: every version ever written still reads, to the same values -------------------------------
def test_there_is_a_fixture_for_every_version():
    versions = {json.loads(p.read_text())["version"] for p in FIXTURE_FILES}
    assert versions == set(range(mf.OLDEST, mf.VERSION + 1))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_every_fixture_loads_and_round_trips(path):
    m = mf.load_sidecar(path)
    assert m.engine and m.provenance.versions["edgeguard"] == "0.1.0"
    assert mf.loads(mf.dumps(m)) == m


def test_v1_and_v2_of_the_same_export_are_equal_typed_values():
    v1, v2 = mf.load_sidecar(FIXTURES / "v1.json"), mf.load_sidecar(FIXTURES / "v2.json")
    assert v1 == v2 == mf.load_sidecar(FIXTURES / "v3.json") == mf.load_sidecar(FIXTURES / "v4.json")
    assert v1 == mf.load_sidecar(FIXTURES / "v5.json") and v1.masking is None
    assert v1 == mf.load_sidecar(FIXTURES / "v6.json") and v1.seeker is None
    assert v1.input.resize == "stretch" and v1.input.pad_value == 114 and v1.input.stride is None
    # The values edgeguard 0.1.0 wrote (read off the v1 file by hand):
    assert v1.task == "classification" and v1.input.size == (64, 64) and v1.input.name == "input"
    assert v1.input.color == "RGB" and v1.input.dynamic_batch is True and v1.input.range == (0.0, 1.0)
    assert v1.normalize.mean == (0.43, 0.39, 0.4) and v1.normalize.std == (0.26, 0.23, 0.24)
    assert v1.outputs == ("logits",) and len(v1.labels) == 13 and v1.labels[0] == "stop"
    assert v1.defenses == ("bits:bits=5", "median:kernel=3x3") and v1.host_stages == ()
    assert v1.detector is None and v1.precision == mf.Precision(mode="fp32") and v1.opset == 17
    assert v1.provenance.source.model == "signs" and v1.provenance.source.sha256 == SIGNS_SHA
    assert v1.provenance.parity.max_rel == 4.402493141649434e-07 and v1.provenance.parity.images == 4
    assert v1.tensorrt is None and v1.engine == "signs.onnx" and v1.extra == {}


def test_writing_a_read_v1_to_v5_reproduces_the_v6_file_byte_for_byte():
    text = (FIXTURES / "v6.json").read_text()
    for name in ("v1.json", "v2.json", "v3.json", "v4.json", "v5.json", "v6.json"):  # last: layout stable
        assert mf.dumps(mf.load_sidecar(FIXTURES / name)) + "\n" == text, name


def test_v4_detector_fixture_values():
    m = mf.load_sidecar(FIXTURES / "v4-detector.json")
    assert m.outputs == ("logits", "adv_score") and m.defenses == ("bits:bits=5", "median:kernel=3x3")
    d = m.detector
    assert d.output == "adv_score" and d.spec == "squeeze:bits=4,median=2x2" and d.fpr == 0.05
    assert 0.3 < d.threshold < 0.4
    assert d.calibration == mf.DetectorCalibration(
        source="signs renderer seed 1",
        images=500,
        sha256="b7856aaf7a601e759af467df65708490f1f2ee509da05192d6e1f000942f4cf8",
    )


def test_v6_seeker_fixture_values():
    m = mf.load_sidecar(FIXTURES / "v6-seeker.json")
    assert m.task == "detection" and m.outputs == ("logits", "masked_heads") and m.masking is None
    assert m.seeker == mf.Seeker(
        output="masked_heads", lines=30, count=120, fill=0.0, masked_conf=0.8, prune=0.6
    )
    assert m.input.size == (320, 320) and m.input.resize == "letterbox" and m.labels == ("person",)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [("count", 119, "seeker.count"), ("fill", 2.0, "seeker.fill"), ("masked_conf", -1, "seeker.masked_conf")],
)
def test_v6_seeker_fields_are_validated(key, value, field):
    d = json.loads((FIXTURES / "v6-seeker.json").read_text())
    d["seeker"][key] = value
    with pytest.raises(ConfigError, match=field):
        mf.loads(json.dumps(d))


def test_v5_masking_fixture_values():
    m = mf.load_sidecar(FIXTURES / "v5-masking.json")
    assert m.outputs == ("logits", "mask_logits") and m.detector is None
    # patch 0.25 of a face 0.95 of the 64 px crop: p = ceil(15.2) = 16; k = 6 → s = ceil(49/6) = 9, m = 24
    assert m.masking == mf.Masking(
        output="mask_logits",
        patch=0.25,
        face=0.95,
        patch_px=16,
        mask_px=24,
        stride_px=9,
        per_axis=(6, 6),
        masks=6,
        count=36,
        fill=0.5,
    )


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("patch", 1.0, "masking.patch"),
        ("mask_px", 30, "masking.mask_px"),
        ("count", 35, "masking.count"),
        ("output", "nope", "masking.output"),
    ],
)
def test_v5_masking_fields_are_validated(key, value, field):
    d = json.loads((FIXTURES / "v5-masking.json").read_text())
    d["masking"][key] = value
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        mf.from_dict(d)


def test_an_older_detector_migrates_with_nothing_recorded_about_its_threshold():
    d = _v2()
    d["outputs"] = ["logits", "score"]
    d["detector"] = {"output": "score", "threshold": 0.25}
    m = mf.from_dict(d)
    assert m.detector == mf.Detector(output="score", threshold=0.25, spec=None, fpr=None, calibration=None)
    assert mf.from_dict(json.loads(mf.dumps(m))) == m  # and writes as version 5


def test_v1_int8_tensorrt_fixture_values():
    v1 = mf.load_sidecar(FIXTURES / "v1-int8-tensorrt.json")
    v2 = mf.load_sidecar(FIXTURES / "v2-int8-tensorrt.json")
    p = v1.precision
    assert p.mode == "int8" and p.parity.images == 20 and p.parity.tolerance is None
    assert p.parity.min_agreement == 0.9 and p.calibration.images == 16 and p.calibration.excluded_nodes == 37
    assert "fewer than 300" in p.calibration.warning and v1.host_stages == ("jpeg:quality=75",)
    t = v1.tensorrt
    assert t.version == "10.3.0" and t.device == mf.TensorRTDevice(name="Orin", compute_capability="8.7")
    assert t.profile == mf.TensorRTProfile(min=1, opt=4, max=8) and t.strongly_typed is False
    assert t.flags[0] == "INT8" and t.onnx == "signs-int8.onnx" and t.workspace_mb == 1024
    # The v2 export embeds a v2 manifest, so its ONNX (and hash) differ; everything else is equal.
    same = {"onnx_sha256": "0" * 64, "build_seconds": 0.0}
    assert dataclasses.replace(v1, tensorrt=dataclasses.replace(t, **same)) == dataclasses.replace(
        v2, tensorrt=dataclasses.replace(v2.tensorrt, **same)
    )


def test_v1_onnx_fp16_fixture_values():
    m = mf.load_sidecar(FIXTURES / "v1-onnx-fp16.json")
    assert m.labels is None and m.provenance.source.init == "onnx" and m.provenance.source.weights is None
    assert m.precision.mode == "fp16" and m.precision.parity.tolerance == 0.01 and m.input.size == (32, 32)


def test_v1_unknown_keys_are_kept_in_extra_and_v1_optional_keys_default():
    d = json.loads((FIXTURES / "v1.json").read_text())
    d["note"] = {"by": "hand"}
    for key in ("labels", "engine", "detector"):
        del d[key]
    for key in ("range", "dtype", "dynamic_batch"):
        del d["input"][key]
    d["source"] = {"model": "tiny"}  # v1 only checked that source was an object
    m = mf.from_dict(d)
    assert m.extra == {"note": {"by": "hand"}} and m.labels is None and m.engine is None
    assert m.input.range == (0.0, 1.0) and m.input.dynamic_batch is True
    assert m.provenance.source == mf.Source(model="tiny")


# -- versions --------------------------------------------------------------------------------------------
def test_newer_version_names_both_versions():
    d = _v2()
    d["version"] = mf.VERSION + 1
    with pytest.raises(ConfigError) as err:
        mf.from_dict(d)
    assert str(err.value) == (
        f"manifest version {mf.VERSION + 1} was written by a newer edgeguard; this one reads versions "
        f"{mf.OLDEST}-{mf.VERSION}: upgrade edgeguard"
    )


@pytest.mark.parametrize("version", [2.0, "2", True, None, [2], 0, -1])
def test_version_must_be_a_known_integer(version):
    d = _v2()
    d["version"] = version
    with pytest.raises(ConfigError, match="'version'"):
        mf.from_dict(d)


def test_every_step_has_a_migration():
    assert sorted(mf.MIGRATIONS) == list(range(mf.OLDEST, mf.VERSION))


# -- round trips ---------------------------------------------------------------------------------------
def test_round_trip_sidecar(tmp_path):
    m = _m()
    side = mf.save_sidecar(m, tmp_path / "net.onnx")
    assert side.name == "net.edgeguard.json"
    back = mf.load_sidecar(side)
    assert back.engine == "net.onnx" and dataclasses.replace(back, engine=None) == m
    assert [p.name for p in tmp_path.iterdir()] == ["net.edgeguard.json"]  # no temp file left


def test_round_trip_onnx_metadata():
    model = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    m = _m()
    mf.embed(model, m)
    mf.embed(model, m)  # re-embedding replaces, never duplicates
    assert sum(p.key == mf.METADATA_KEY for p in model.metadata_props) == 1
    assert mf.read_embedded(model) == m
    assert mf.read_embedded(onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))) is None


def test_save_sidecar_is_atomic(tmp_path, monkeypatch):
    engine = tmp_path / "net.onnx"
    side = mf.save_sidecar(_m(), engine)
    before = side.read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(ConfigError, match="cannot write the manifest .*No space left"):
        mf.save_sidecar(_m(labels=["c", "d"]), engine)
    assert side.read_bytes() == before and sorted(tmp_path.iterdir()) == [side]


def test_save_sidecar_onto_a_folder_is_a_config_error(tmp_path):
    (tmp_path / "net.edgeguard.json").mkdir()
    with pytest.raises(ConfigError, match="a folder has that name"):
        mf.save_sidecar(_m(), tmp_path / "net.onnx")


def test_parts_are_immutable_and_python_values_are_normalised():
    m = _m()
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.opset = 18  # type: ignore[misc]
    assert m.labels == ("a", "b") and m.input.size == (64, 64) and isinstance(m.normalize.std[0], float)
    assert _m(extra={"k": (1, 2)}).extra == {"k": [1, 2]}  # so a round trip compares equal


# -- validation names the field ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("format",), "other", "format"),
        (("task",), "segmentation", "task"),
        (("input",), [], "input"),
        (("input", "size"), [64], "input.size"),
        (("input", "size"), [64, 0], "input.size"),
        (("input", "size"), [64, 64.0], "input.size[1]"),
        (("input", "size"), [64, True], "input.size[1]"),
        (("input", "color"), "YUV", "input.color"),
        (("input", "dynamic_batch"), "yes", "input.dynamic_batch"),
        (("input", "range"), [1.0, 0.0], "input.range"),
        (("normalize", "std"), [1, 0, 1], "normalize.std"),
        (("normalize", "mean"), ["0", 0, 0], "normalize.mean[0]"),
        (("labels",), "abc", "labels"),
        (("labels",), [], "labels"),
        (("labels",), ["a", 5], "labels[1]"),
        (("defenses",), [1, 2], "defenses[0]"),
        (("host_stages",), [""], "host_stages[0]"),
        (("outputs",), [], "outputs"),
        (("outputs",), ["a", "a"], "outputs"),
        (("precision",), "int8", "precision"),
        (("precision", "mode"), "int4", "precision.mode"),
        (("opset",), 5, "opset"),
        (("opset",), 17.0, "opset"),
        (("detector",), {"output": "s", "threshold": "high"}, "detector.threshold"),
        (("detector",), {"output": "score", "threshold": 0.5}, "detector.output"),
        (("provenance", "source", "sha256"), "abc", "provenance.source.sha256"),
        (("provenance", "versions", "torch"), 2, "provenance.versions.torch"),
        (("provenance", "parity", "images"), -1, "provenance.parity.images"),
        (("engine",), "../../etc/passwd", "engine"),
        (("extra",), [], "extra"),
    ],
)
def test_validation_names_the_field(path, value, field):
    data = _v2()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=re.escape(f"manifest field '{field}'")):
        mf.from_dict(data)


@pytest.mark.parametrize(
    "engine", [".", "..", "", "a/b.onnx", "/abs.onnx", "a\\b.onnx", "a\0b.onnx", "x" * 256]
)
def test_sidecar_engine_must_be_a_bare_file_name(engine):
    d = _v2()
    d["engine"] = engine
    with pytest.raises(ConfigError, match="'engine': expected a bare file name"):
        mf.loads(json.dumps(d))


def test_unknown_key_is_rejected_with_a_hint():
    d = _v2()
    d["lables"] = ["a"]
    with pytest.raises(ConfigError, match="'lables': unknown field \\(did you mean 'labels'\\?.*'extra'"):
        mf.from_dict(d)
    d = _v2()
    d["input"]["colour"] = "RGB"
    with pytest.raises(ConfigError, match="'input.colour': unknown field \\(did you mean 'color'"):
        mf.from_dict(d)


def test_a_missing_field_is_named():
    d = _v2()
    del d["provenance"]["versions"]
    with pytest.raises(ConfigError, match="'provenance.versions': missing"):
        mf.from_dict(d)


# -- hostile files ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"format": "edgeguard-manifest", "version": 2, "extra": {"x": '
        + "[" * 100_000
        + "]" * 100_000
        + "}}",  # noqa: E501
    ],
    ids=["document", "inside"],
)
def test_deeply_nested_json_is_a_config_error(text):
    with pytest.raises(ConfigError, match="nested too deeply"):
        mf.loads(text)


def test_nesting_in_extra_is_bounded():
    d = _v2()
    deep: list = []
    for _ in range(mf.MAX_DEPTH + 5):
        deep = [deep]
    d["extra"] = {"deep": deep}
    with pytest.raises(ConfigError, match="'extra.deep.*nested deeper than"):
        mf.loads(json.dumps(d))


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "1" * 5000])
def test_non_finite_or_oversized_numbers_are_rejected(number):
    good = '"max_abs": 2.1457672119140625e-06'
    text = (FIXTURES / "v2.json").read_text().replace(good, f'"max_abs": {number}')
    assert number in text
    with pytest.raises(ConfigError):
        mf.loads(text)


def test_non_finite_numbers_from_python_are_rejected():
    with pytest.raises(ConfigError, match="'normalize.mean\\[0\\]': expected a finite number"):
        mf.Normalize(mean=(float("nan"), 0.0, 0.0))
    with pytest.raises(ConfigError, match="'extra.x': expected a finite number"):
        _m(extra={"x": float("inf")})


def test_huge_label_lists_are_fine_but_labels_are_strings():
    d = _v2()
    d["labels"] = [f"class {i}" for i in range(200_000)]
    assert len(mf.loads(json.dumps(d)).labels) == 200_000
    d["labels"] = ["x" * 1_000_000, 7]
    with pytest.raises(ConfigError, match=r"'labels\[1\]': expected a string, got an integer 7") as err:
        mf.loads(json.dumps(d))
    assert len(str(err.value)) < 200


def test_error_messages_stay_short_for_huge_values():
    d = _v2()
    d["input"]["color"] = "Y" * 1_000_000
    with pytest.raises(ConfigError) as err:
        mf.from_dict(d)
    assert "'input.color'" in str(err.value) and len(str(err.value)) < 200


@pytest.mark.parametrize("text", ["", "{not json", "null", "[]", '"manifest"', "\ufeff{}", b"\xff\xfe"])
def test_not_a_manifest(text):
    with pytest.raises(ConfigError):
        mf.loads(text)


def test_corrupt_sidecar(tmp_path):
    p = tmp_path / "x.edgeguard.json"
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        mf.load_sidecar(p)
    p.write_text(json.dumps({"format": "edgeguard-manifest", "version": 1}))
    with pytest.raises(ConfigError, match="x.edgeguard.json: manifest field 'task': missing"):
        mf.load_sidecar(p)
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="unreadable"):
        mf.load_sidecar(p)
    with pytest.raises(ConfigError, match="does not exist"):
        mf.load_sidecar(tmp_path / "missing.edgeguard.json")


def test_dumps_takes_a_manifest():
    with pytest.raises(ConfigError, match="expected a Manifest, got dict"):
        mf.dumps(copy.deepcopy(_v2()))  # type: ignore[arg-type]


def test_error_messages_stay_short_for_huge_keys():
    d = _v2()
    d["extra"] = {"k" * 1_000_000: float("nan")}
    with pytest.raises(ConfigError, match="'extra.kkk") as err:
        mf.from_dict(d)
    assert len(str(err.value)) < 200
    d = _v2()
    d["provenance"]["versions"] = {"v" * 1_000_000: 3}
    with pytest.raises(ConfigError, match="'provenance.versions.vvv") as err:
        mf.from_dict(d)
    assert len(str(err.value)) < 200
    d = _v2()
    d["k" * 1_000_000] = 1
    with pytest.raises(ConfigError, match="unknown field") as err:
        mf.from_dict(d)
    assert len(str(err.value)) < 300


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("fpr", 1.0, "detector.fpr"),
        ("spec", "", "detector.spec"),
        ("calibration", {"source": "x", "images": 0, "sha256": "0" * 64}, "detector.calibration.images"),
        ("calibration", {"source": "x", "images": 5, "sha256": "abc"}, "detector.calibration.sha256"),
    ],
)
def test_v4_detector_fields_are_validated(key, value, field):
    d = json.loads((FIXTURES / "v4-detector.json").read_text())
    d["detector"][key] = value
    with pytest.raises(ConfigError, match=re.escape(f"manifest field '{field}'")):
        mf.from_dict(d)
