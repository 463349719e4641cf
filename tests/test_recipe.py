"""Export recipes (export/*.toml): every shipped one loads, bad ones are one-line ConfigErrors naming
the key and line, command-line options override recipe fields, and a recipe exports exactly what the
equivalent flags export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeguard.errors import ConfigError
from edgeguard.recipe import Recipe, TensorRTRecipe, load_recipe, merge

ROOT = Path(__file__).parents[1]
RECIPES = sorted((ROOT / "export").glob("*.toml"))


def write(tmp_path: Path, text: str | bytes, name: str = "r.toml") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_the_recipe_folder_holds_the_stop_sign_recipe() -> None:
    assert ROOT / "export" / "stop-sign.toml" in RECIPES


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_every_shipped_recipe_loads(path: Path) -> None:
    r = load_recipe(path)  # builds each defense and stage once, so bad parameters fail here
    assert isinstance(r, Recipe) and r.model and r.out is not None and r.out.suffix == ".onnx"


def test_stop_sign_recipe_is_the_demo_engine() -> None:
    from edgeguard.camera import default
    from edgeguard.exporter.onnx import DEFAULT_OPSET

    r = load_recipe(ROOT / "export" / "stop-sign.toml")
    assert r.model == default.MODEL and r.defenses == default.DEFENSES
    assert r.stages == () and r.weights is None and r.input_size is None and r.normalize is None
    assert r.precision == "fp32" and r.opset == DEFAULT_OPSET and r.tensorrt is None
    assert r.out == Path("stop-sign.onnx")


def test_fields_paths_and_tensorrt_table(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        'model = "nets/m.onnx"\nweights = "w.pt"\ncalib = "cal"\nout = "o/x.onnx"\n'
        'defenses = ["bits:4"]\nstages = ["jpeg:75"]\ninput_size = 96\nopset = 18\n'
        "tolerance = 1e-3\nmin_agreement = 1\n"
        "[tensorrt]\nbatch = [1, 2, 16]\nworkspace_mb = 512\n",
    )
    r = load_recipe(p)
    # what the export reads is relative to the recipe's folder; the output to the current folder
    assert r.model == str(tmp_path / "nets" / "m.onnx") and r.weights == tmp_path / "w.pt"
    assert r.calib == tmp_path / "cal" and r.out == Path("o/x.onnx")
    assert r.tensorrt == TensorRTRecipe(batch=(1, 2, 16), workspace_mb=512)
    opts = r.cli_options()
    assert opts["engine"] == "trt" and opts["batch"] == "1,2,16" and opts["workspace"] == 512
    assert opts["defense"] == ["bits:4"] and opts["stage"] == ["jpeg:75"] and opts["opset"] == 18
    assert opts["min_agreement"] == 1.0 and opts["input_size"] == 96 and opts["tolerance"] == 1e-3
    # without the table the command's own defaults apply
    plain = load_recipe(write(tmp_path, 'model = "signs"\n', "plain.toml")).cli_options()
    assert (plain["engine"], plain["batch"], plain["workspace"]) == ("onnx", "1,4,8", 1024)
    assert plain["out"] is None and plain["defense"] == [] and plain["opset"] == 17


def test_merge_lets_explicit_options_win() -> None:
    base = {"model": "signs", "defense": ["bits:5", "median:3x3"], "opset": 17}
    assert merge(base, {"defense": ["bits:4"]}) == {"model": "signs", "defense": ["bits:4"], "opset": 17}
    with pytest.raises(ConfigError, match="cannot combine with verbose"):
        merge(base, {"verbose": True})


BAD = [
    ('model = "signs"\nopset = "17"\n', r"line 2: opset: expected an integer, got a string '17'"),
    ('model = "signs"\nopset = 16\n', r"line 2: opset: expected an integer in 17\.\.20, got 16"),
    ('model = "signs"\nopset = 21\n', r"line 2: opset: expected an integer in 17\.\.20, got 21"),
    ('model = "signs"\ninput_size = true\n', r"line 2: input_size: expected an integer, got a boolean"),
    ('model = "signs"\n\ndefences = []\n', r"line 3: defences: unknown key; did you mean 'defenses'\?"),
    ('model = "signs"\ndefenses = "bits:5"\n', r"line 2: defenses: expected a list of strings, got a string"),
    ('model = "signs"\ndefenses = ["bits:5", 3]\n', r"line 2: defenses: item 1: expected a non-empty string"),
    ('model = "signs"\ndefenses = ["bits:99"]\n', r"line 2: defenses: item 0: bits: bit depth must be"),
    ('model = "signs"\nstages = ["blur"]\n', r"line 2: stages: item 0: unknown stage 'blur'"),
    (
        'model = "signs"\ntolerance = nan\n',
        r"line 2: tolerance: expected a number in \(0\.0, 1\.0\], got na",
    ),
    ('model = "signs"\nmin_agreement = 2\n', r"line 2: min_agreement: expected a number in \[0\.0, 1\.0\]"),
    ('model = ""\n', r"line 1: model: expected a non-empty string, got a string ''"),
    ("[model]\nname = 'signs'\n", r"line 1: model: expected a non-empty string, got a table"),
    ('defenses = ["bits:5"]\n', r"no 'model' key"),
    ('model = "signs"\ntensorrt = 5\n', r"line 2: tensorrt: expected a table .*, got an integer 5"),
    (
        'model = "signs"\n[tensorrt]\nbatch = [4, 1, 8]\n',
        r"line 3: tensorrt\.batch: expected \[MIN, OPT",
    ),
    (
        'model = "signs"\n[tensorrt]\nbatch = [1, 4, 8]\nworkspace = 9\n',
        r"line 4: tensorrt\.workspace: unknown key",
    ),
    ('model = "signs"\n[detector]\nthreshold = 0.5\n', r"line 2: detector: unknown key"),
    ('model = "signs\n', r"not valid TOML: .*\(at line 1, column 15\)"),
    ('model = "signs"\nmodel = "resnet18"\n', r"not valid TOML: .*line 2"),
    (b'model = "\xff"\n', r"is not UTF-8 text"),
    (b"# " + b"x" * (1 << 20) + b"\n", r"larger than 1024 KiB"),
]


@pytest.mark.parametrize(("text", "needle"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_recipes_are_one_line_config_errors(tmp_path: Path, text: str | bytes, needle: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError, match=needle) as info:
        load_recipe(p)
    msg = str(info.value)
    assert msg.startswith(f"recipe {str(p)!r}") and "\n" not in msg


def test_missing_recipe_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"recipe '.*nope\.toml' does not exist"):
        load_recipe(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_recipe(tmp_path)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    from edgeguard.cli.app import main

    with pytest.raises(SystemExit) as info:
        main(list(argv))
    return int(info.value.code or 0), capsys.readouterr().err


def test_cli_options_override_the_recipe_and_defaults_do_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = write(tmp_path, 'model = "signs"\nout = "r.txt"\nopset = 18\n')
    # the recipe's out is used when --out is not given (and export refuses it before any work) …
    code, err = _cli(capsys, "export", "--recipe", str(r))
    assert code == 2 and "--out 'r.txt': the file name must end in .onnx" in err
    # … an explicit --out replaces it; an explicit --opset replaces the recipe's 18
    code, err = _cli(capsys, "export", "--recipe", str(r), "--out", "x.onnx", "--opset", "16")
    assert code == 2 and "--opset 16" in err and err.count("\n") == 1
    # a missing recipe, and neither MODEL nor --recipe: one line, exit 2, nothing written
    code, err = _cli(capsys, "export", "--recipe", "nope.toml")
    assert code == 2 and err == "edgeguard: error: recipe 'nope.toml' does not exist\n"
    code, err = _cli(capsys, "export")
    assert code == 2 and "give MODEL" in err and "--recipe" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.toml"]


def test_the_tensorrt_table_reaches_the_plan_builder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeguard.cli import _precision

    seen: list[tuple[str, str]] = []

    def plan_engine(engine: str, batch: str) -> None:  # stands in for the TensorRT check; stops there
        seen.append((engine, batch))
        raise ConfigError("stop here")

    monkeypatch.setattr(_precision, "plan_engine", plan_engine)
    r = write(tmp_path, 'model = "signs"\n[tensorrt]\nbatch = [2, 4, 8]\n')
    assert _cli(capsys, "export", "--recipe", str(r))[0] == 2
    assert _cli(capsys, "export", "--recipe", str(r), "--engine", "onnx")[0] == 2
    assert _cli(capsys, "export", "--recipe", str(r), "--batch", "1,1,2")[0] == 2
    plain = write(tmp_path, 'model = "signs"\n', "plain.toml")
    assert _cli(capsys, "export", "--recipe", str(plain))[0] == 2
    assert seen == [("trt", "2,4,8"), ("onnx", "2,4,8"), ("trt", "1,1,2"), ("onnx", "1,4,8")]


def _graph_and_manifest(path: Path) -> tuple[bytes, Any]:
    import dataclasses

    import onnx

    from edgeguard import manifest

    model = onnx.load(str(path))
    model.ClearField("metadata_props")  # the embedded manifest, compared below without its file name
    side = manifest.load_sidecar(manifest.sidecar_path(path))
    return model.SerializeToString(), dataclasses.replace(side, engine=None)


@pytest.mark.slow
def test_recipe_export_equals_the_flag_export(tmp_path: Path, cli) -> None:
    r = cli("export", "--recipe", str(ROOT / "export" / "stop-sign.toml"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote stop-sign.onnx" in r.stdout and r.stderr.strip() == ""
    f = cli("export", "signs", "-d", "bits:5", "-d", "median:3x3", "--out", "flags.onnx", cwd=tmp_path)
    assert f.returncode == 0, f.stderr
    a, b = _graph_and_manifest(tmp_path / "stop-sign.onnx"), _graph_and_manifest(tmp_path / "flags.onnx")
    assert a[1] == b[1] and a[1].defenses == ("bits:bits=5", "median:kernel=3x3")
    assert a[0] == b[0]
    # the same recipe from Python, as the README shows
    import edgeguard

    opts = load_recipe(ROOT / "export" / "stop-sign.toml").export_options()
    edgeguard.export(**dict(opts, out=tmp_path / "api.onnx"))
    assert _graph_and_manifest(tmp_path / "api.onnx") == a
    # a list option on the command line replaces the recipe's list; the other fields stay
    rec = write(tmp_path, 'model = "signs"\ndefenses = ["bits:5"]\nstages = ["jpeg:75"]\nopset = 18\n')
    o = cli("export", "--recipe", str(rec), "-d", "median:3x3", "--out", "o.onnx", cwd=tmp_path)
    assert o.returncode == 0, o.stderr
    side = json.loads((tmp_path / "o.edgeguard.json").read_text())
    assert side["defenses"] == ["median:kernel=3x3"] and side["host_stages"] == ["jpeg:quality=75"]
    assert side["opset"] == 18
