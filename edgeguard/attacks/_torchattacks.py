"""The wrapping every attack taken from torchattacks (3.5.1) shares.

torchattacks attacks are objects bound to one model, draw from torch's *global* RNG (some reseed it:
APGD, FAB and Square call ``torch.manual_seed``), switch the whole model to eval mode and back, let
``backward()`` accumulate into the model's parameter gradients (DeepFool, JSMA build Jacobians that
way) and print to stdout. :func:`run` makes one call of such an attack behave like an edgeguard
attack (``attacks/base.py``): every module keeps its own train/eval flag afterwards, parameters get no
gradient, the global RNG is left as it was and the draws come from the caller's ``generator``
(seeded into a forked RNG), output is detached, same dtype and device, in [0, 1] and — a guard
against float drift or a library bug — projected onto the stated budget.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_batch
from ..errors import InputError
from ..spec import format_spec


def seed_of(generator: torch.Generator | None) -> int:
    """A seed drawn from ``generator`` (``None``: from torch's global generator)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def spec_of(attack: Any) -> str:
    """``name:field=value,...`` over the dataclass fields of ``attack`` (``None`` fields left out);
    floats are written in full, so ``from_spec(a.spec()) == a``."""
    params = {f.name: getattr(attack, f.name) for f in fields(attack) if getattr(attack, f.name) is not None}
    return format_spec(attack.name, params)


@contextlib.contextmanager
def attacking(model: nn.Module) -> Iterator[None]:
    """Eval mode (fixed BatchNorm statistics, no dropout) and frozen parameters while attacking;
    each module's own mode and each parameter's ``requires_grad`` are restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in grads:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in grads:
            p.requires_grad_(flag)


def check_inputs(x: torch.Tensor, y: torch.Tensor) -> None:
    """``x`` a float ``(B, C, H, W)`` batch, ``y`` ``(B,)`` integer labels."""
    check_batch(x, "B C H W", name="attack input", channels=None, tensor=True)
    if not torch.is_floating_point(x):
        raise InputError(f"attack input: need a float batch in [0, 1], got {x.dtype}")
    if y.shape != (x.shape[0],) or torch.is_floating_point(y):
        raise InputError(f"attack labels: need ({x.shape[0]},) integers, got {tuple(y.shape)} {y.dtype}")


def project(x: torch.Tensor, adv: torch.Tensor, norm: str, eps: float | None) -> torch.Tensor:
    """``adv`` moved into the ``norm`` ball of radius ``eps`` around ``x`` and into [0, 1]
    (the L2 ball by rescaling δ; clamping into the box afterwards only shrinks δ)."""
    d = adv - x
    if eps is not None and norm == "linf":
        d = d.clamp(-eps, eps)
    elif eps is not None and norm == "l2":
        n = d.flatten(1).norm(dim=1)
        d = d * (eps / n.clamp_min(1e-12)).clamp(max=1.0).view(-1, *([1] * (d.dim() - 1)))
    return (x + d).clamp(0, 1)


def within(x: torch.Tensor, adv: torch.Tensor, norm: str, eps: float | None) -> torch.Tensor:
    """For minimal-perturbation attacks given a budget: examples whose perturbation exceeds ``eps``
    in ``norm`` fall back to the clean input (the attack failed within the budget)."""
    if eps is None:
        return adv
    d = (adv - x).flatten(1)
    size = {"l2": lambda: d.norm(dim=1), "linf": lambda: d.abs().amax(dim=1)}.get(
        norm, lambda: (d.abs() > 1e-6).sum(dim=1).to(d.dtype)
    )()
    keep = (size <= eps).view(-1, *([1] * (x.dim() - 1)))
    return torch.where(keep, adv, x)


def run(
    build: Callable[[nn.Module], Any],
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator | None,
    *,
    norm: str,
    eps: float | None,
) -> torch.Tensor:
    """``build(model)(x, y)`` for a torchattacks attack built by ``build``, wrapped as described in
    the module docstring.

    Shape:
        (B, C, H, W), (B,) → (B, C, H, W)
    """
    check_inputs(x, y)
    # contiguous: images decoded as NHWC and permuted have channels-last strides, which torchattacks'
    # FAB cannot .view (its gradients keep the input's strides)
    x, y = x.detach().contiguous(), y.detach().long()
    seed = seed_of(generator)
    devices = [x.device] if x.device.type == "cuda" else []
    with attacking(model), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        with contextlib.redirect_stdout(io.StringIO()):  # torchattacks prints (device, targeted mode)
            atk = build(model)
        atk.set_device(x.device)
        adv = atk(x, y)
    adv = adv.detach().to(device=x.device, dtype=x.dtype)
    return project(x, adv, norm, eps)


def best_of(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, runs: Iterable[Callable[[], torch.Tensor]]
) -> torch.Tensor:
    """Restarts (torchattacks has none for PGD): per example, the first run that misclassifies it,
    else the run with the highest cross-entropy (Madry et al.'s restarts keep the worst case)."""
    best = fooled = loss = None
    for attempt in runs:
        adv = attempt()
        with attacking(model), torch.no_grad():
            logits = model(adv)
        f = logits.argmax(1) != y
        lo = F.cross_entropy(logits.float(), y, reduction="none")
        if best is None or fooled is None or loss is None:
            best, fooled, loss = adv, f, lo
        else:
            take = ~fooled & (f | (lo > loss))
            best = torch.where(take.view(-1, *([1] * (x.dim() - 1))), adv, best)
            fooled, loss = fooled | f, torch.where(take, lo, loss)
        if bool(fooled.all()):
            break
    assert best is not None
    return best


def n_classes(model: nn.Module, x: torch.Tensor) -> int:
    """Number of logits ``model`` returns (one eval-mode, no-grad call on the first example): the
    targeted attacks (APGD-T, FAB-T, JSMA) need it and torchattacks defaults to 10."""
    with attacking(model), torch.no_grad():
        return int(model(x[:1]).shape[1])


def clean_misclassified(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor
) -> torch.Tensor:
    """Minimal-perturbation attacks: an example the model already gets wrong needs no perturbation."""
    with attacking(model), torch.no_grad():
        wrong = model(x).argmax(1) != y
    return torch.where(wrong.view(-1, *([1] * (x.dim() - 1))), x, adv)
