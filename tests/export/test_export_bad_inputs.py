"""Bad export inputs: one typed error line (exit 2), no traceback, the user's files untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeguard.errors import ConfigError
from edgeguard.exporter.onnx import export


class _Odd:
    """A pickled object that ``torch.load(weights_only=True)`` refuses."""


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def assert_one_line_error(r, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeguard: error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for n in needles:
        assert n in lines[0], lines[0]


def test_sidecar_folder_keeps_the_old_onnx(tmp_path, cli):
    # issue #10: this replaced o.onnx and then died with IsADirectoryError
    (tmp_path / "o.edgeguard.json").mkdir()
    (tmp_path / "o.onnx").write_text("OLD\n")
    before = _snapshot(tmp_path)
    r = cli("export", "signs", "--out", "o.onnx", cwd=tmp_path)
    assert_one_line_error(r, "o.edgeguard.json", "is a folder")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("out", "needle"),
    [
        ("/proc/self/x.onnx", "system folder"),
        ("adir.onnx", "is a folder"),
        ("afile/x.onnx", "is a file, not a folder"),
        ("a" * 300 + ".onnx", "longer than this file system allows"),
    ],
)
def test_bad_out_paths_fail_before_any_work(tmp_path, monkeypatch, out, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir.onnx").mkdir()
    (tmp_path / "afile").write_text("keep")
    before = _snapshot(tmp_path)
    with pytest.raises(ConfigError, match=needle):
        export("signs", out=out)
    assert _snapshot(tmp_path) == before


def _graph_cases():
    from onnx import TensorProto as T

    return [
        (dict(dtype=T.INT8), "input 'input' is int8; edgeguard composes float32 inputs"),
        (dict(dtype=T.UINT8), "is uint8"),
        (dict(dtype=T.FLOAT16), "is float16"),
        (dict(dtype=T.DOUBLE), "is double"),
        (dict(custom_domain="com.acme"), "custom op 'Mystery' from domain 'com.acme'"),
        (dict(opset=99), "uses ONNX opset 99; edgeguard composes opsets 7.."),
        (dict(out_rank=4), "has 4 dims"),
        (dict(out_rank=1), "has 1 dims"),
        (dict(classes=0), "has 0 classes"),
        (dict(shape=("B", 3, 0, 0)), "every fixed dim must be at least 1"),
        (dict(shape=("B", 3, -5, -5)), "every fixed dim must be at least 1"),
    ]


@pytest.mark.parametrize(("knobs", "needle"), _graph_cases())
def test_unusable_onnx_inputs_are_config_errors(tmp_path, knobs, needle):
    from tests.fakes.graphs import classifier, save

    src = save(classifier(**knobs), tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(ConfigError) as info:
        export(str(src), out=tmp_path / "o.onnx", defense=["bits:5"])
    assert needle in str(info.value)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("opset", [11, 21])
def test_older_and_newer_opsets_compose(tmp_path, opset):
    # 11 is lifted to 17; 21 is newer than torch writes, so the prefix is lifted to 21 instead
    import onnx

    from tests.fakes.graphs import classifier, save

    res = export(str(save(classifier(opset=opset), tmp_path)), out=tmp_path / "o.onnx", defense=["bits:5"])
    assert res.parity.ok
    ops = {o.domain: o.version for o in onnx.load(str(res.path)).opset_import}
    assert ops[""] == max(17, opset)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(opset=25), "--opset 25: expected an integer in 17..20"),
        (dict(opset=True), "--opset True"),
        (dict(input_size=0), "--input-size 0"),
        (dict(input_size=(-3, 16)), "--input-size (-3, 16)"),
        (dict(input_size="big"), "--input-size 'big'"),
        (dict(stage=["tvm:keep=7"]), "tvm: keep must be a number in (0.0, 1.0], got 7"),
        (dict(stage=["nlm:99999_3_4"]), "nlm: window must be an integer in [3, 51]"),
        (dict(defense=["gaussian:sigma=1e308"]), "sigma must be a number in (0, 100]"),
    ],
)
def test_bad_export_arguments(tmp_path, kwargs, needle):
    with pytest.raises(ConfigError) as info:
        export("signs", out=tmp_path / "o.onnx", **kwargs)
    assert needle in str(info.value)
    assert _snapshot(tmp_path) == {}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["export", "signs", "--opset", "25"], "--opset 25"),
        (["export", "signs", "--stage", "tvm:keep=7"], "tvm: keep"),
        (["export", "signs", "--weights", "bad.pt"], "Weights only load failed."),
        (["export", "signs", "--out", "/proc/self/x.onnx"], "system folder"),
    ],
)
def test_cli_export_errors_are_one_line(tmp_path, cli, args, needle):
    import torch

    torch.save({"a": _Odd()}, tmp_path / "bad.pt")
    before = _snapshot(tmp_path)
    r = cli(*args, cwd=tmp_path)
    assert_one_line_error(r, needle)
    assert "\x1b" not in r.stderr and not r.stderr.rstrip().endswith("…")  # whole sentences, no escapes
    assert _snapshot(tmp_path) == before


def test_half_fixed_input_must_match_input_size(tmp_path):
    # found by tests/fuzz: a fixed height with a dynamic width took --input-size for both, then failed
    # inside the parity check with an engine shape error
    from tests.fakes.graphs import classifier, save

    src = save(classifier(shape=("B", 3, 20, "W")), tmp_path)
    with pytest.raises(ConfigError, match=r"differs from the ONNX model's fixed height 20"):
        export(str(src), out=tmp_path / "o.onnx", input_size=16)
    res = export(str(src), out=tmp_path / "o.onnx", input_size=(20, 24))
    assert res.manifest.input.size == (20, 24) and res.parity.ok


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(model=None), "model None: expected a model name"),
        (dict(normalize=5), "--normalize 5"),
        (dict(tolerance=float("nan")), "--tolerance nan: expected a finite number > 0"),
        (dict(tolerance=-1), "--tolerance -1"),
        (dict(parity_images=0), "parity_images 0: expected an integer in 1..64"),
        (dict(parity_images=10**6), "parity_images 1000000"),
        (dict(seed=-1), "seed -1"),
        (dict(defense=[5]), "--defense [5]: expected a list of spec strings"),
        (dict(stage=3), "--stage 3"),
    ],
)
def test_bad_export_argument_types(tmp_path, kwargs, needle):
    # parity_images=0 used to "pass" a parity check of no images; 10**6 ran out of memory
    kwargs = {"model": "signs", **kwargs}
    with pytest.raises(ConfigError) as info:
        export(kwargs.pop("model"), out=tmp_path / "o.onnx", **kwargs)
    assert needle in str(info.value)
    assert _snapshot(tmp_path) == {}


def test_a_single_spec_string_is_one_spec(tmp_path):
    res = export("signs", out=tmp_path / "o.onnx", defense="bits:5", stage="jpeg:75", parity_images=1)
    assert res.manifest.defenses == ("bits:bits=5",) and res.manifest.host_stages == ("jpeg:quality=75",)
