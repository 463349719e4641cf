"""Contract for every registered camera source kind, and source choice as a registry lookup."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import edgeguard.camera.sources as sources
from edgeguard.camera.sources import Source, SourceOptions, open_source, source_for
from edgeguard.errors import SourceError
from edgeguard.registry import SOURCES

CASES = [(e.name, i) for e in SOURCES for i in range(max(1, len(e.examples)))]


@pytest.mark.parametrize("name", SOURCES.names())
def test_entry_says_how_it_is_chosen_and_has_examples(name: str) -> None:
    entry = SOURCES.get(name)
    how = [k for k in ("schemes", "match", "fallback") if entry.extra.get(k)]
    assert len(how) == 1, f"source {name!r} must register exactly one of schemes=, match=, fallback="
    assert entry.examples, f"source {name!r} registers no examples= for the contract tests"
    assert entry.usage and entry.summary


def test_one_fallback_and_no_scheme_claimed_twice() -> None:
    assert sum(bool(e.extra.get("fallback")) for e in SOURCES) == 1
    schemes = SOURCES.values_of("schemes")
    assert len(schemes) == len(set(schemes))


@pytest.mark.parametrize(("name", "index"), CASES)
def test_example_routes_to_its_entry_and_builds_or_fails_typed(name: str, index: int) -> None:
    entry = SOURCES.get(name)
    assert entry.examples, f"source {name!r} registers no examples="
    spec = entry.examples[index]["spec"]
    assert source_for(spec) is entry
    try:
        src = entry.factory(spec, SourceOptions(timeout_ms=500))
        assert isinstance(src, Source)
        with src:
            frame = src.read()
    except SourceError as err:  # no camera / stream / file here: a typed error that says what was tried
        assert str(err)
        return
    assert frame is not None and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3


def test_sources_module_does_not_import_synthetic() -> None:
    """The old camera/sources ↔ camera/synthetic circle: synthetic registers by scheme instead."""
    tree = ast.parse(Path(sources.__file__).read_text())
    imported = [
        (n.module or "") + "." + a.name if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    ]
    assert not [m for m in imported if "synthetic" in m], imported
    assert source_for("synthetic:stop-sign").module == "edgeguard.camera.synthetic"


def test_a_new_scheme_registers_and_opens_through_open_source() -> None:
    class Still(Source):
        live = False

        def __init__(self, spec: str, size: int) -> None:
            self.name, self.size, self.left = spec, size, 2

        def open(self) -> None:
            self.left = 2

        def read(self) -> np.ndarray | None:
            self.left -= 1
            return np.full((self.size, self.size, 3), 7, np.uint8) if self.left >= 0 else None

    def open_still(spec: str, opts: SourceOptions) -> Source:
        return Still(spec, opts.width or 16)

    SOURCES.register("still-test", summary="test", usage="still://", schemes=("still",), examples=({},))(
        open_still
    )
    try:
        src = open_source("still://x", width=24)
        assert isinstance(src, Still) and src.read().shape == (24, 24, 3)
    finally:
        SOURCES.unregister("still-test")
    with pytest.raises(SourceError, match="unsupported scheme still://"):
        open_source("still://x")
