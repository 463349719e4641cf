"""Bad export inputs: one typed error line (exit 2), no traceback, the user's files untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeguard.errors import ConfigError
from edgeguard.exporter.onnx import export


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
