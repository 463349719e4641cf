"""The configurations the stop-sign scenario evaluates: one table, one entry per deployed pipeline.

Each entry names a model, its in-graph defenses, host stages, squeeze detector, certified masking
(PatchCleanser patch side) and an escalation stage run only on flagged frames. Other parts append
entries with :func:`register` beside their own code (e.g. ``signs-roa`` and masking on it)::

    register(StopConfig("signs-roa", model="signs-roa"))

:func:`deploy` builds the pipeline exactly as the device runs it (``eval.deploy``: exported with the
defenses and detector fused; a masking engine exported with ``--masking``; the escalation stage set on
the pipeline) and :func:`eval_config` is what the gradient attacks attack (``eval.attackable`` of it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..eval.config import Config
    from ..pipeline import Pipeline

DEMO_DEFENSES = ("bits:5", "median:3x3")  # the demo engine's (camera/default.py)
DEMO_DETECTOR = "squeeze:bits=4,median=2x2"


@dataclass(frozen=True)
class StopConfig:
    """One evaluated configuration.

    Attributes:
        name: its label in records and the report.
        model: a model registry name (``signs``, ``signs-denoise``, ``signs-roa`` …).
        defenses: in-graph defense specs (fused into the engine).
        stages: host stage specs run on every frame.
        detector: feature-squeezing detector spec fused into the engine (its flag = a caught attack).
        masking: certified masking: the sticker side as a fraction of the face (``None``: no masking);
            the scenario's ``--patch`` replaces it.
        escalate: host stage run only on flagged frames, then the engine again (seed 001's proposal).
        escalate_quick: the cheaper escalation ``--quick`` runs (stated in the report).
        summary: one line for the report.
    """

    name: str
    model: str = "signs"
    defenses: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    detector: str | None = None
    masking: float | None = None
    escalate: str | None = None
    escalate_quick: str | None = None
    summary: str = ""
    weights: str | None = field(default=None)

    def escalation(self, quick: bool) -> str | None:
        return self.escalate_quick if quick and self.escalate_quick else self.escalate

    def with_patch(self, patch: float | None) -> StopConfig:
        """The entry with the scenario's masking patch (entries without masking stay as they are)."""
        return self if self.masking is None or patch is None else replace(self, masking=float(patch))

    def to_dict(self, quick: bool = False) -> dict[str, Any]:
        d = asdict(self)
        d["defenses"], d["stages"] = list(self.defenses), list(self.stages)
        d["escalate"] = self.escalation(quick)
        d.pop("escalate_quick")
        return d

    def key(self, quick: bool = False) -> str:
        """Short hash of what the deployed pipeline depends on (not the name)."""
        d = {k: v for k, v in self.to_dict(quick).items() if k not in ("name", "summary")}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


CONFIGS: list[StopConfig] = []


def register(config: StopConfig) -> StopConfig:
    """Append ``config`` to the table (its name must be new)."""
    if any(c.name == config.name for c in CONFIGS):
        raise ConfigError(f"scenario configuration {config.name!r} is already registered")
    CONFIGS.append(config)
    return config


register(StopConfig("signs", summary="undefended: the bare model"))
register(StopConfig("bits+median", defenses=DEMO_DEFENSES, summary="bits:5 → median:3x3 in the engine"))
register(
    StopConfig(
        "demo",
        defenses=DEMO_DEFENSES,
        detector=DEMO_DETECTOR,
        summary=f"bits+median + {DEMO_DETECTOR} detector (the demo engine)",
    )
)
register(StopConfig("signs-denoise", model="signs-denoise", summary="feature-denoising model, PGD-trained"))
register(
    StopConfig(
        "masking",
        masking=0.25,
        summary="certified masking (PatchCleanser double masking) on signs",
    )
)
register(
    StopConfig(
        "signs-roa",
        model="signs-roa",
        summary="sticker-robust model: ROA adversarial training + masked copies, wide renderer",
    )
)
register(
    StopConfig(
        "masking-roa",
        model="signs-roa",
        masking=0.25,
        summary="certified masking (PatchCleanser double masking) on signs-roa, its masked-copy-trained base",
    )
)
register(StopConfig("nlm", stages=("nlm:11_3_4",), summary="NL-means host stage (FS's nlm:11_3_4)"))
register(
    StopConfig(
        "demo+dip",
        defenses=DEMO_DEFENSES,
        detector=DEMO_DETECTOR,
        escalate="dip:iters=500,seed=0",
        escalate_quick="dip:iters=60,seed=0",
        summary="the demo engine, DIP purification on flagged frames",
    )
)


def names() -> list[str]:
    return [c.name for c in CONFIGS]


def resolve(chosen: list[str] | tuple[str, ...] | None, patch: float | None = None) -> tuple[StopConfig, ...]:
    """The configurations named (all when none), with the scenario's masking patch.

    Raises:
        ConfigError: an unknown name (one line listing the known ones).
    """
    table = {c.name: c for c in CONFIGS}
    if not chosen:
        return tuple(c.with_patch(patch) for c in CONFIGS)
    out: list[StopConfig] = []
    for name in chosen:
        if name not in table:
            raise ConfigError(f"--config {name!r}: unknown configuration (known: {', '.join(table)})")
        if table[name].with_patch(patch) not in out:
            out.append(table[name].with_patch(patch))
    return tuple(out)


def check(config: StopConfig, quick: bool = False) -> None:
    """Validate every spec of ``config`` before anything runs (an eval Config validates the rest)."""
    from .. import stages

    if config.masking is not None:
        from ..certify import mask_set

        mask_set(config.masking, (64, 64))  # the range check; the real size is checked at export
        if config.detector is not None:
            raise ConfigError(f"configuration {config.name!r}: masking and a detector cannot share an engine")
    esc = config.escalation(quick)
    if esc is not None:
        stages.from_spec(esc)
    _plain(config)


def _plain(config: StopConfig) -> Config:
    from ..eval.config import Config

    return Config(
        name=config.name,
        model=config.model,
        defenses=config.defenses,
        stages=config.stages,
        detector=config.detector,
        weights=config.weights,
    )


def eval_config(config: StopConfig, workdir: str | Path) -> Config:
    """The eval :class:`~edgeguard.eval.config.Config` the attacks attack: for masking, the masking
    engine exported into ``workdir`` (its manifest carries the mask set the attack must know)."""
    from ..eval.config import Config

    if config.masking is None:
        return _plain(config)
    from ..exporter.onnx import export

    base = _plain(config)
    out = Path(workdir) / f"{base.key(masking=config.masking)}-masking.onnx"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        export(
            config.model,
            weights=config.weights,
            defense=list(config.defenses),
            stage=list(config.stages),
            masking=f"patch={config.masking:g}",
            out=out,
        )
    return Config(name=config.name, model=str(out))


def deploy(
    config: StopConfig, workdir: str | Path, *, quick: bool = False, certify: bool = False
) -> Pipeline:
    """The pipeline as the device runs it: exported engine, host stages, escalation on flagged frames.

    ``certify``: masking engines check each frame's certificate (M·(M+1) more model runs per frame).
    """
    from .. import stages
    from ..eval.config import deploy as eval_deploy

    pipe = eval_deploy(eval_config(config, workdir), workdir, threads=1)
    pipe.certify = bool(certify)
    esc = config.escalation(quick)
    if esc is not None:
        pipe.escalate = stages.from_spec(esc)
    return pipe


__all__ = ["CONFIGS", "StopConfig", "check", "deploy", "eval_config", "names", "register", "resolve"]
