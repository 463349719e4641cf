"""The perturbation an attack actually produced, measured per example.

Every evaluation record reports the stated budget (ε, norm) *and* these measured sizes. Seed 000
plots accuracy against the normalised L2 dissimilarity ``‖x_adv − x‖₂ / ‖x‖₂`` (Carlini & Wagner's
and the seed's measure of strength), so attacks without a norm budget (DeepFool, CW, noise search,
spatial grid) are still comparable on one axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..checks import check_batch
from ..errors import InputError


@dataclass(frozen=True)
class Perturbation:
    """Per-example sizes of ``x_adv − x``, each a ``(B,)`` float64 tensor.

    Attributes:
        l2: Euclidean norm over all pixels (on the [0, 1] scale).
        linf: largest absolute change of any pixel.
        l0: number of changed values (|δ| > 1e-6; channels counted separately).
        norm_l2: ``l2 / ‖x‖₂`` (seed 000's normalised L2; 0 for an all-black image).
    """

    l2: torch.Tensor
    linf: torch.Tensor
    l0: torch.Tensor
    norm_l2: torch.Tensor

    def means(self) -> dict[str, float]:
        """Mean of each size over the batch (``nan`` for an empty batch)."""
        return {k: float(getattr(self, k).mean()) if len(self.l2) else float("nan") for k in _FIELDS}


_FIELDS = ("l2", "linf", "l0", "norm_l2")


def perturbation(x: torch.Tensor, x_adv: torch.Tensor) -> Perturbation:
    """Measure ``x_adv − x`` per example.

    Args:
        x: clean ``(B, C, H, W)`` batch in [0, 1].
        x_adv: adversarial batch of the same shape.

    Returns:
        :class:`Perturbation` with ``(B,)`` float64 tensors.

    Raises:
        InputError: either batch is not ``(B, C, H, W)`` or their shapes differ.

    Shape:
        (B, C, H, W), (B, C, H, W) → 4 × (B,)
    """
    check_batch(x, "B C H W", name="clean batch", channels=None, tensor=True)
    check_batch(x_adv, "B C H W", name="adversarial batch", channels=None, tensor=True)
    if x.shape != x_adv.shape:
        raise InputError(f"adversarial batch {tuple(x_adv.shape)} differs from clean batch {tuple(x.shape)}")
    d = (x_adv.detach().double() - x.detach().double()).flatten(1)
    base = x.detach().double().flatten(1).norm(dim=1)
    l2 = d.norm(dim=1)
    return Perturbation(
        l2=l2,
        linf=d.abs().amax(dim=1) if d.shape[1] else torch.zeros(len(d), dtype=torch.float64),
        l0=(d.abs() > 1e-6).sum(dim=1).double(),
        norm_l2=torch.where(base > 0, l2 / base.clamp_min(1e-12), torch.zeros_like(l2)),
    )
