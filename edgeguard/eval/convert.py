"""A user's ONNX engine as a torch module for gradient attacks (onnx2torch), checked before it is trusted.

Where edgeguard has the engine's torch source (a registry model whose weights hash matches the
manifest), :func:`torch_source` rebuilds it. Otherwise :func:`convert` converts the graph with
onnx2torch (the maintained ONNX→torch converter) and then:

* compares the converted module with onnxruntime on real photos (max |Δ logits|, refused above
  :data:`TOLERANCE` relative to the logit scale): gradients of a module that does not compute the
  engine's function are worthless;
* replaces the piecewise-constant ops onnx2torch maps to ``torch.round/floor/ceil/sign`` (``Round``,
  ``Floor``, ``Ceil``, ``Sign``: gradient 0 almost everywhere) with straight-through versions
  (:mod:`edgeguard.eval.straight`); left in place, the "adaptive" attack silently becomes gradient
  masking (Athalye et al. ICML'18). ``Clip`` is kept: onnx2torch maps it to ``torch.clamp``, whose
  gradient is the true one (1 inside the range, like ReLU), not a masked one;
* checks that a gradient reaches the input (an integer ``Cast`` or ``ArgMax`` in the graph would cut
  it): :class:`Conversion` says so, and the caller reports it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import EngineError, first_line
from .straight import StraightThrough

# Relative to max(1, max |logit|): float32 reorderings differ by ~1e-6; a wrong conversion by far more.
TOLERANCE = 1e-3
PROBE_IMAGES = 4
_PIECEWISE_CONSTANT = {"Round", "Floor", "Ceil", "Sign"}


@dataclass
class Conversion:
    """A converted engine.

    Attributes:
        module: ``[0, 1] → logits`` (the engine's first output).
        graph: the converted graph itself (all outputs, for :class:`GraphOutputs`).
        max_abs: max |Δ logits| against onnxruntime on the probe photos.
        replaced: names of the nodes given a straight-through backward.
        gradient: a non-zero gradient reaches the input.
    """

    module: nn.Module
    graph: nn.Module
    max_abs: float
    replaced: list[str] = field(default_factory=list)
    gradient: bool = True


class GraphOutputs(nn.Module):
    """Outputs of a converted graph by position: one index → that tensor, several → a tuple of them.

    ``GraphOutputs(graph, 0)`` is ``[0, 1] → logits``; ``GraphOutputs(graph, (0, 1))`` is
    ``(logits, adv_score)`` for an engine with a detector (its outputs in the manifest's order).
    """

    def __init__(self, graph: nn.Module, index: int | tuple[int, ...] = 0) -> None:
        super().__init__()
        self.graph, self.index = graph, index

    def forward(self, x: torch.Tensor) -> Any:
        with warnings.catch_warnings():
            # onnx2torch 1.5.15's Slice indexes with a list, which torch deprecates on every call
            warnings.filterwarnings("ignore", message="Using a non-tuple sequence", category=UserWarning)
            out = self.graph(x)
        outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if isinstance(self.index, int):
            return outs[self.index]
        return tuple(outs[i] for i in self.index)


def probe_inputs(size: tuple[int, int], n: int = PROBE_IMAGES) -> torch.Tensor:
    """Real photos (scikit-image's bundled set) at the engine's input size, ``(n, 3, H, W)`` in [0, 1]."""
    from ..samples import photo_batch

    return torch.from_numpy(photo_batch(n, size))


def _engine_logits(path: Path, x: np.ndarray) -> np.ndarray:
    from ..engines.onnxruntime import OnnxRuntimeEngine

    engine = OnnxRuntimeEngine(path, provider="cpu")
    with engine:
        first = engine.outputs[0].name
        batch = engine.inputs[0].shape[0]
        if batch is None:
            return engine(x)[first]
        return np.concatenate([engine(x[i : i + batch])[first] for i in range(0, len(x), batch)])


def _input_size(path: Path) -> tuple[int, int]:
    from ..engines.onnxruntime import OnnxRuntimeEngine, read_onnx_manifest

    m = read_onnx_manifest(path)
    if m is not None:
        return tuple(m.input.size)  # type: ignore[return-value]
    shape = OnnxRuntimeEngine(path, provider="cpu").inputs[0].shape
    if len(shape) != 4 or not isinstance(shape[2], int) or not isinstance(shape[3], int):
        raise EngineError(f"{path.name}: input {shape} has no fixed H, W and no edgeguard manifest")
    return shape[2], shape[3]


def _compare(module: nn.Module, path: Path, x: torch.Tensor) -> tuple[float, float]:
    """``(max |Δ logits|, max |logit| of the engine)`` between ``module`` and onnxruntime on ``x``."""
    with torch.no_grad():
        ours = module(x).detach().cpu().numpy()
    ref = _engine_logits(path, x.numpy())
    if ours.shape != ref.shape:
        raise EngineError(
            f"{path.name}: converted logits {ours.shape} differ in shape from the engine's {ref.shape}"
        )
    if not ours.size:
        return 0.0, 0.0
    return float(np.abs(ours - ref).max()), float(np.abs(ref).max())


def max_abs_diff(module: nn.Module, path: str | Path, x: torch.Tensor | None = None) -> float:
    """Max |Δ logits| between ``module`` (torch, eval) and the engine at ``path`` (onnxruntime).

    ``x`` defaults to :data:`PROBE_IMAGES` real photos at the engine's input size.
    """
    path = Path(path)
    return _compare(module, path, probe_inputs(_input_size(path)) if x is None else x)[0]


def replace_piecewise_constant(graph: nn.Module) -> list[str]:
    """Give onnx2torch's Round/Floor/Ceil/Sign modules a straight-through backward, in place.

    Returns:
        the names of the replaced modules.
    """
    from onnx2torch.node_converters.functions import OnnxFunction
    from onnx2torch.node_converters.roundings import OnnxRound

    found = []
    for name, mod in list(graph.named_modules()):
        piecewise = isinstance(mod, OnnxRound) or (
            isinstance(mod, OnnxFunction) and mod.function is torch.sign
        )
        if not piecewise:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = graph.get_submodule(parent_name) if parent_name else graph
        setattr(parent, child, StraightThrough(mod))
        found.append(name)
    return found


def has_gradient(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether d(sum of logits · random weights)/dx is non-zero somewhere (gradient reaches the input)."""
    xg = x.detach().clone().requires_grad_(True)
    out = module(xg)
    if not out.requires_grad:
        return False
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    (g,) = torch.autograd.grad((out * w).sum(), xg, allow_unused=True)
    return g is not None and bool(g.abs().sum() > 0)


def convert(path: str | Path, *, straight_through: bool = True) -> Conversion:
    """Convert an ONNX engine to torch with onnx2torch and check it against onnxruntime.

    Args:
        path: the ``.onnx`` file.
        straight_through: replace Round/Floor/Ceil/Sign with straight-through versions.

    Returns:
        :class:`Conversion` (module in eval mode, parameters frozen).

    Raises:
        EngineError: the file cannot be read, onnx2torch cannot convert one of its ops, or the converted
            module differs from onnxruntime by more than the tolerance.
    """
    import onnx
    import onnx2torch

    path = Path(path)
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise EngineError(f"{path.name} is not a readable ONNX model ({first_line(exc, 120)})") from None
    try:
        graph = onnx2torch.convert(model)
    except Exception as exc:  # onnx2torch raises NotImplementedError/KeyError/… per unsupported op
        raise EngineError(f"onnx2torch cannot convert {path.name}: {first_line(exc, 160)}") from None
    replaced = replace_piecewise_constant(graph) if straight_through else []
    module = GraphOutputs(graph, 0).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    x = probe_inputs(_input_size(path))
    try:
        delta, scale = _compare(module, path, x)
    except EngineError:
        raise
    except Exception as exc:  # the converted module fails to run
        raise EngineError(
            f"the onnx2torch conversion of {path.name} does not run: {first_line(exc, 160)}"
        ) from None
    if delta > TOLERANCE * max(1.0, scale):
        raise EngineError(
            f"the onnx2torch conversion of {path.name} differs from onnxruntime by {delta:.2e} "
            f"(> {TOLERANCE} relative to the logits); its gradients cannot be trusted"
        )
    return Conversion(module, graph, delta, replaced, has_gradient(module, x[:1]))


def torch_source(m: Any) -> tuple[nn.Module, str] | None:
    """The torch model an edgeguard engine was exported from, when edgeguard has it.

    The manifest's source model must be a registry model and one of its weights files (the path in
    the manifest, or the model's shipped weights) must hash to the manifest's sha256.

    Returns:
        ``(model in eval mode, weights path)`` or ``None``.
    """
    from .. import models
    from ..provenance import file_sha256

    src = m.provenance.source
    if not src.model or src.model not in models.REGISTRY or not src.sha256:
        return None
    entry = models.REGISTRY.get(src.model)
    for weights in (src.weights, entry.extra.get("default_weights")):
        if weights and Path(weights).is_file() and file_sha256(weights) == src.sha256:
            net, _ = models.build(src.model, weights)
            return net, str(weights)
    return None


__all__ = [
    "TOLERANCE",
    "Conversion",
    "GraphOutputs",
    "convert",
    "has_gradient",
    "max_abs_diff",
    "replace_piecewise_constant",
    "torch_source",
]
