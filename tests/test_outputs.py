"""edgeguard.outputs: destinations checked first, a group renamed only when all of it was written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeguard.errors import ConfigError
from edgeguard.outputs import OutputGroup, check_destination


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"/" for p in folder.rglob("*")}


def test_group_renames_all_on_success_and_keeps_suffix(tmp_path):
    (tmp_path / "a.onnx").write_text("OLD")
    with OutputGroup([tmp_path / "a.onnx", tmp_path / "a.json"]) as g:
        ta = g.write_bytes(tmp_path / "a.onnx", b"NEW")
        g.write_text(tmp_path / "a.json", "{}")
        assert ta.parent == tmp_path and ta.suffix == ".onnx" and ta.name.startswith(".")
        assert (tmp_path / "a.onnx").read_text() == "OLD"  # nothing replaced before commit
        assert not (tmp_path / "a.json").exists()
    assert _listing(tmp_path) == {"a.onnx": b"NEW", "a.json": b"{}"}
    mode = (tmp_path / "a.json").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_group_failure_leaves_everything_as_it_was(tmp_path):
    (tmp_path / "a.onnx").write_text("OLD")
    group = OutputGroup([tmp_path / "a.onnx", tmp_path / "b.txt"])
    with pytest.raises(RuntimeError, match="boom"), group as g:
        g.write_bytes(tmp_path / "a.onnx", b"NEW")
        g.write_text(tmp_path / "b.txt", "x")
        raise RuntimeError("boom")
    assert _listing(tmp_path) == {"a.onnx": b"OLD"}


def test_make_parents_creates_folders_and_removes_them_on_failure(tmp_path):
    dest = tmp_path / "x" / "y" / "m.onnx"
    with pytest.raises(RuntimeError), OutputGroup([dest], make_parents=True) as g:
        g.write_text(dest, "x")
        raise RuntimeError
    assert _listing(tmp_path) == {}
    with OutputGroup([dest], make_parents=True) as g:
        g.write_text(dest, "ok")
    assert dest.read_text() == "ok"
    with pytest.raises(ConfigError, match="does not exist"):
        OutputGroup([tmp_path / "nope" / "m.onnx"])


def test_keep_existing_starts_from_the_old_content(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text("1\n")
    with OutputGroup([log]) as g:
        with open(g.temp(log, keep_existing=True), "a") as f:
            f.write("2\n")
        assert log.read_text() == "1\n"
    assert log.read_text() == "1\n2\n"


@pytest.mark.parametrize(
    ("make", "target", "message"),
    [
        (lambda d: (d / "dir.onnx").mkdir(), "dir.onnx", "is a folder"),
        (lambda d: (d / "file").write_text("x"), "file/m.onnx", "is a file, not a folder"),
        (lambda d: (d / "file").write_text("x"), "file/sub/m.onnx", "is a file, not a folder"),
        (lambda d: None, "a" * 300 + ".onnx", "longer than this file system allows"),
        (lambda d: None, "", "empty file name"),
    ],
)
def test_bad_destinations_are_config_errors(tmp_path, make, target, message):
    make(tmp_path)
    before = _listing(tmp_path)
    with pytest.raises(ConfigError, match=message):
        OutputGroup([str(tmp_path / target) if target else ""], what="--out")
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("path", ["/proc/self/m.onnx", "/sys/m.onnx", "/dev/null", "/proc"])
def test_system_folders_are_refused(path):
    with pytest.raises(ConfigError, match="system folder"):
        check_destination(path, what="--out")


def test_refuse_existing_and_duplicates(tmp_path):
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(ConfigError, match="already exists"):
        check_destination(tmp_path / "s.json", exists="refuse")
    with pytest.raises(ConfigError, match="same file"):
        OutputGroup([tmp_path / "a", tmp_path / "." / "a"])
    with pytest.raises(ValueError, match="not one of"):
        OutputGroup([tmp_path / "a"]).temp(tmp_path / "b")


def test_unwritable_folder(tmp_path, monkeypatch):
    # root may write anywhere, so the permission bit alone cannot show this branch; os.access is what
    # the check asks, so make it answer "no" for this one folder.
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    with pytest.raises(ConfigError, match="not writable"):
        check_destination(ro / "m.onnx")
