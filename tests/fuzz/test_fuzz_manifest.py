"""Property tests: any JSON-ish value, and any mutation of a real manifest, is either a valid Manifest that
round-trips exactly (dumps → loads equal, dumps stable) or a ConfigError — never another exception.

Settings (examples, no deadline, derandomised, no database) come from the fuzz profile in conftest.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeguard import manifest as mf
from edgeguard.errors import ConfigError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "manifests"
BASES = {p.name: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, 2, 3, 8, 17, 64, 8192, 8193, -1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["", ".", "..", "a/b", "RGB", "BGR", "NCHW", "fp16", "int8", "logits", "x" * 300])
)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=8,
)


def same_kind(old: Any) -> st.SearchStrategy:
    """A value of the same JSON kind as ``old`` (so that a fair share of mutations stays valid)."""
    if isinstance(old, bool):
        return st.booleans()
    if isinstance(old, int):
        return st.integers(min_value=-5, max_value=10_000)
    if isinstance(old, float):
        return st.floats(min_value=-10.0, max_value=10.0)
    if isinstance(old, str):
        return st.text(max_size=12)
    if isinstance(old, list):
        return st.permutations(old).map(list) | st.just(old[:-1])
    return values


def outcome(value: Any) -> mf.Manifest | None:
    """The property: a valid manifest that round-trips exactly, or a ConfigError (``None``)."""
    try:
        m = mf.from_dict(value)
    except ConfigError:
        return None
    text = mf.dumps(m)
    back = mf.loads(text)
    assert back == m and mf.dumps(back) == text
    return m


def outcome_of_text(value: Any) -> None:
    """The same through JSON text (NaN/Infinity literals included), as a sidecar would arrive."""
    try:
        text = json.dumps(value)
    except (ValueError, TypeError, RecursionError):  # json cannot even write it: nothing to read
        return
    try:
        m = mf.loads(text)
    except ConfigError:
        return
    assert mf.loads(mf.dumps(m)) == m


@given(values)
def test_any_json_value(value):
    outcome(value)
    outcome_of_text(value)


@given(
    st.sampled_from([1, 2, 3, 0, 2.0, "2", None]), st.dictionaries(st.text(max_size=12), values, max_size=6)
)
def test_any_object_with_a_manifest_header(version, rest):
    value = {"format": mf.FORMAT, "version": version, **rest}
    outcome(value)
    outcome_of_text(value)


def _target(data: st.DataObject, root: dict) -> tuple[Any, Any]:
    """A random (container, key) inside ``root``: walk down (mostly) into nested parts."""
    node: Any = root
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return node, None
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and data.draw(st.integers(0, 4)) > 0:
            node = child
            continue
        return node, key


@settings(max_examples=150)  # the profile's 60, and more: the most telling property
@given(st.sampled_from(sorted(BASES)), st.data())
def test_mutations_of_real_manifests(name, data):
    doc = copy.deepcopy(BASES[name])
    for _ in range(data.draw(st.integers(1, 3))):
        node, key = _target(data, doc)
        op = data.draw(st.sampled_from(["replace", "same_kind", "same_kind", "same_kind", "delete", "add"]))
        if op == "add" or key is None:
            if isinstance(node, dict):
                node[data.draw(st.text(max_size=8))] = data.draw(values)
            else:
                node.append(data.draw(values))
        elif op == "delete":
            del node[key]
        elif op == "same_kind":
            node[key] = data.draw(same_kind(node[key]))
        else:
            node[key] = data.draw(values)
    outcome(doc)
    outcome_of_text(doc)


@given(st.text(max_size=40))
def test_engine_names(name):
    doc = copy.deepcopy(BASES["v2.json"])
    doc["engine"] = name
    m = outcome(doc)
    if m is not None:  # a valid name stays beside the manifest
        assert "/" not in name and "\\" not in name and "\0" not in name and name not in ("", ".", "..")
