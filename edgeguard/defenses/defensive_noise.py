"""Defensive perturbation v_def (seed 003, eq. 1): a constant tensor added to every input.

Seed 003 estimates v_def as the scaled mean of random gaussian perturbations that lower the loss on
held-out data; that estimator arrives with the evaluation tooling. Here v_def is loaded from a file
(safetensors key ``v_def``, or a ``.npy`` array) of shape ``(3, H, W)``, ``(1, 3, H, W)`` or
``(3, 1, 1)``, multiplied by ``scale`` and added; the sum is clamped back to [0, 1]. In ONNX it is an
initializer + Add + Clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checks import check_batch, check_path
from ..errors import ConfigError, InputError
from ..registry import DEFENSES, Param


def load_perturbation(path: str | Path) -> torch.Tensor:
    """Load v_def from ``.safetensors`` (key ``v_def``) or ``.npy`` as a ``(1, 3, H, W)`` tensor."""
    p = check_path(path, what="noise: perturbation file")
    if not p.is_file():
        raise ConfigError(f"noise: perturbation file {str(p)!r} does not exist")
    try:
        if p.suffix == ".npy":
            arr = torch.from_numpy(np.load(p, allow_pickle=False))
        else:
            from safetensors.torch import load_file

            tensors = load_file(str(p))
            if "v_def" not in tensors:
                raise ConfigError(
                    f"noise: {p.name} has no tensor 'v_def' (found: {', '.join(tensors) or 'none'})"
                )
            arr = tensors["v_def"]
    except ConfigError:
        raise
    except Exception as exc:  # corrupt file: any parser error becomes one clear line
        raise ConfigError(f"noise: cannot read {p.name} as .safetensors/.npy ({exc})") from None
    return _as_4d(arr.float())


def _as_4d(v: torch.Tensor) -> torch.Tensor:
    if v.dim() == 3:
        v = v.unsqueeze(0)
    if v.dim() != 4 or v.shape[0] != 1 or v.shape[1] != 3:
        raise ConfigError(f"noise: v_def must have shape (3, H, W) or (1, 3, H, W), got {tuple(v.shape)}")
    if not torch.isfinite(v).all():
        raise ConfigError("noise: v_def contains NaN or Inf")
    return v


def add_perturbation(x: torch.Tensor, v_def: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Return ``clamp(x + scale · v_def, 0, 1)``.

    Args:
        x: float batch in [0, 1].
        v_def: perturbation broadcastable to ``x`` (``(1, 3, H, W)`` or ``(1, 3, 1, 1)``).
        scale: multiplier (ε in seed 003).

    Raises:
        InputError: ``x`` is not ``(B, 3, H, W)`` or its size does not match v_def.

    Shape:
        (B, 3, H, W) → (B, 3, H, W)
    """
    check_batch(x, "B C H W", name="noise input", tensor=True)
    vh, vw = v_def.shape[-2], v_def.shape[-1]
    if (vh, vw) != (1, 1) and (vh, vw) != (x.shape[-2], x.shape[-1]):
        raise InputError(
            f"noise: v_def is {vh}x{vw} but the input is {x.shape[-2]}x{x.shape[-1]}; "
            f"export with --input-size matching the perturbation"
        )
    return torch.clamp(x + scale * v_def.to(x.dtype), 0.0, 1.0)


def _example_v_def(folder: Path) -> dict[str, str]:
    """Contract-test fixture: a small fixed (3, 1, 1) v_def file (broadcasts to any input size)."""
    path = Path(folder) / "v_def.npy"
    np.save(path, np.array([0.02, -0.015, 0.01], np.float32).reshape(3, 1, 1))
    return {"path": str(path)}


@DEFENSES.register(
    "noise",
    function=add_perturbation,
    traceable=True,
    differentiable=True,
    params=(
        Param("path", None, "v_def file (.safetensors key v_def, or .npy)"),
        Param("scale", 1.0, "multiplier eps"),
    ),
    shorthand=lambda text: {"path": text},
    summary="defensive perturbation v_def added to the input",
    source="seed 003 eq. 1",
    usage="noise:PATH",
    examples=({"scale": 1.0}, {"scale": 0.5}),
    example_setup=_example_v_def,
    function_params=lambda m: {"v_def": m.v_def, "scale": m.scale},
)
class DefensiveNoise(nn.Module):
    """Module form of :func:`add_perturbation`; v_def is a buffer (an ONNX initializer).

    Args:
        path: file with v_def (see module docstring).
        scale: multiplier.
        tensor: programmatic alternative to ``path``.
    """

    def __init__(
        self, path: str | None = None, scale: float = 1.0, tensor: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        if (path is None) == (tensor is None):
            raise ConfigError("noise: give exactly one of path=FILE (.safetensors/.npy) or tensor=")
        if path is not None and not isinstance(path, (str, Path)):
            # the spec parser reads path=123 as a number; ./123 keeps it a file name
            raise ConfigError(
                f"noise: path must be a file name, got {path!r} (write path=./{path} for a file)"
            )
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale):
            raise ConfigError(f"noise: scale must be a finite number, got {scale!r}")
        v = load_perturbation(path) if path is not None else _as_4d(torch.as_tensor(tensor).float())
        self.path, self.scale = path, float(scale)
        self.register_buffer("v_def", v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return add_perturbation(x, self.v_def, self.scale)

    def extra_repr(self) -> str:
        return f"path={self.path!r}, scale={self.scale}, shape={tuple(self.v_def.shape)}"
