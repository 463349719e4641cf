"""Loading weights safely: safetensors, or ``torch.load(weights_only=True)``; never pickle code."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..checks import check_path
from ..errors import ModelError, first_line


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch checkpoint (``weights_only=True``).

    Checkpoints that wrap the weights (``{"state_dict": ...}`` / ``{"model": ...}``) are unwrapped;
    a ``module.`` prefix from DataParallel is stripped.

    Raises:
        ModelError: missing, unreadable, corrupt, or not a mapping of tensors.
    """
    p = check_path(path, what="weights file", error=ModelError)
    if not p.is_file():
        raise ModelError(f"weights file {str(p)!r} does not exist")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p))
        else:
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = first_line(exc, 160)
        raise ModelError(
            f"cannot read weights {p.name}: {first} (expected .safetensors or a torch state dict "
            f"saved with torch.save(model.state_dict()))"
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelError(f"weights {p.name}: expected a mapping of parameter names to tensors")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def load_into(model: nn.Module, path: str | Path, *, arch: str = "model") -> nn.Module:
    """Load weights from ``path`` into ``model`` strictly, naming missing/unexpected/mismatched keys."""
    sd = read_state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shape = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shape:
            k = shape[0]
            parts.append(
                f"{len(shape)} with wrong shape (e.g. {k}: file {tuple(sd[k].shape)} vs "
                f"model {tuple(own[k].shape)})"
            )
        raise ModelError(
            f"weights {Path(path).name} do not fit {arch}: {'; '.join(parts)} — "
            f"were they saved from a different architecture?"
        )
    model.load_state_dict(sd, strict=True)
    return model
