"""What every attack shares: the calling convention, the threat model it states, and [0, 1] pixels.

An attack is built from the registry (``attacks.from_spec("pgd:eps=8/255,steps=20")``) and called as

    x_adv = attack(model, x, y, generator)

* ``model``: a torch module mapping ``(B, 3, H, W)`` pixels in [0, 1] to logits. For white-box attacks
  it must be differentiable (``eval.attackable`` builds one for a whole deployed pipeline, with BPDA/EOT
  where the pipeline is not); a query-only attack (``kind == "query"``) only calls it under
  ``torch.no_grad()``, so it may be a :class:`~edgeguard.eval` oracle around a deployed ``Pipeline``.
* ``x``: clean batch in [0, 1]; ``y``: ``(B,)`` int64 true labels (or target labels when targeted).
* ``generator``: seeds every random draw the attack makes (random start, noise, search), so a run is
  reproducible; ``None`` uses torch's global generator.
* returns ``x_adv``: same shape and dtype, detached, values in [0, 1], inside the stated budget.

Every attack object states its threat model (:class:`Attack`): ``norm`` (``linf``, ``l2``, ``l0``, or
``none`` for attacks without a norm budget such as the spatial grid, or minimal-perturbation attacks
such as DeepFool and CW, which report what they needed instead), ``eps`` (``None`` when unbounded),
``kind`` (``white-box`` needs gradients; ``query`` uses outputs only; ``universal`` fits one
perturbation on a fitting set and applies it to every input) and ``random``. Evaluation reports the
stated budget next to the perturbation actually produced (:mod:`edgeguard.attacks.measure`).

The shipped sign classifiers expect normalised input and do not normalise themselves, so an attack
whose budget is stated in pixels (ε = 8/255) runs against :class:`Normalized` ``(model, mean, std)``.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import torch
from torch import nn

Norm = Literal["linf", "l2", "l0", "none"]
Kind = Literal["white-box", "query", "universal"]
NORMS: tuple[str, ...] = ("linf", "l2", "l0", "none")
KINDS: tuple[str, ...] = ("white-box", "query", "universal")


@runtime_checkable
class Attack(Protocol):
    """The interface every registered attack object implements (see the module docstring)."""

    name: str
    norm: Norm
    eps: float | None
    kind: Kind
    random: bool

    def spec(self) -> str:
        """The canonical spec that rebuilds this attack (``pgd:eps=0.0313725,steps=20``)."""
        ...

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


class Normalized(nn.Module):
    """``model((x - mean) / std)``: lets attacks work on [0, 1] pixels of a model that expects
    normalised input (the shipped sign models do not normalise themselves)."""

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)
