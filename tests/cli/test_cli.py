"""The CLI in a subprocess: real exports with parity figures, inference output, one-line errors."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from edgeguard.samples import photo


@pytest.mark.slow
@pytest.mark.parametrize("model", ["resnet18", "mobilenet_v3_small"])
def test_export_and_infer_through_cli(model, tmp_path, cli):
    out = tmp_path / f"{model}.onnx"
    r = cli(
        "export",
        model,
        "--defense",
        "bits:5",
        "--defense",
        "median:3x3",
        "--input-size",
        "128",
        "--out",
        str(out),
        "--verbose",
    )
    assert r.returncode == 0, r.stderr
    m = re.search(r"parity : max abs (\S+), relative (\S+) \(≤ 1e-04\)", r.stdout)
    assert m, r.stdout
    assert float(m.group(2)) <= 1e-4
    assert out.is_file() and (tmp_path / f"{model}.edgeguard.json").is_file()
    assert "Round" in r.stdout and "op histogram" in r.stdout
    side = json.loads((tmp_path / f"{model}.edgeguard.json").read_text())
    assert side["provenance"]["parity"]["max_rel"] == pytest.approx(float(m.group(2)), rel=0.05)

    img = tmp_path / "cat.jpg"
    cv2.imwrite(str(img), np.ascontiguousarray(photo("chelsea")[..., ::-1]))
    r = cli("infer", str(img), str(img), "--engine", str(out), "--json", "--top", "3")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == 2 and lines[0]["top"] == lines[1]["top"]
    assert len(lines[0]["top"]) == 3 and {"label", "index", "prob"} <= set(lines[0]["top"][0])
    assert {"preprocess", "engine", "decision", "total"} <= set(lines[0]["timing_ms"])
    r = cli("infer", str(img), "--engine", str(out))
    assert r.returncode == 0 and "engine" in r.stdout and "ms" in r.stdout


def _one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_cli_errors_are_one_line(tmp_path, cli):
    _one_line_error(cli("export", "resnet05"), "did you mean resnet50")
    _one_line_error(cli("export", "resnet18", "--defense", "median:4x4"), "windows that exist: 3x3")
    _one_line_error(cli("export", "resnet18", "--weights", str(tmp_path / "w.pt")), "does not exist")
    (tmp_path / "w.pt").write_bytes(b"junk")
    _one_line_error(cli("export", "resnet18", "--weights", str(tmp_path / "w.pt")), "cannot read weights")
    (tmp_path / "e.onnx").write_bytes(b"junk")
    (tmp_path / "i.png").write_text("not an image")
    _one_line_error(cli("infer", str(tmp_path / "i.png"), "--engine", str(tmp_path / "e.onnx")), "e.onnx")
    _one_line_error(
        cli("infer", str(tmp_path / "i.png"), "--engine", str(tmp_path / "none.onnx")), "does not exist"
    )
    (tmp_path / "bad.edgeguard.json").write_text('{"format": "edgeguard-manifest", "version": 1}')
    _one_line_error(
        cli("infer", str(tmp_path / "i.png"), "--engine", str(tmp_path / "bad.edgeguard.json")), "manifest"
    )


def test_cli_error_on_bad_image_and_debug_traceback(tmp_path, cli):
    out = tmp_path / "m.onnx"
    assert cli("export", "resnet18", "--input-size", "32", "--out", str(out)).returncode == 0
    (tmp_path / "i.png").write_text("not an image")
    _one_line_error(cli("infer", str(tmp_path / "i.png"), "--engine", str(out)), "not an image")
    r = cli("--debug", "infer", str(tmp_path / "i.png"), "--engine", str(out))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_help_and_listings(cli):
    r = cli("--help")
    assert r.returncode == 0 and "export" in r.stdout and "infer" in r.stdout
    r = cli("defenses")
    assert r.returncode == 0
    for name in ("bits", "median", "gaussian", "noise", "squeeze"):
        assert name in r.stdout
    r = cli("models")
    assert r.returncode == 0 and "torchvision classifiers" in r.stdout


def test_version_and_plain_usage_lines(cli):
    from edgeguard import __version__

    r = cli("--version")
    assert r.returncode == 0 and r.stdout == f"edgeguard {__version__}\n"
    r = cli("export", "--help")
    usage = next(line for line in r.stdout.splitlines() if "Usage:" in line)
    # MODEL is optional since `export --recipe FILE`; Typer alone would print {model}
    assert usage.split("Usage:")[1].split() == ["edgeguard", "export", "[OPTIONS]", "[MODEL]"]
    r = cli("infer", "--help")
    usage = next(line for line in r.stdout.splitlines() if "Usage:" in line)
    assert usage.split("Usage:")[1].split() == ["edgeguard", "infer", "[OPTIONS]", "IMAGES..."]


def test_shared_options_are_declared_once():
    """infer and camera take --engine/--provider/--threads/--stage/--escalate/--crop/--top from one place."""
    from typer.main import get_command

    from edgeguard.cli import _common
    from edgeguard.cli.app import _load_commands, app

    _load_commands()
    commands = get_command(app).commands

    def opt(command: str, flag: str):
        return next(p for p in commands[command].params if flag in getattr(p, "opts", []))

    for flag, short, shared in (
        ("--provider", None, _common.ProviderOpt),
        ("--threads", None, _common.ThreadsOpt),
        ("--stage", "-s", _common.StageOpt),
        ("--escalate", None, _common.EscalateOpt),
        ("--crop", None, _common.CropOpt),
        ("--top", "-k", _common.TopOpt),
    ):
        declared = shared.__metadata__[0]
        for command in ("infer", "camera"):
            p = opt(command, flag)
            assert p.help == declared.help, (command, flag)
            assert sorted(p.opts) == sorted(o for o in (flag, short) if o), (command, flag)
    for flag, shared in (("--provider", _common.ProviderOpt), ("--threads", _common.ThreadsOpt)):
        assert opt("demo", flag).help == shared.__metadata__[0].help  # demo takes them too
    assert opt("infer", "--engine").help == _common.ENGINE_HELP
    assert opt("camera", "--engine").help.startswith(_common.ENGINE_HELP)
    assert opt("infer", "--crop").default == "resize" and opt("camera", "--crop").default == "auto"
