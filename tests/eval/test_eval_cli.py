"""``edgeguard eval`` bad inputs: one line on stderr, exit 2, no output folder."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edgeguard.cli.app import _load_commands, app
from edgeguard.cli.eval import split_attacks
from edgeguard.errors import ConfigError

_load_commands()


def test_split_attacks_keeps_spec_commas() -> None:
    assert split_attacks("autoattack,pgd:eps=8/255,steps=20,fgsm") == [
        "autoattack",
        "pgd:eps=8/255,steps=20",
        "fgsm",
    ]
    assert split_attacks("pgd:steps=2,alpha=0.1,bim:steps=3") == ["pgd:steps=2,alpha=0.1", "bim:steps=3"]
    for bad in ("steps=3,pgd", "pgd,,fgsm"):
        with pytest.raises(ConfigError):
            split_attacks(bad)


def _run(tmp_path, *args: str):
    from edgeguard.cli.app import main

    out = tmp_path / "report"
    return out, ["eval", "--out", str(out), *args], main


BAD = [
    (("--model", "signs", "--attack", "nosuch"), "unknown attack 'nosuch'"),
    (("--model", "signs", "--attack", "pgd:stepz=3"), "unknown parameter 'stepz'"),
    (("--model", "signs", "--attack", "pgd", "--eps", "2"), "ε = 2 is larger than the pixel range"),
    (("--model", "signs", "--attack", "pgd", "--eps", "8/0"), "--eps '8/0': value '8/0': division by zero"),
    (("--model", "signs", "--attack", "pgd", "--eps", "-1"), "--eps '-1': expected ε > 0"),
    (("--model", "nosuch", "--attack", "pgd"), "--model: unknown model 'nosuch'"),
    (("--model", "signs", "--defense", "bits:99", "--attack", "pgd"), "--defense: item 0:"),
    (("--model", "signs", "--attack", "pgd", "--data", "imagenet"), "--data: expected signs, gtsrb:PATH"),
    (("--model", "gone.onnx", "--attack", "pgd"), "--model: engine 'gone.onnx' does not exist"),
    (("--model", "signs", "--attack", "pgd", "--executor", "dask"), "--executor 'dask'"),
    (("--attack", "pgd"), "give --model"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_inputs_one_line_exit_2_no_folder(tmp_path, capsys, args, message) -> None:
    out, argv, main = _run(tmp_path, *args)
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("edgeguard: error: ") and message in err, err
    assert not out.exists()


def test_grid_with_errors_and_clashes(tmp_path, capsys) -> None:
    grid = tmp_path / "g.toml"
    grid.write_text('[eval]\nn = 4\n\n[[config]]\nmodel = "signs"\n\n[[attack]]\nspec = "pgd"\nsteps = 3\n')
    out, argv, main = _run(tmp_path, "--grid", str(grid))
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and "line 9: attack[0].steps: unknown key" in err and err.count("\n") == 1
    out, argv, main = _run(tmp_path, "--grid", str(grid), "--model", "signs")
    with pytest.raises(SystemExit):
        main(argv)
    assert "drop --model" in capsys.readouterr().err and not out.exists()


def test_used_out_folder_needs_resume(tmp_path, capsys) -> None:
    out, argv, main = _run(tmp_path, "--model", "signs", "--attack", "pgd")
    (out / "cells").mkdir(parents=True)
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2 and "pass --resume" in capsys.readouterr().err


def test_missing_ray_extra_names_it(tmp_path, capsys, monkeypatch) -> None:
    import edgeguard.eval.runner as runner

    monkeypatch.setattr(runner, "available", lambda m: m != "ray")
    out, argv, main = _run(tmp_path, "--model", "signs", "--attack", "pgd", "--executor", "ray")
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert (
        done.value.code == 2
        and "needs the 'ray' extra" in err
        and "edgeguard[ray]" in err
        and not out.exists()
    )


def test_attacks_listing() -> None:
    res = CliRunner().invoke(app, ["attacks"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "pgd" in res.output and "linf" in res.output


def test_engine_without_logits_output(tmp_path, capsys) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["features"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "features.onnx"
    onnx.save(model, path)
    out, argv, main = _run(tmp_path, "--model", str(path), "--attack", "pgd")
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1, err
    assert "has no (batch, classes) logits output (outputs: features" in err and not out.exists()


@pytest.mark.slow
def test_signs_end_to_end_and_resume(tmp_path, cli) -> None:
    """The shipped sign model with bits:5: naive and adaptive PGD scored on the exported engine."""
    from edgeguard.eval.records import read_results

    run_cli = cli
    out = tmp_path / "rep"
    args = ("eval", "--model", "signs", "-d", "bits:5", "--attack", "pgd:steps=2", "--eps", "8/255")
    done = run_cli(*args, "--n", "6", "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    res = read_results(out / "results.json")
    assert (out / "report.md").is_file() and res["command"][:2] == ["edgeguard", "eval"]
    modes = {(r["attack"], r["mode"], r["extra"]) for r in res["records"]}
    assert {
        ("pgd:steps=2", "naive", ""),
        ("pgd:steps=2", "adaptive", ""),
        ("worst-case", "worst", ""),
    } <= modes
    assert res["configs"][0]["defenses"] == ["bits:bits=5"] and res["data"]["n"] == 6
    cells = sorted(p.name for p in (out / "cells").glob("*.json"))
    again = run_cli(*args, "--n", "6", "--out", str(out), "--quiet", "--resume")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (out / "cells").glob("*.json")) == cells
    assert read_results(out / "results.json")["records"] == res["records"]  # every cell was reused


@pytest.mark.slow
@pytest.mark.parametrize("strict", [False, True])
def test_strict_exits_1_on_a_failed_sanity_check(tmp_path, capsys, monkeypatch, strict) -> None:
    import edgeguard.eval.sanity as sanity
    from edgeguard.eval.runner import Workspace

    from .fake import prepare

    monkeypatch.setattr(Workspace, "_prepare", prepare)  # a tiny linear model instead of the export
    row = {"check": "large-eps", "config": "signs", "attack": "pgd", "passed": False, "status": "failed"}
    monkeypatch.setattr(sanity, "sanity_checks", lambda records: [{**row, "detail": "doctored"}])
    out, argv, main = _run(
        tmp_path, "--model", "signs", "--attack", "pgd:steps=1", "--eps", "0.1", "--n", "6"
    )
    argv += ["--quiet", *(["--strict"] if strict else [])]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == (1 if strict else 0)
    err = capsys.readouterr().err
    assert "sanity check failed: large-eps (signs): doctored" in err
    assert (out / "results.json").is_file() and (out / "report.md").is_file()
