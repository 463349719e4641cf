"""What one evaluation cell evaluates: a model (registry name or ``.onnx`` engine) + defenses + stages.

:class:`Config` is frozen and validated when made (every spec is parsed through its registry and kept
in canonical form, so two configs that deploy the same pipeline compare and hash equal).
:func:`deploy` builds the pipeline exactly as it runs on the device: a registry model is exported with
:func:`edgeguard.export` (defenses fused into the graph, host stages recorded in the manifest) and
reopened with :func:`edgeguard.load`; an ``.onnx`` engine is opened as it is. Final accuracy of every
attack is measured on this deployed pipeline (onnxruntime), never on the torch copy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..pipeline import Pipeline

ENGINE_SUFFIX = ".onnx"
_KEYS = ("name", "model", "defenses", "stages", "detector", "weights")


def _specs(key: str, value: Any, registry: Any) -> tuple[str, ...]:
    """Canonical spec strings of one list field; ConfigError naming the key and the bad entry."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(s, str) for s in items):
        raise ConfigError(f"config {key!r}: expected a list of spec strings, got {value!r}"[:200])
    out = []
    for s in items:
        try:
            out.append(registry.canonical(s))
            registry.from_spec(s)  # the values too (bits:9), not only the names
        except ConfigError as err:
            raise ConfigError(f"config {key!r}: {err}") from None
    return tuple(out)


@dataclass(frozen=True)
class Config:
    """One evaluated configuration.

    Attributes:
        name: label in reports (``"signs+bits:5+median:3x3"``).
        model: a model registry name (``signs``, ``signs-denoise``) or the path of an ``.onnx`` engine.
        defenses: in-graph defense specs (for an ``.onnx`` engine they come from its manifest, so none
            may be given here).
        stages: host-stage specs run before the engine (added after an engine's own stages).
        detector: feature-squeezing detector spec (``"squeeze:bits=4,median=2x2"``) fused into the
            exported engine, or ``None`` (an ``.onnx`` engine's detector comes from its manifest).
        weights: weights file for a registry model (``None``: its shipped weights).

    Raises:
        ConfigError: naming the field that is wrong.
    """

    name: str
    model: str
    defenses: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    detector: str | None = None
    weights: str | None = None

    def __post_init__(self) -> None:
        from .. import defenses, stages

        for key in ("name", "model"):
            v = getattr(self, key)
            if not isinstance(v, str) or not v.strip():
                raise ConfigError(f"config {key!r}: expected a non-empty string, got {v!r}"[:200])
        # frozen: canonical forms are set once, here, through object.__setattr__
        object.__setattr__(self, "defenses", _specs("defenses", self.defenses, defenses.REGISTRY))
        object.__setattr__(self, "stages", _specs("stages", self.stages, stages.REGISTRY))
        if self.is_engine:
            if self.defenses:
                raise ConfigError(
                    f"config 'defenses': {self.model} is an engine whose in-graph defenses come from its "
                    f"manifest; export it with `edgeguard export --defense ...` to add defenses"
                )
            if self.weights is not None:
                raise ConfigError(
                    f"config 'weights': {self.model} is an engine; weights apply to model names"
                )
            if not Path(self.model).is_file():
                raise ConfigError(f"config 'model': engine file {self.model!r} does not exist")
        else:
            from .. import models

            if self.model not in models.REGISTRY:
                try:
                    known = self.model in models.names()  # torchvision classifiers too
                except Exception:  # torchvision missing or broken: only registry names are known
                    known = False
                if not known:
                    raise ConfigError(
                        f"config 'model': unknown model {self.model!r} (a registry name such as signs, "
                        f"or the path of an .onnx engine)"
                    )
        if self.weights is not None and (
            not isinstance(self.weights, str) or not Path(self.weights).is_file()
        ):
            raise ConfigError(f"config 'weights': {self.weights!r} is not a file")
        if self.detector is not None:
            if self.is_engine:
                raise ConfigError(
                    f"config 'detector': {self.model} is an engine whose detector comes from its manifest; "
                    f"export it with `edgeguard export --detector ...` to add one"
                )
            if not isinstance(self.detector, str) or not self.detector.strip():
                raise ConfigError(
                    f"config 'detector': expected a spec such as 'squeeze:bits=4,median=2x2' or null, "
                    f"got {self.detector!r}"[:200]
                )
            from ..defenses.squeeze import refuse_redundant
            from ..registry import DETECTORS

            try:
                squeezers = DETECTORS.from_spec(self.detector)  # the values too, not only the names
                refuse_redundant(squeezers, list(self.defenses))  # a squeezer the defenses already apply
                object.__setattr__(self, "detector", DETECTORS.canonical(self.detector))
            except ConfigError as err:
                raise ConfigError(f"config 'detector': {err}") from None

    @property
    def is_engine(self) -> bool:
        """The model is an exported ``.onnx`` engine, not a registry name."""
        return self.model.endswith(ENGINE_SUFFIX)

    @property
    def random(self) -> bool:
        """Any random stage or defense (attacks then need EOT over draws)."""
        from .. import defenses, stages

        own = any(stages.REGISTRY.resolve(s)[0].random for s in self.stages) or any(
            defenses.REGISTRY.resolve(s)[0].random for s in self.defenses
        )
        if own or not self.is_engine:
            return own
        m = _engine_manifest(Path(self.model))
        return any(stages.REGISTRY.resolve(s)[0].random for s in m.host_stages) or any(
            defenses.REGISTRY.resolve(s)[0].random for s in m.defenses
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists for the spec tuples); :meth:`from_dict` reads it back."""
        return {
            "name": self.name,
            "model": self.model,
            "defenses": list(self.defenses),
            "stages": list(self.stages),
            "detector": self.detector,
            "weights": self.weights,
        }

    @classmethod
    def from_dict(cls, d: Any) -> Config:
        """Build from a dict (a grid TOML table, a results.json entry).

        Raises:
            ConfigError: not a mapping, an unknown or missing key, or an invalid value (naming the key).
        """
        if not isinstance(d, dict):
            raise ConfigError(f"config: expected a table of {', '.join(_KEYS)}, got {type(d).__name__}")
        unknown = sorted(set(d) - set(_KEYS))
        if unknown:
            raise ConfigError(f"config: unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
        for key in ("name", "model"):
            if key not in d:
                raise ConfigError(f"config: missing key {key!r}")
        for key in ("detector", "weights"):
            v = d.get(key)
            if v is not None and not isinstance(v, str):
                raise ConfigError(f"config {key!r}: expected a string or null, got {v!r}"[:200])
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def key(self, **extra: Any) -> str:
        """Short hash of what the deployed engine depends on (not the report label ``name``)."""
        from .._version import __version__

        d = {k: v for k, v in self.to_dict().items() if k != "name"}
        d["edgeguard"] = __version__  # an engine exported by another edgeguard is not reused
        if self.weights is not None:
            from ..provenance import file_sha256

            d["weights_sha256"] = file_sha256(self.weights)
        d.update(extra)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _engine_manifest(path: Path) -> Any:
    """The engine's manifest (embedded, else its sidecar); an empty one for a plain ONNX file."""
    from ..engines.onnxruntime import read_onnx_manifest

    return read_onnx_manifest(path) or _EmptyManifest()


class _EmptyManifest:
    """A plain ONNX file without an edgeguard manifest: no defenses, no stages."""

    defenses: tuple[str, ...] = ()
    host_stages: tuple[str, ...] = ()


def deploy(config: Config, workdir: str | Path, *, threads: int = 1, detector_fpr: float = 0.05) -> Pipeline:
    """The pipeline exactly as it would run on the device.

    A registry model is exported (defenses and detector fused, host stages in the manifest) into
    ``workdir/<hash of the config>.onnx`` (reused when already there: repeated cells share it) and
    opened with :func:`edgeguard.load`; an ``.onnx`` engine is opened as it is, with ``config.stages``
    added after the stages its manifest names.

    Args:
        config: what to deploy.
        workdir: folder for exported engines (created).
        threads: onnxruntime intra-op threads.
        detector_fpr: false-positive rate the detector threshold τ is calibrated for.

    Raises:
        ConfigError: the configuration cannot be deployed (its message names what).
        EngineError: export parity failed.
    """
    from .. import pipeline, stages

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ConfigError(f"threads {threads!r}: expected an integer >= 0")
    if not isinstance(detector_fpr, (int, float)) or not 0 < detector_fpr < 1:
        raise ConfigError(f"detector_fpr {detector_fpr!r}: expected a fraction in (0, 1)")
    if config.is_engine:
        pipe = pipeline.load(config.model, threads=threads)
        pipe.host_stages += [stages.from_spec(s) for s in config.stages]
        return pipe
    from ..exporter.onnx import export

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {"detector_fpr": float(detector_fpr)} if config.detector else {}
    out = work / f"{config.key(**extra)}{ENGINE_SUFFIX}"
    if not out.is_file():
        kwargs: dict[str, Any] = {}
        if config.detector is not None:
            kwargs = {"detector": config.detector, "detector_fpr": float(detector_fpr)}
        export(
            config.model,
            weights=config.weights,
            defense=list(config.defenses),
            stage=list(config.stages),
            out=out,
            **kwargs,
        )
    return pipeline.load(out, threads=threads)


__all__ = ["Config", "deploy"]
