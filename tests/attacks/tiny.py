"""A tiny trained classifier on 3×8×8 inputs for attack tests (trains in well under a second)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn


@pytest.fixture(scope="module", autouse=False)
def one_thread() -> Iterator[None]:
    """Tiny models on a loaded 2-core machine: a second intra-op thread makes each small op ~100×
    slower (synchronisation), so attack tests on tiny models run single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Four classes, each a fixed random 3×8×8 template plus noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 4, (n,), generator=g)
    x = (0.5 * templates[y] + 0.25 + 0.15 * torch.randn(n, 3, 8, 8, generator=g)).clamp(0, 1)
    return x, y


def trained_model() -> nn.Module:
    """An MLP trained by plain full-batch gradient descent (no torch.optim: its import costs seconds)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 4))
    x, y = data(256, 1)
    for _ in range(60):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    model.zero_grad(set_to_none=True)
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    return float((out.argmax(1) == y).float().mean())
