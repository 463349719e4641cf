"""The deployed pipeline as a query-only torch module: query attacks and final scoring run on the engine.

:class:`Oracle` hands a ``(B, 3, H, W)`` batch in [0, 1] to :meth:`Pipeline.run_batch` (host stages →
onnxruntime/TensorRT engine) and returns its logits as a tensor. It has no gradient: a query attack
only reads outputs, and a white-box attack that reached it by mistake must fail loudly, not see a
zero gradient and report the engine as robust (Carlini et al. 2019, §5.2 on gradient masking).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, EngineError, InputError


class _NoBackward(torch.autograd.Function):
    """Identity on the engine's output whose backward refuses: the engine has no gradient."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return out.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        raise EngineError(
            "the deployed pipeline (eval Oracle) has no gradient: it runs the real engine; attack the "
            "differentiable copy (eval.attackable(...).full) or use a query attack"
        )


class Oracle(nn.Module):
    """A deployed :class:`~edgeguard.pipeline.Pipeline` as ``[0, 1] → logits`` (no gradient).

    Args:
        pipeline: the deployed pipeline (:func:`edgeguard.eval.deploy`).
        score: also return the detector output (``(logits, adv_score)``, as ``needs_score`` attacks
            expect); the engine must have one.
        batch: images per ``run_batch`` call.

    Attributes:
        queries: images sent so far (query budgets are counted per image).

    Shape:
        (B, 3, H, W) → (B, classes) [, (B,)]
    """

    def __init__(self, pipeline: Any, *, score: bool = False, batch: int = 256) -> None:
        super().__init__()
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"Oracle: batch {batch!r}: expected an integer >= 1")
        m = pipeline.manifest
        self.pipeline, self.batch, self.queries = pipeline, batch, 0
        self.output = m.outputs[0]
        self.score_output = None
        if score:
            if m.detector is None:
                raise ConfigError(
                    "Oracle(score=True): the engine has no detector output (adv_score); export it with "
                    "--detector squeeze:..."
                )
            self.score_output = m.detector.output

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        logits, scores = [], []
        for i in range(0, len(x), self.batch):
            for r in self.pipeline.run_batch(x[i : i + self.batch]):
                logits.append(r.outputs[self.output])
                if self.score_output is not None:
                    scores.append(np.asarray(r.outputs[self.score_output]).reshape(()))
        if not logits:
            raise InputError("Oracle: empty batch (expected at least one image)")
        return np.stack(logits).astype(np.float32), (np.stack(scores) if self.score_output else None)

    def forward(self, x: torch.Tensor) -> Any:
        arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        logits, scores = self._run(arr)
        self.queries += len(arr)
        out = torch.from_numpy(logits).to(x.device)
        if x.requires_grad and torch.is_grad_enabled():
            out = _NoBackward.apply(x, out)
        if self.score_output is None:
            return out
        return out, torch.from_numpy(scores.astype(np.float32)).to(x.device)


__all__ = ["Oracle"]
