"""docs/architecture.md describes code that exists: every path it names is in the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
TOP = ("edgeguard", "tests", "export", "docs", "benchmarks", "calibration", "docker")


def _paths(text: str) -> set[str]:
    """Repository paths such as ``edgeguard/engines/base.py`` or ``tests/test_recipe.py``."""
    return set(re.findall(rf"(?<![\w./-])((?:{'|'.join(TOP)})/[\w./-]*[\w/])", text))


def _layout_names(text: str) -> set[str]:
    """Module and folder names in the layout tree (``pipeline.py``, ``stages/``)."""
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    return set(re.findall(r"\b([a-z_][\w]*\.py|[a-z_][\w]*/)", block))


def test_every_path_the_architecture_doc_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    paths = _paths(text)
    assert len(paths) > 30  # the doc names the modules it talks about; the pattern finds them
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_name_in_the_layout_tree_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = _layout_names(text)
    assert {"pipeline.py", "engines/", "exporter/", "recipe.py"} <= names
    files = {p.name for p in (ROOT / "edgeguard").rglob("*.py")}
    dirs = {p.name + "/" for p in ROOT.iterdir() if p.is_dir()}
    dirs |= {p.name + "/" for p in (ROOT / "edgeguard").rglob("*") if p.is_dir()}
    missing = sorted(n for n in names if n not in files and n not in dirs)
    assert not missing, f"the layout tree in docs/architecture.md names what does not exist: {missing}"


def test_the_readme_links_the_architecture_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/architecture.md" in readme
    assert "ARCHITECTURE.md" not in readme  # the old pointer to a document users cannot open
