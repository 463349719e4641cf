"""Total-variation minimisation with a random pixel keep-mask (Guo et al. ICLR'18; seed 000).

Each call draws a Bernoulli keep-mask per image, channel and pixel (probability ``keep``; seed 000
tries 0.1, 0.25 and 1.0) and solves, per channel,
``min_z ½‖mask ⊙ (z − x)‖² + λ·TV(z)`` (isotropic TV, objective scaling in ``_tv.py``: Guo's λ_G
without the ½ is ``2·lam``). The dropped pixels never influence the result. The mask is drawn from
the stage's CPU generator, so a seed gives the same mask on CPU and CUDA.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..registry import STAGES
from .base import MAX_ITERS, MIN_TV_WEIGHT, HostStage, check_number

if TYPE_CHECKING:  # torch is imported when the stage runs: the runtime install has none
    import torch


def total_variation_minimize(
    x: torch.Tensor,
    keep: float = 0.1,
    lam: float = 0.03,
    iters: int = 100,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Functional TVM on a float tensor (no input guards; the stage object checks).

    Args:
        x: ``(B, C, H, W)`` float tensor in [0, 1], any device.
        keep: probability that a pixel (per channel) is kept, in (0, 1].
        lam: TV weight λ (skimage ``weight`` scale).
        iters: Chambolle–Pock iterations (Guo: 100).
        generator: CPU generator for the mask (``None`` = torch's global one).

    Returns:
        ``(z, mask)``: the solution clamped to [0, 1] and the 0/1 mask that was used.

    Shape:
        (B, C, H, W) → (B, C, H, W), (B, C, H, W)
    """
    import torch

    from ._tv import tv_minimize

    if keep >= 1.0:
        mask = torch.ones_like(x)
        z = tv_minimize(x, lam, iters)
    else:
        draw = torch.rand(x.shape, generator=generator, dtype=torch.float32)
        mask = (draw < keep).to(x.device, x.dtype)
        z = tv_minimize(x, lam, iters, mask)
    return z.clamp(0.0, 1.0), mask


@STAGES.register(
    "tvm",
    function=total_variation_minimize,
    summary="random pixel drop + TV minimisation",
    source="seed 000; Guo et al. ICLR'18",
    usage="tvm:keep=0.5,lam=0.03",
    help={
        "keep": "probability a pixel is kept, (0, 1]",
        "lam": "TV weight (skimage scale; Guo's λ is 2·lam)",
        "iters": "iterations",
    },
    examples=({"iters": 20, "seed": 0}, {"keep": 0.5, "lam": 0.05, "iters": 10, "seed": 3}),
    invalid=(
        {"keep": 0.0},
        {"keep": 1.5},
        {"keep": -0.1},
        {"lam": 0.0},
        {"lam": 1e-300},
        {"iters": 0},
        {"iters": 2.5},
        {"iters": 10**8},
    ),
)
class TVM(HostStage):
    """Randomised TV minimisation stage (``tvm:keep=0.1,lam=0.03,iters=100``).

    Args:
        keep: keep probability in (0, 1]; 1.0 = plain TV denoising (no randomness).
        lam: TV weight λ > 0 (Guo: 0.03 in their scaling, see module docstring).
        iters: solver iterations > 0.
        device: ``"cpu"`` or ``"cuda"``.
        seed: ``None`` = fresh OS entropy (unpredictable masks); an int = reproducible sequence.

    Raises:
        ConfigError: a parameter outside its range.

    ``last_info`` adds ``keep_fraction`` (share of pixels actually kept), ``iterations``.
    """

    name = "tvm"
    realtime = True
    random = True

    def __init__(
        self,
        keep: float = 0.1,
        lam: float = 0.03,
        iters: int = 100,
        *,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        super().__init__(device=device, seed=seed)
        self.keep = float(check_number(self.name, "keep", keep, lo=0.0, hi=1.0, lo_open=True))
        self.lam = float(check_number(self.name, "lam", lam, lo=MIN_TV_WEIGHT, hi=100.0))
        self.iters = int(check_number(self.name, "iters", iters, integer=True, lo=1, hi=MAX_ITERS))
        self.params = {"keep": self.keep, "lam": self.lam, "iters": self.iters}

    def _run_torch(self, x: torch.Tensor, info: dict[str, Any]) -> torch.Tensor:
        z, mask = total_variation_minimize(x, self.keep, self.lam, self.iters, self._rng)
        info["keep_fraction"] = float(mask.mean())
        info["iterations"] = self.iters
        return z
