"""A fake deployed configuration for runner tests: a tiny trained linear classifier as both the
pipeline (numpy in, decisions out, like Pipeline.run_batch) and its differentiable copies."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgeguard.eval.data import EvalData
from edgeguard.eval.records import accuracy
from edgeguard.eval.robustness import Target, score


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(n) % 3
    x = (0.2 * templates[y] + 0.4 + 0.05 * torch.randn(n, 3, 8, 8, generator=g)).clamp(0, 1)
    return x, y


def trained_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
    x, y = _data(120, 1)
    for _ in range(80):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 2.0 * p.grad
    return model.eval()


@dataclass
class _Result:
    decision: dict[str, Any]
    outputs: dict[str, Any]


class FakePipeline:
    """``run_batch`` like edgeguard's Pipeline: top-1 decisions from the torch model."""

    manifest = SimpleNamespace(outputs=("logits",), detector=None)  # what the Oracle reads

    def __init__(self, model: nn.Module) -> None:
        self.model, self.calls = model, 0

    def run_batch(self, x: Any) -> list[_Result]:
        self.calls += 1
        with torch.no_grad():
            logits = self.model(torch.as_tensor(x)).numpy()
        return [
            _Result({"top": [{"index": int(row.argmax()), "label": "", "prob": 1.0}]}, {"logits": row})
            for row in logits
        ]


@dataclass
class FakeAttackable:
    bare: nn.Module
    full: nn.Module
    joint: nn.Module | None = None
    random: bool = False
    eot: int = 1
    white_box: bool = True
    notes: list[str] = field(default_factory=list)


def prepare(ws: Any, cfg: dict[str, Any]) -> tuple[Target, EvalData, dict[str, Any]]:
    """Drop-in for Workspace._prepare (module level: Ray pickles it by reference)."""
    torch.set_num_threads(ws.threads)  # as Workspace._prepare does
    model = trained_model()
    pipe = FakePipeline(model)
    x, y = _data(ws.n, 2)
    data = EvalData("fake", x, y, ("a", "b", "c"), x[:0], y[:0])
    clean = score(pipe, x, y)
    target = Target(cfg["name"], pipe, FakeAttackable(model, model), clean.correct, 0.01)
    acc, ci = accuracy(clean.correct)
    summary = {
        **cfg,
        "clean_accuracy": acc,
        "clean_ci": ci,
        "clean_correct": clean.correct,
        "latency_ms": {"total": 0.01},
        "detector": None,
        "white_box": True,
        "notes": [],
        "data": data.describe(),
    }
    return target, data, summary
