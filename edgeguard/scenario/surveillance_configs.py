"""The configurations the surveillance scenario evaluates: one table, one entry per deployed detector.

Each entry names a detector (``persons`` or an ``.onnx`` engine), its in-graph defenses, host stages
and squeeze detector (a flagged frame raises an event: a caught attack). Other parts append entries
with :func:`register` beside their own code (a patch-class ``persons-adyolo`` detector, say)::

    register(SurvConfig("adyolo", model="persons-adyolo", summary="..."))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError
from ..eval.config import Config

SQUEEZE = "squeeze:bits=4,median=2x2"


@dataclass(frozen=True)
class SurvConfig:
    """One evaluated configuration (``name`` labels it in records and the report)."""

    name: str
    model: str = "persons"
    defenses: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    detector: str | None = None
    summary: str = ""

    def eval_config(self) -> Config:
        """The eval :class:`~edgeguard.eval.config.Config` that deploys and attacks it."""
        return Config(
            name=self.name,
            model=self.model,
            defenses=self.defenses,
            stages=self.stages,
            detector=self.detector,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["defenses"], d["stages"] = list(self.defenses), list(self.stages)
        return d


CONFIGS: list[SurvConfig] = []


def register(cfg: SurvConfig) -> SurvConfig:
    """Append ``cfg`` to the table (a name may appear once)."""
    if any(c.name == cfg.name for c in CONFIGS):
        raise ValueError(f"surveillance configuration {cfg.name!r} registered twice")
    CONFIGS.append(cfg)
    return cfg


register(SurvConfig("undefended", summary="the embedded persons detector as shipped"))
register(
    SurvConfig(
        "bits+median",
        defenses=("bits:5", "median:3x3"),
        summary="input transforms in the engine (bit depth 5, 3x3 median), attacked with BPDA",
    )
)
register(
    SurvConfig(
        "squeeze",
        detector=SQUEEZE,
        summary="detection squeeze score (bits 4, 2x2 median) as a second engine output, τ at 5 % FPR",
    )
)


def select(names: tuple[str, ...]) -> tuple[SurvConfig, ...]:
    """The named configurations in table order (all when ``names`` is empty).

    Raises:
        ConfigError: an unknown name (the known ones listed).
    """
    known = {c.name: c for c in CONFIGS}
    bad = [n for n in names if n not in known]
    if bad:
        raise ConfigError(f"unknown surveillance configuration {bad[0]!r} (known: {', '.join(known)})")
    return tuple(c for c in CONFIGS if not names or c.name in names)


__all__ = ["CONFIGS", "SQUEEZE", "SurvConfig", "register", "select"]
