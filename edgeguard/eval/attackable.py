"""A deployed pipeline as one differentiable torch module, for adaptive (white-box) attacks.

The deployed path is preprocess → host stages → engine (in-graph defenses → normalisation → model).
:func:`attackable` rebuilds it in torch so gradient attacks can attack *through* the defense, not
around it (Athalye, Carlini & Wagner, ICML'18; Carlini et al. 2019 "On Evaluating Adversarial
Robustness", §5):

* traceable, differentiable defenses (median, gaussian, noise) run as themselves;
* rounding (``bits``) keeps its exact forward and takes a straight-through (identity) backward, the
  standard BPDA for quantisation (``straight_through=False`` leaves its zero gradient: the masked
  attack, useful only to show the masking);
* host stages run through :func:`edgeguard.attacks.bpda` (identity backward);
* random stages draw a fresh seed from a counter (started at ``seed``) on every forward call, so an
  EOT attack, which calls the model several times per step, averages its gradient over draws, and a
  run with the same seed repeats exactly.

The forward of ``full`` equals the deployed onnxruntime pipeline within float tolerance for
deterministic configurations (tests/eval/test_attackable.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import defenses, models, stages
from ..attacks.bpda import bpda
from ..errors import ConfigError, EngineError
from ..exporter.graph import parse_normalize
from ..exporter.wrap import DefendedModel, Normalize
from .config import Config
from .straight import StraightThrough


@dataclass
class Attackable:
    """What gradient and query attacks get for one configuration.

    Attributes:
        bare: ``[0, 1] → logits`` of the model alone (normalisation included): the naive mode attacks
            this and applies the defense afterwards. ``None`` only when no torch copy exists at all
            (conversion failed).
        full: ``[0, 1] → logits`` through host stages, in-graph defenses and model (adaptive mode);
            ``None`` when no white-box copy could be made (query-only attacks then).
        joint: ``[0, 1] → (logits, adv_score)`` when a detector is configured; ``None`` otherwise.
        random: a random stage/defense: each forward of ``full`` draws a fresh sample.
        eot: draws per gradient that attacks should average over (1 when not random).
        white_box: ``full`` exists and its gradients can be trusted.
        notes: what was approximated (straight-through rounding, BPDA stages, conversion max |Δ| …).
    """

    bare: nn.Module | None
    full: nn.Module | None
    joint: nn.Module | None
    random: bool
    eot: int
    white_box: bool
    notes: list[str] = field(default_factory=list)


class Draws:
    """Seed counter shared by the random stages of one attackable: ``next()`` gives seed, seed+1, …"""

    def __init__(self, seed: int) -> None:
        self.start = self.value = int(seed)

    def next(self) -> int:
        s = self.value
        self.value += 1
        return s

    def reset(self) -> None:
        """Restart at the first seed (a second run then repeats the first one's draws)."""
        self.value = self.start


class RandomStage(nn.Module):
    """A random host stage under BPDA whose every forward call uses the next seed of ``draws``.

    Expectation over Transformation (Athalye et al. ICML'18) then needs nothing else: an EOT attack
    calls the model ``eot`` times per step and averages the gradients of different draws.
    """

    def __init__(self, stage: Any, draws: Draws) -> None:
        super().__init__()
        self.stage, self.draws = stage, draws

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bpda(self.stage.reseeded(self.draws.next()))(x)

    def extra_repr(self) -> str:
        return f"{self.stage.spec} (fresh seed per call, BPDA)"


class Deployed(nn.Module):
    """Host stages (torch wrappers) → engine-side module (defenses → normalisation → model)."""

    def __init__(self, stage_modules: Sequence[nn.Module], engine: nn.Module) -> None:
        super().__init__()
        self.stages = nn.Sequential(*stage_modules)
        self.engine = engine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.engine(self.stages(x))


def host_stage_modules(specs: Sequence[str], draws: Draws, notes: list[str]) -> list[nn.Module]:
    """Torch wrappers of host stages: BPDA for each, a fresh seed per call for the random ones."""
    out: list[nn.Module] = []
    for spec in specs:
        entry, _ = stages.REGISTRY.resolve(spec)
        stage = stages.from_spec(spec)
        if entry.random:
            out.append(RandomStage(stage, draws))
            notes.append(f"stage {spec}: BPDA (identity backward), fresh random draw per forward (EOT)")
        else:
            out.append(bpda(stage))
            notes.append(f"stage {spec}: BPDA (identity backward)")
    return out


def defense_modules(specs: Sequence[str], straight: bool, notes: list[str]) -> list[nn.Module]:
    """In-graph defenses as torch modules; non-differentiable ones (rounding) straight-through."""
    out: list[nn.Module] = []
    for spec in specs:
        entry, _ = defenses.REGISTRY.resolve(spec)
        mod = defenses.from_spec(spec)
        if entry.random:  # none is registered today; a random defense would need its own draw counter
            raise ConfigError(f"defense {spec}: random in-graph defenses cannot be attacked with EOT yet")
        if entry.differentiable:
            out.append(mod)
        elif straight:
            out.append(StraightThrough(mod))
            notes.append(
                f"defense {spec}: straight-through backward (BPDA for rounding, Athalye et al. 2018)"
            )
        else:
            out.append(mod)
            notes.append(f"defense {spec}: true gradient (zero a.e.): the attack is gradient-masked")
    return out


def squeeze_module(
    engine: nn.Module, spec: str, straight: bool, notes: list[str], *, detection: bool = False
) -> nn.Module:
    """``x → (logits, adv_score)``: the feature-squeezing detector (Xu et al. NDSS'18) around ``engine``.

    The same computation the exporter fuses (:class:`~edgeguard.defenses.squeeze.SqueezeDetector`);
    its rounding squeezers (``bits``) get the straight-through backward too, else the score's
    gradient through them is zero and a detector-aware attack is masked (He et al. 2017 attack
    feature squeezing through the same approximation). ``detection``: the detector variant
    (:class:`~edgeguard.defenses.squeeze.DetectionSqueeze`, ``x → (head, adv_score)``), as the
    exporter fuses for a detection model.
    """
    from ..defenses.squeeze import DetectionSqueeze, SqueezeDetector, from_spec

    squeezers = from_spec(spec)
    for i, view_spec in enumerate(squeezers.specs):
        if straight and not defenses.REGISTRY.resolve(view_spec)[0].differentiable:
            squeezers.views[i] = StraightThrough(squeezers.views[i])
            notes.append(f"detector squeezer {view_spec}: straight-through backward")
    if detection:
        return DetectionSqueeze(engine, squeezers).eval()
    return SqueezeDetector(engine, squeezers).eval()


def _frozen(module: nn.Module) -> nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def _check(eot: Any, seed: Any) -> None:
    if isinstance(eot, bool) or not isinstance(eot, int) or eot < 1:
        raise ConfigError(f"eot {eot!r}: expected an integer >= 1 (draws per gradient)")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**62:
        raise ConfigError(f"seed {seed!r}: expected a non-negative integer")


def attackable(config: Config, *, straight_through: bool = True, eot: int = 20, seed: int = 0) -> Attackable:
    """Turn a configuration into torch modules for naive and adaptive attacks.

    Args:
        config: the evaluated configuration.
        straight_through: straight-through backward for rounding (False: its true, zero gradient).
        eot: draws per gradient for random configurations (Athalye et al. use 20–30).
        seed: first seed of the random stages' draws.

    Raises:
        ConfigError: bad ``eot``/``seed``.
    """
    _check(eot, seed)
    if not isinstance(config, Config):
        raise ConfigError(f"attackable: expected an eval Config, got {type(config).__name__}")
    notes: list[str] = []
    draws = Draws(seed)
    rand = config.random
    if config.is_engine:
        bare, full, joint = _engine(config, straight_through, draws, notes)
    else:
        net, info = models.build(config.model, config.weights)
        norm = parse_normalize(None, (info.mean, info.std))
        net = _frozen(net)
        normalize = Normalize(*norm) if norm else None
        bare = DefendedModel(net, [], normalize).eval()
        engine = DefendedModel(net, defense_modules(config.defenses, straight_through, notes), normalize)
        full = Deployed(host_stage_modules(config.stages, draws, notes), engine.eval()).eval()
        joint = None
        if config.detector is not None:
            detection = info.task == "detection"
            detector = squeeze_module(engine, config.detector, straight_through, notes, detection=detection)
            joint = Deployed(host_stage_modules(config.stages, draws, []), detector).eval()
    return Attackable(
        bare=bare,
        full=full,
        joint=joint,
        random=rand,
        eot=eot if rand else 1,
        white_box=full is not None,
        notes=notes,
    )


def _engine(
    config: Config, straight: bool, draws: Draws, notes: list[str]
) -> tuple[nn.Module | None, nn.Module | None, nn.Module | None]:
    """An ``.onnx`` engine: its torch source when edgeguard has it, else the onnx2torch conversion.

    Returns ``(bare, full, joint)``; ``joint`` only when the manifest names a detector output.
    """
    from ..engines.onnxruntime import read_onnx_manifest
    from . import convert

    path = Path(config.model)
    m = read_onnx_manifest(path)
    specs = [*(m.host_stages if m else ()), *config.stages]
    detector = m.detector if m is not None else None
    source = convert.torch_source(m) if m is not None else None
    joint_engine: nn.Module | None = None
    if source is not None:
        net, weights = source
        normalize = Normalize(m.normalize.mean, m.normalize.std)
        bare = DefendedModel(_frozen(net), [], normalize).eval()
        engine: nn.Module = DefendedModel(net, defense_modules(m.defenses, straight, notes), normalize).eval()
        delta = convert.max_abs_diff(engine, path)
        notes.append(
            f"engine {path.name}: torch source {m.provenance.source.model} ({weights}, sha256 matches the "
            f"manifest) used for gradients; max |Δ logits| vs onnxruntime {delta:.2e}"
        )
        if delta > convert.TOLERANCE:
            raise EngineError(
                f"{path.name}: its torch source differs from the engine by {delta:.2e} > {convert.TOLERANCE}"
            )
        if detector is not None and detector.spec:
            joint_engine = squeeze_module(
                engine, detector.spec, straight, notes, detection=m.task == "detection"
            )
        elif detector is not None:
            notes.append(f"engine {path.name}: its manifest names no detector spec; no joint module")
    else:
        try:
            conv = convert.convert(path, straight_through=straight)
        except EngineError as err:
            notes.append(f"engine {path.name}: no white-box copy ({err}); white-box numbers are missing")
            return None, None, None
        engine = conv.module
        replaced = f"; straight-through backward for {len(conv.replaced)} Round/Floor/Ceil/Sign op(s)"
        notes.append(
            f"engine {path.name}: converted with onnx2torch, max |Δ logits| vs onnxruntime {conv.max_abs:.2e}"
            + (replaced if conv.replaced else "")
        )
        if not conv.gradient:
            notes.append(
                f"engine {path.name}: no gradient reaches the input of the converted graph (an integer cast "
                f"or argmax cuts it); white-box numbers are missing"
            )
            return engine, None, None
        bare = engine
        if m is not None and m.defenses:
            notes.append(
                f"engine {path.name}: no defense-free copy of its model; naive mode attacks the engine "
                f"graph (in-graph defenses included, without host stages)"
            )
        if detector is not None and detector.output in m.outputs:
            joint_engine = convert.GraphOutputs(conv.graph, (0, m.outputs.index(detector.output))).eval()
    full = Deployed(host_stage_modules(specs, draws, notes), engine).eval()
    joint = None
    if joint_engine is not None:
        joint = Deployed(host_stage_modules(specs, draws, []), joint_engine).eval()
    return bare, full, joint


__all__ = ["Attackable", "Deployed", "Draws", "RandomStage", "attackable"]
