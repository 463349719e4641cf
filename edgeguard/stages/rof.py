"""ROF / total-variation denoising (Rudin, Osher & Fatemi 1992; seed 003).

``min_z ½‖z − x‖² + weight·TV(z)`` per channel — the same problem (and the same ``weight``) as
``skimage.restoration.denoise_tv_chambolle(x, weight, channel_axis=...)``, solved by the batched
torch Chambolle–Pock solver shared with ``tvm`` (``_tv.py``) with every pixel kept. Seed 003 uses
weights 5, 10 and 20 "in its scale"; TV denoising is scale-covariant (x·s, weight·s give z·s), so
on a 0..255 image those are ``weight`` 5/255 ≈ 0.02, 0.04 and 0.08 on our [0, 1] images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..registry import STAGES
from .base import MAX_ITERS, MIN_TV_WEIGHT, HostStage, check_number, number_shorthand

if TYPE_CHECKING:  # torch is imported when the stage runs: the runtime install has none
    import torch


def rof_denoise(x: torch.Tensor, weight: float = 0.1, iters: int = 200) -> torch.Tensor:
    """Functional ROF on a ``(B, C, H, W)`` float tensor (any device), clamped to [0, 1].

    Args:
        x: float tensor in [0, 1].
        weight: TV weight (skimage scale) > 0.
        iters: accelerated Chambolle–Pock iterations.

    Returns:
        Denoised tensor, same shape/device.

    Shape:
        (B, C, H, W) → (B, C, H, W)
    """
    from ._tv import tv_minimize

    return tv_minimize(x, weight, iters).clamp(0.0, 1.0)


@STAGES.register(
    "rof",
    function=rof_denoise,
    shorthand=number_shorthand("rof", "weight", "a TV weight", "rof:0.1 or rof:weight=0.1", integer=False),
    summary="ROF total-variation denoising",
    source="seed 003; Rudin-Osher-Fatemi 1992",
    usage="rof:0.1",
    help={"weight": "TV weight, skimage denoise_tv_chambolle scale", "iters": "iterations"},
    examples=({"iters": 30}, {"weight": 0.2, "iters": 10}),
    invalid=({"weight": 0.0}, {"weight": -1.0}, {"weight": 2e-311}, {"iters": 0}, {"iters": 10**8}),
)
class ROF(HostStage):
    """ROF denoising stage (``rof:weight=0.1`` or ``rof:0.1``).

    Args:
        weight: TV weight > 0, skimage ``denoise_tv_chambolle`` convention.
        iters: solver iterations > 0 (200 reach skimage's own stopping accuracy, see tests).
        device: ``"cpu"`` or ``"cuda"``.

    Raises:
        ConfigError: a parameter outside its range.

    ``last_info`` adds ``iterations``.
    """

    name = "rof"
    realtime = True
    random = False

    def __init__(self, weight: float = 0.1, iters: int = 200, *, device: str = "cpu") -> None:
        super().__init__(device=device)
        self.weight = float(check_number(self.name, "weight", weight, lo=MIN_TV_WEIGHT, hi=100.0))
        self.iters = int(check_number(self.name, "iters", iters, integer=True, lo=1, hi=MAX_ITERS))
        self.params = {"weight": self.weight, "iters": self.iters}

    def _run_torch(self, x: torch.Tensor, info: dict[str, Any]) -> torch.Tensor:
        info["iterations"] = self.iters
        return rof_denoise(x, self.weight, self.iters)
