"""Logit ensemble (seed 002): N defended member models → concatenated logits → small MLP.

Seed 002 trains an MLP with 2 hidden layers of 256 units on the concatenated logits of its member
models, with the original training labels. :class:`LogitEnsemble` is one ``nn.Module`` whose members
share one input, so it exports as a single ONNX graph (one engine on the device). Members keep their
own weights; :func:`fit_head` trains only the MLP on the members' (frozen) logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_batch
from ..errors import ConfigError


class LogitEnsemble(nn.Module):
    """``head(concat(member_1(x), …, member_N(x)))``.

    Args:
        members: the member classifiers; all take the same (normalised) input.
        num_classes: output classes of the head.
        hidden: hidden layer widths of the MLP head (seed 002: two of 256).
        member_classes: logits per member; inferred with a dummy forward when ``None``.
        input_size: (H, W) of the dummy forward used to infer ``member_classes``.

    Shape:
        ``(B, 3, H, W) -> (B, num_classes)``
    """

    def __init__(
        self,
        members: Sequence[nn.Module],
        num_classes: int,
        hidden: Sequence[int] = (256, 256),
        member_classes: Sequence[int] | None = None,
        input_size: tuple[int, int] = (64, 64),
    ) -> None:
        super().__init__()
        if len(members) < 1:
            raise ConfigError("LogitEnsemble needs at least one member model")
        self.members = nn.ModuleList(members)
        if member_classes is None:
            with torch.no_grad():
                dummy = torch.zeros(1, 3, *input_size)
                member_classes = [int(m.eval()(dummy).shape[1]) for m in self.members]
        self.member_classes = list(member_classes)
        layers: list[nn.Module] = []
        width = sum(self.member_classes)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.head = nn.Sequential(*layers)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The concatenated member logits ``(B, Σ classes)`` (the head's input features)."""
        check_batch(x, "B C H W", name="LogitEnsemble input")
        return torch.cat([m(x) for m in self.members], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.member_logits(x))


def fit_head(
    ens: LogitEnsemble,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> list[float]:
    """Train only the MLP head on the frozen members' logits of ``x`` (seed 002's recipe).

    Args:
        x: normalised training images ``(N, 3, H, W)``. y: labels ``(N,)``.

    Returns:
        Mean training loss per epoch.
    """
    check_batch(x, "B C H W", name="fit_head images")
    ens.eval()
    with torch.no_grad():
        feats = torch.cat([ens.member_logits(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    opt = torch.optim.Adam(ens.head.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses = []
    ens.head.train()
    for _ in range(epochs):
        perm = torch.randperm(len(feats), generator=g)
        total = 0.0
        for i in range(0, len(feats), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(ens.head(feats[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / max(len(feats), 1))
    ens.eval()
    return losses


def build_ensemble(
    names: Sequence[str], num_classes: int | None = None, hidden: Sequence[int] = (256, 256)
) -> LogitEnsemble:
    """An ensemble of zoo models (their shipped/default weights) sharing one input.

    Raises:
        ConfigError: unknown names, or members that disagree on input size / normalisation (they must
            share one normalised input).
    """
    from . import build

    built = [build(n) for n in names]
    if not built:
        raise ConfigError("build_ensemble: give at least one member model name")
    first = built[0][1]
    for _, info in built[1:]:
        if (info.input_size, tuple(info.mean), tuple(info.std)) != (
            first.input_size,
            tuple(first.mean),
            tuple(first.std),
        ):
            raise ConfigError(
                f"ensemble members {first.name!r} and {info.name!r} differ in input size or "
                f"mean/std; members must share one normalised input"
            )
    n_cls = num_classes or len(first.labels or []) or None
    if n_cls is None:
        raise ConfigError("build_ensemble: num_classes is required when the first member has no labels")
    return LogitEnsemble([m for m, _ in built], n_cls, hidden, input_size=first.input_size)
