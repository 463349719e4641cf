"""A torch module behind the Engine protocol: the eager reference that exported graphs are compared with.

It is what Polygraphy calls a runner for the framework side of a comparison: export parity is
``compare(TorchEngine(model), OnnxRuntimeEngine(file), photos)``. torch is imported when the engine is
created, never when this module is imported, so ``edgeguard.engines`` stays torch-free.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import EngineError, first_line
from .base import Engine, TensorSpec


class TorchEngine(Engine):
    """Run a torch module (eval mode, no grad, CPU) on named numpy inputs.

    Args:
        module: a ``torch.nn.Module`` (or any callable taking and returning tensors).
        input_shape: the input's shape, ``None`` for dynamic axes (default ``(None, 3, None, None)``).
        input_name: the input's name (``input``, as in every edgeguard export).
        output_names: names for the module's outputs, in order (``("logits",)``).
    """

    provider = "torch"

    def __init__(
        self,
        module: Any,
        *,
        input_shape: tuple[int | None, ...] = (None, 3, None, None),
        input_name: str = "input",
        output_names: tuple[str, ...] = ("logits",),
    ) -> None:
        super().__init__()
        import torch

        self._torch = torch
        self.module = module
        self.inputs = [TensorSpec(input_name, np.dtype(np.float32), tuple(input_shape))]
        self.outputs = [TensorSpec(n, np.dtype(np.float32), (None,)) for n in output_names]
        self._load()
        self._active = True

    def _load(self) -> None:
        if hasattr(self.module, "eval"):
            self.module.eval()

    def _unload(self) -> None:
        pass

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        x = torch.from_numpy(feed[self.inputs[0].name])
        try:
            with torch.no_grad():
                out = self.module(x)
        except Exception as exc:
            raise EngineError(f"the torch reference failed: {first_line(exc)}") from None
        values = out if isinstance(out, (tuple, list)) else (out,)
        if len(values) != len(self.outputs):
            raise EngineError(
                f"the torch reference returned {len(values)} outputs, expected "
                f"{len(self.outputs)} ({', '.join(s.name for s in self.outputs)})"
            )
        return {s.name: v.detach().cpu().numpy() for s, v in zip(self.outputs, values)}
