"""The embedded default: the bundled stop-sign classifier, defended, on a drive-by.

``edgeguard camera`` with no arguments (and ``edgeguard demo``) runs this, so a new user sees the whole
path — defended ONNX engine, camera loop, overlay, recording, events, summary — on a machine with no
camera and no GPU. The engine is the bundled model with the defenses ``bits:5`` + ``median:3x3``
(feature squeezing, seed 000/002: bit-depth first, then the median — see export's parity note) and the
feature-squeezing detector ``squeeze:bits=4,median=2x2`` (Xu et al. NDSS'18; a 5-bit squeezer would be
redundant behind the fused ``bits:5``), so the overlay shows an adversarial score and flags frames:

* with the ``export`` extra (torch), it is exported on first use into ``$EDGEGUARD_CACHE`` or
  ``~/.cache/edgeguard`` and re-exported when the cached manifest's source sha256 or defenses differ
  from what this install would produce (e.g. after the weights were updated), as before;
* on the runtime install (no torch), the pre-exported copy shipped in the package
  (``edgeguard/models/engines/``) runs; ``tests/test_runtime_install.py`` keeps it equal to a fresh
  export, and ``python -m edgeguard.camera.default`` (``make demo-engine``) regenerates it.

The demo also runs the *undefended* engine (:data:`UNDEFENDED`: the bare ``signs`` export, cached or
shipped the same way) on every frame beside the default, so the drive-by past the sign carrying the
optimised RP2 sticker (:data:`SOURCE`) shows what the sticker does to each (issue #12).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import extras
from ..errors import ConfigError, ModelError

MODEL = "signs"
DEFENSES = ("bits:5", "median:3x3")
# On 50 held-out rendered signs, PGD-10 at 8/255 through the defenses is flagged on 72 % at FPR 0.05
# (AUC 0.95); see README "Detector" for what a detector-aware attack does to that.
DETECTOR = "squeeze:bits=4,median=2x2"
SOURCE = "synthetic:stop-sign?sticker=stop-bars"  # the shipped RP2 sticker (make sticker) on the sign
RECORD = "edgeguard-demo.mp4"
EVENTS = "edgeguard-demo-events.jsonl"
SUMMARY = "edgeguard-demo-summary.json"
# Package data: the demo engine exported by `python -m edgeguard.camera.default`.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models" / "engines"
# Where the bundled weights live relative to SHIPPED_DIR's package root: recorded in the shipped
# manifest instead of the absolute path of the machine that exported it.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class EngineSpec:
    """One engine the demo runs: a registry model, its fused defenses and its detector."""

    model: str
    defenses: tuple[str, ...] = ()
    detector: str | None = None

    @property
    def name(self) -> str:
        """``signs-bits5-median3x3.onnx`` (defended) or ``signs.onnx`` (bare)."""
        tag = "".join("-" + d.replace(":", "") for d in self.defenses)
        return f"{self.model}{tag}.onnx"

    def describe(self) -> str:
        parts = [self.model, *self.defenses] + ([f"detector {self.detector}"] if self.detector else [])
        return " + ".join(parts) if self.defenses or self.detector else f"{self.model} (undefended)"


DEFAULT = EngineSpec(MODEL, DEFENSES, DETECTOR)
UNDEFENDED = EngineSpec(MODEL)  # the bare export the demo compares against


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


def engine_name(spec: EngineSpec = DEFAULT) -> str:
    """``signs-bits5-median3x3.onnx``: the engine's file name (cache and shipped copy)."""
    return spec.name


def engine_path(spec: EngineSpec = DEFAULT) -> Path:
    """The cached engine that ``ensure_engine`` exports when the export extra is installed."""
    return cache_dir() / engine_name(spec)


def shipped_engine_path(spec: EngineSpec = DEFAULT) -> Path:
    """The pre-exported engine shipped in the package (its sidecar lies beside it)."""
    return SHIPPED_DIR / engine_name(spec)


def expected_source(spec: EngineSpec = DEFAULT) -> tuple[str, list[str]]:
    """(sha256 of the bundled weights, canonical defense specs) that a fresh export would record."""
    from .. import defenses, models
    from ..provenance import file_sha256

    entry = models.REGISTRY.get(spec.model)
    weights = entry.extra.get("default_weights")
    if not weights or not Path(weights).is_file():
        raise ModelError(
            f"the bundled {spec.model!r} weights are missing from this install ({weights}); reinstall "
            f"edgeguard or pass your own engine with --engine"
        )
    return file_sha256(weights), [defenses.REGISTRY.canonical(d) for d in spec.defenses]


def cached_is_current(path: Path, sha: str, specs: list[str], detector: str | None = DETECTOR) -> bool:
    """Whether the cached engine and its sidecar exist and match the bundled weights, defenses and
    detector."""
    from .. import manifest

    side = manifest.sidecar_path(path)
    if not path.is_file() or not side.is_file():
        return False
    try:
        data = manifest.load_sidecar(side)
    except ConfigError:
        return False
    have = data.detector.spec if data.detector else None
    return data.provenance.source.sha256 == sha and list(data.defenses) == specs and have == detector


def shipped_engine(log=print, spec: EngineSpec = DEFAULT) -> Path:  # noqa: ANN001 - any callable taking one string
    """Path to the shipped engine (runtime install), checked to be present with its sidecar."""
    from .. import manifest

    path = shipped_engine_path(spec)
    if not path.is_file() or not manifest.sidecar_path(path).is_file():
        raise ModelError(
            f"the demo engine shipped with edgeguard is missing ({path}); reinstall edgeguard, install "
            f"the export extra (pip install 'edgeguard[export]') to export it, or pass --engine"
        )
    log(f"runtime install: running the demo engine shipped with edgeguard ({path.name})")
    return path


def ensure_engine(log=print, spec: EngineSpec = DEFAULT) -> Path:  # noqa: ANN001 - any callable taking one string
    """Path to the default engine (or another demo engine, ``spec``).

    With the export extra: the cached export, exported first when missing or stale. Without it (the
    runtime install): the copy shipped in the package.
    """
    if extras.missing("export"):
        return shipped_engine(log, spec)
    path = engine_path(spec)
    sha, specs = expected_source(spec)
    if cached_is_current(path, sha, specs, spec.detector):
        return path
    from ..exporter.onnx import export

    log(f"exporting the bundled stop-sign model as {spec.describe()} to {path} (first run only) …")
    res = export(spec.model, defense=list(spec.defenses), detector=spec.detector, out=path)
    log(f"exported in {res.seconds:.1f} s (parity max rel. error {res.parity.max_rel:.1e})")
    return path


def write_shipped_engine(folder: Path | None = None, spec: EngineSpec = DEFAULT) -> Path:
    """Export a demo engine into ``folder`` (default: the package's ``SHIPPED_DIR``).

    The bundled weights are passed by their path relative to the package root (exported from
    there), so the shipped manifest records ``edgeguard/models/weights/…`` instead of the
    exporting machine's absolute path. Needs the export extra.
    """
    from .. import models
    from ..exporter.onnx import export

    extras.require("torch", what="exporting the demo engine", extra="export")
    out = (folder or SHIPPED_DIR).resolve() / engine_name(spec)
    weights = Path(models.REGISTRY.get(spec.model).extra["default_weights"]).resolve()
    here = Path.cwd()
    os.chdir(_PACKAGE_ROOT)
    try:
        export(
            spec.model,
            weights=weights.relative_to(_PACKAGE_ROOT),
            defense=list(spec.defenses),
            detector=spec.detector,
            out=out,
        )
    finally:
        os.chdir(here)
    return out


__all__ = [
    "DEFAULT",
    "DEFENSES",
    "DETECTOR",
    "EngineSpec",
    "UNDEFENDED",
    "EVENTS",
    "MODEL",
    "RECORD",
    "SOURCE",
    "SHIPPED_DIR",
    "SUMMARY",
    "cache_dir",
    "cached_is_current",
    "engine_name",
    "engine_path",
    "ensure_engine",
    "expected_source",
    "shipped_engine",
    "shipped_engine_path",
    "write_shipped_engine",
]


if __name__ == "__main__":  # `python -m edgeguard.camera.default` (`make demo-engine`)
    for demo_spec in (DEFAULT, UNDEFENDED):
        print(f"wrote {write_shipped_engine(spec=demo_spec)}")
