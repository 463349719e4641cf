"""A small classifier trained in well under a second, for the attack tests that need a real model
(UAP's held-out fooling rate, the query attacks' accuracy drop)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def data(n: int, seed: int, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """``classes`` fixed random 3×8×8 templates plus Gaussian noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(classes, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, classes, (n,), generator=g)
    x = (0.5 * templates[y] + 0.25 + 0.1 * torch.randn(n, 3, 8, 8, generator=g)).clamp(0, 1)
    return x, y


def trained_model(classes: int = 3) -> nn.Module:
    """An MLP fitted by full-batch gradient descent (no torch.optim: its import costs seconds)."""
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, classes))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    x, y = data(256, 1, classes)
    for _ in range(200):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.2 * p.grad
    model.zero_grad(set_to_none=True)
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


class QueryOnly(nn.Module):
    """The model behind a wall: any call with gradients enabled, or any backward, fails the test."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert not torch.is_grad_enabled(), "a query attack called the model with gradients enabled"
        assert not x.requires_grad, "a query attack asked for input gradients"
        self.calls += 1
        return _NoBackward.apply(self.model(x))


class _NoBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return t.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        raise AssertionError("a query attack back-propagated through the model")
