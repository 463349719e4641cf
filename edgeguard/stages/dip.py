"""Deep Image Prior purification (Ulyanov et al. CVPR'18; seed 001 "Deep Protection").

A small skip/hourglass encoder–decoder with random weights maps a fixed random input to an image and
is fitted to the (possibly adversarial) input with MSE and Adam (lr 0.01); stopping early returns
the image before the network re-learns the fine perturbation. Choices and their sources:

* swish (SiLU) activations, Adam, MSE, random weights and input — seed 001 §3.1;
* fixed input U(0, 0.1) with fresh N(0, (1/30)²) noise added every iteration — official DIP
  denoising (``reg_noise_std = 1/30``);
* skip architecture (strided conv down, 1×1 skip branch, bilinear up, BN, reflection padding) as the
  official ``skip`` net, but 3 scales × 16 channels instead of 5 × 128 so a 64×64 image takes
  seconds on a CPU;
* stopping: ``stop="iters"`` runs ``iters`` iterations (seed 001 fixed 1750); ``stop="plateau"``
  is seed 001's future-work suggestion ("monitoring the loss curve for each sample and terminate
  when there is a plateau"): every ``window`` iterations the mean loss of the last window is
  compared with the previous window's, and an image stops once its relative improvement falls below
  ``tol`` (not before ``2·window`` iterations); ``budget_s`` caps the wall time of a call.

Whatever stops the run, each image returns its *best* output so far, the one with the lowest loss
(Adam's loss curve has spikes; the best iterate is robust to stopping just after one).

A batch runs as B independent networks in one forward: every conv is grouped (``groups=B``) and
BatchNorm on the ``(1, B·C, H, W)`` layout normalises each image's channels on their own. The loss
is the *sum* of per-image MSEs, so each network gets exactly its own gradient (Adam is
element-wise), i.e. the images do not interact.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..registry import STAGES
from .base import MAX_ITERS, HostStage, check_number

if TYPE_CHECKING:  # torch is imported when the stage runs (``_dip_net``): the runtime install has none
    import torch

STOPS = ("iters", "plateau")


def _padded_size(n: int, scales: int) -> int:
    """Smallest multiple of 2^scales ≥ max(n, 2^(scales+1)) (the deepest BN needs > 1 pixel)."""
    m = 2**scales
    return max(-(-n // m) * m, 2 * m)


@STAGES.register(
    "dip",
    summary="Deep Image Prior purification",
    source="seed 001; Ulyanov et al. CVPR'18",
    usage="dip:iters=1750",
    help={
        "iters": "iterations",
        "stop": "iters | plateau",
        "budget_s": "wall-time cap per call, seconds",
        "lr": "Adam learning rate",
        "window": "plateau window",
        "tol": "plateau: relative loss improvement per window",
        "channels": "network channels",
        "scales": "network scales",
    },
    examples=({"iters": 12, "seed": 0}, {"iters": 8, "stop": "plateau", "window": 10, "seed": 1}),
    invalid=(
        {"iters": 0},
        {"stop": "never"},
        {"budget_s": 0.0},
        {"lr": 0.0},
        {"tol": 1.0},
        {"window": 5},
        {"iters": 10**8},
        {"channels": 10**5},
    ),
)
class DIP(HostStage):
    """Deep Image Prior purification stage (``dip:iters=1750``, ``dip:stop=plateau``, ``dip:budget_s=2``).

    Args:
        iters: maximum iterations > 0 (seed 001: 1750); the only stop for ``stop="iters"``.
        stop: ``"iters"`` or ``"plateau"`` (see module docstring).
        budget_s: wall-time cap per call in seconds (> 0), or ``None``.
        lr: Adam learning rate (official DIP 0.01).
        window: plateau window in iterations (≥ 10).
        tol: plateau threshold on the relative loss improvement between windows, in (0, 1).
        channels: encoder/decoder channels (≥ 4); scales: levels (1..6).
        device: ``"cpu"`` or ``"cuda"``.
        seed: ``None`` = fresh entropy per stage; an int makes every run reproducible (on CPU;
            cuDNN may add nondeterminism on CUDA).

    Raises:
        ConfigError: a parameter outside its range or an unknown ``stop``.

    ``last_info`` adds ``iterations`` (loop iterations run), ``iterations_per_image`` (where each
    image stopped), ``stopped_by`` (``"iters"`` / ``"plateau"`` / ``"budget"``), ``best_loss``
    (per image), ``losses`` (mean loss per iteration).
    """

    name = "dip"
    realtime = False
    random = True

    def __init__(
        self,
        iters: int = 1750,
        stop: str = "iters",
        budget_s: float | None = None,
        lr: float = 0.01,
        window: int = 50,
        tol: float = 0.05,
        channels: int = 16,
        scales: int = 3,
        *,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        super().__init__(device=device, seed=seed)
        self.iters = int(check_number(self.name, "iters", iters, integer=True, lo=1, hi=MAX_ITERS))
        if stop not in STOPS:
            raise ConfigError(f"dip: stop must be one of {', '.join(STOPS)}, got {stop!r}")
        self.stop = stop
        self.budget_s = (
            None
            if budget_s is None
            else float(check_number(self.name, "budget_s", budget_s, lo=0.0, hi=3600.0, lo_open=True))
        )
        self.lr = float(check_number(self.name, "lr", lr, lo=0.0, hi=10.0, lo_open=True))
        self.window = int(check_number(self.name, "window", window, integer=True, lo=10, hi=MAX_ITERS))
        self.tol = float(check_number(self.name, "tol", tol, lo=0.0, hi=1.0, lo_open=True, hi_open=True))
        self.channels = int(check_number(self.name, "channels", channels, integer=True, lo=4, hi=256))
        self.scales = int(check_number(self.name, "scales", scales, integer=True, lo=1, hi=6))
        self.params = {
            "iters": self.iters,
            "stop": self.stop,
            "budget_s": self.budget_s,
            "lr": self.lr,
            "window": self.window,
            "tol": self.tol,
            "channels": self.channels,
            "scales": self.scales,
        }

    def _run_torch(self, x: torch.Tensor, info: dict[str, Any]) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        from ._dip_net import SkipNet

        t0 = time.perf_counter()
        b, c, h, w = x.shape
        ph, pw = _padded_size(h, self.scales), _padded_size(w, self.scales)
        # replicate padding works for any size (reflect needs pad < side); cropped off at the end
        target = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate").reshape(1, b * c, ph, pw)
        in_ch = 8
        net = SkipNet(b, in_ch, self.channels, max(self.channels // 4, 1), self.scales)
        net.init_weights(self._rng)
        net = net.to(self.device)
        z = (torch.rand((1, b * in_ch, ph, pw), generator=self._rng) * 0.1).to(self.device)
        noise_std = 1.0 / 30.0
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, fused=True)  # one kernel per step
        best = target.clone().view(b, c, ph, pw)
        best_loss = torch.full((b,), float("inf"), device=self.device)
        active = torch.ones(b, dtype=torch.bool, device=self.device)
        stopped_at = [self.iters] * b
        losses: list[torch.Tensor] = []
        window_means: list[torch.Tensor] = []
        stopped_by = "iters"
        it = 0
        with torch.enable_grad():
            for it in range(1, self.iters + 1):
                noise = torch.randn(z.shape, generator=self._rng).to(self.device) * noise_std
                out = net(z + noise)
                per_image = ((out - target) ** 2).view(b, -1).mean(1)
                opt.zero_grad(set_to_none=True)
                per_image.sum().backward()  # sum: every network gets exactly its own gradient
                opt.step()
                with torch.no_grad():
                    loss = per_image.detach()
                    better = (loss < best_loss) & active
                    best_loss = torch.where(better, loss, best_loss)
                    best = torch.where(better.view(b, 1, 1, 1), out.detach().view(b, c, ph, pw), best)
                    losses.append(loss)
                if self.stop == "plateau" and it % self.window == 0:
                    window_means.append(torch.stack(losses[-self.window :]).mean(0))
                    if len(window_means) >= 2:
                        prev, cur = window_means[-2], window_means[-1]
                        flat = (prev - cur) < self.tol * prev
                        for i in torch.nonzero(flat & active).flatten().tolist():
                            stopped_at[i] = it
                        active = active & ~flat
                        if not bool(active.any()):
                            stopped_by = "plateau"
                            break
                if self.budget_s is not None and self.device.startswith("cuda") and it % 10 == 0:
                    torch.cuda.synchronize()  # bound the queued work, so the clock below means done work
                if self.budget_s is not None and time.perf_counter() - t0 >= self.budget_s:
                    stopped_by = "budget"
                    for i in torch.nonzero(active).flatten().tolist():
                        stopped_at[i] = it
                    break
        info.update(
            iterations=it,
            iterations_per_image=stopped_at,
            stopped_by=stopped_by,
            best_loss=best_loss.cpu().tolist(),
            losses=torch.stack(losses).mean(1).cpu().tolist(),
        )
        return best[..., :h, :w]
