"""The embedded default: the bundled stop-sign classifier, exported once into a cache, on a drive-by.

``edgeguard camera`` with no arguments (and ``edgeguard demo``) runs this, so a new user sees the whole
path — defended ONNX engine, camera loop, overlay, recording, events, summary — on a machine with no
camera and no GPU. The engine is exported on first use with the defenses ``bits:5`` + ``median:3x3``
(feature squeezing, seed 000/002: bit-depth first, then the median — see export's parity note) into
``$EDGEGUARD_CACHE`` or ``~/.cache/edgeguard``, and re-exported when the cached manifest's source
sha256 or defenses differ from what this install would produce (e.g. after the weights were updated).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError, ModelError

MODEL = "signs"
DEFENSES = ("bits:5", "median:3x3")
SOURCE = "synthetic:stop-sign"
RECORD = "edgeguard-demo.mp4"
EVENTS = "edgeguard-demo-events.jsonl"
SUMMARY = "edgeguard-demo-summary.json"


def cache_dir() -> Path:
    """``$EDGEGUARD_CACHE`` or ``~/.cache/edgeguard`` (created)."""
    root = Path(os.environ.get("EDGEGUARD_CACHE") or Path.home() / ".cache" / "edgeguard").expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cache folder {str(root)!r} cannot be created ({exc.strerror}); set EDGEGUARD_CACHE"
        ) from None
    return root


def engine_path() -> Path:
    tag = "-".join(d.replace(":", "") for d in DEFENSES)
    return cache_dir() / f"{MODEL}-{tag}.onnx"


def expected_source() -> tuple[str, list[str]]:
    """(sha256 of the bundled weights, canonical defense specs) that a fresh export would record."""
    from .. import defenses, models
    from ..provenance import file_sha256

    entry = models.REGISTRY.get(MODEL)
    weights = entry.extra.get("default_weights")
    if not weights or not Path(weights).is_file():
        raise ModelError(
            f"the bundled {MODEL!r} weights are missing from this install ({weights}); reinstall edgeguard "
            f"or pass your own engine with --engine"
        )
    return file_sha256(weights), [defenses.REGISTRY.canonical(d) for d in DEFENSES]


def cached_is_current(path: Path, sha: str, specs: list[str]) -> bool:
    """Whether the cached engine and its sidecar exist and match the bundled weights and defenses."""
    from .. import manifest

    side = manifest.sidecar_path(path)
    if not path.is_file() or not side.is_file():
        return False
    try:
        data = manifest.load_sidecar(side)
    except ConfigError:
        return False
    return data.get("source", {}).get("sha256") == sha and list(data.get("defenses", [])) == specs


def ensure_engine(log=print) -> Path:  # noqa: ANN001 - any callable taking one string
    """Path to the cached default engine, exporting it first when missing or stale."""
    path = engine_path()
    sha, specs = expected_source()
    if cached_is_current(path, sha, specs):
        return path
    from ..exporter.onnx import export

    log(f"exporting the bundled stop-sign model with {' + '.join(DEFENSES)} to {path} (first run only) …")
    res = export(MODEL, defense=list(DEFENSES), out=path)
    log(f"exported in {res.seconds:.1f} s (parity max rel. error {res.parity.max_rel:.1e})")
    return path


__all__ = [
    "DEFENSES",
    "EVENTS",
    "MODEL",
    "RECORD",
    "SOURCE",
    "SUMMARY",
    "cache_dir",
    "cached_is_current",
    "engine_path",
    "ensure_engine",
    "expected_source",
]
