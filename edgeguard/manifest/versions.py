"""Manifest versions: every edgeguard reads every older layout, and refuses a newer one by name.

Reading a file is ``upgrade(raw)`` then ``Manifest.from_dict``: ``upgrade`` checks ``format`` and
``version`` and applies one migration per step (``MIGRATIONS[n]`` turns a version-``n`` mapping into a
version-``n+1`` mapping) until the mapping has the current layout. A migration only moves and renames;
it never validates (the typed parts do that, naming the field as the current layout spells it).

Adding version N+1 (e.g. when a detection layout or masking geometry joins the manifest):

1. change the parts in ``schema.py`` (new fields, with defaults for Python callers);
2. set ``VERSION = N + 1`` and write ``_vN_to_vN1(data)`` that fills what version N lacked (the value a
   version-N edgeguard behaved as if it had) and register it in ``MIGRATIONS``;
3. commit a fixture ``tests/fixtures/manifests/vN1*.json`` written by the new code and list it in that
   folder's README; the fixture test then checks every older fixture still loads to the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ._fields import fail, show

FORMAT = "edgeguard-manifest"
VERSION = 6
OLDEST = 1

# Version 1 keys beyond the typed core: what exporter/onnx.py, precision.py and tensorrt.py added.
_V1_KEYS = frozenset(
    ("format", "version", "task", "input", "normalize", "outputs", "labels", "defenses", "host_stages")
    + ("detector", "precision", "opset", "source", "versions", "engine", "parity", "precision_parity")
    + ("calibration", "tensorrt")
)


def _v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (edgeguard ≤ 0.1: flat provenance and precision keys) → version 2 (nested parts).

    v1 let ``labels``, ``detector``, ``engine``, the input's ``range``/``dtype``/``dynamic_batch`` and any
    key of ``source`` be absent and ignored unknown top-level keys; v2 files are complete and keep
    free-form keys in ``extra``.
    """
    out = {k: d[k] for k in ("task", "input", "normalize", "outputs") if k in d}
    if isinstance(d.get("input"), dict):
        out["input"] = {"range": [0.0, 1.0], "dtype": "float32", "dynamic_batch": True, **d["input"]}
    out["labels"] = d.get("labels")
    out.update({k: d[k] for k in ("defenses", "host_stages") if k in d})
    out["detector"] = d.get("detector")
    parity = d.get("precision_parity")
    if isinstance(parity, dict):  # v1 repeated the precision inside its parity record
        parity = {k: v for k, v in parity.items() if k != "precision"}
    out["precision"] = {"mode": d.get("precision"), "parity": parity, "calibration": d.get("calibration")}
    if "opset" in d:
        out["opset"] = d["opset"]
    source = d.get("source")
    if isinstance(source, dict):  # v1 checked only that it was an object: any of its keys may be absent
        source = {"model": None, "weights": None, "init": None, "sha256": None, **source}
    out["provenance"] = {"source": source, "versions": d.get("versions"), "parity": d.get("parity")}
    out["tensorrt"] = d.get("tensorrt")
    out["engine"] = d.get("engine")
    out["extra"] = {k: v for k, v in d.items() if k not in _V1_KEYS}
    return out


def _v2_to_v3(d: dict[str, Any]) -> dict[str, Any]:
    """Version 2 → 3 (issue 13, detection): the input gained ``resize``/``pad_value``/``stride``.

    Every version-2 engine was fed stretched frames (edgeguard had no letterbox), stride unknown.
    """
    out = dict(d)
    if isinstance(d.get("input"), dict):
        out["input"] = {**d["input"], "resize": "stretch", "pad_value": 114, "stride": None}
    return out


def _v3_to_v4(d: dict[str, Any]) -> dict[str, Any]:
    """Version 3 → 4 (``edgeguard export --detector``): the detector part gained ``spec``, ``fpr`` and
    ``calibration``; a version-3 detector (output + threshold only) had none of them recorded."""
    out = dict(d)
    det = d.get("detector")
    if isinstance(det, dict):
        out["detector"] = {**det, "spec": None, "fpr": None, "calibration": None}
    return out


def _v4_to_v5(d: dict[str, Any]) -> dict[str, Any]:
    """Version 4 → 5 (``edgeguard export --masking``): the ``masking`` part; no version-4 engine had
    masked copies."""
    out = dict(d)
    out.setdefault("masking", None)
    return out


def _v5_to_v6(d: dict[str, Any]) -> dict[str, Any]:
    """Version 5 → 6 (``edgeguard export DETECTOR --masking lines=…``): the ``seeker`` part; no
    version-5 engine had split-masked copies."""
    out = dict(d)
    out.setdefault("seeker", None)
    return out


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
    5: _v5_to_v6,
}


def upgrade(data: Any) -> dict[str, Any]:
    """Check ``format``/``version`` and migrate a manifest mapping to the current layout (without them)."""
    if not isinstance(data, dict):
        raise ConfigError(f"manifest: expected a JSON object, got {show(data)}")
    if data.get("format") != FORMAT:
        raise fail(
            "format", f"expected {FORMAT!r}, got {show(data.get('format'))} (not an edgeguard manifest)"
        )
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise fail("version", f"expected an integer, got {show(version)}")
    number = str(version) if abs(version) < 10**12 else f"{str(version)[:12]}…"
    if version > VERSION:
        raise ConfigError(
            f"manifest version {number} was written by a newer edgeguard; this one "
            f"reads versions {OLDEST}-{VERSION}: upgrade edgeguard"
        )
    if version < OLDEST:
        raise fail(
            "version", f"no manifest version {number} exists (this edgeguard reads {OLDEST}-{VERSION})"
        )
    out = {k: v for k, v in data.items() if k not in ("format", "version")}
    for step in range(version, VERSION):
        out = MIGRATIONS[step](out)
    return out
