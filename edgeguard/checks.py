"""Cheap input guards shared by defenses, stages, engines and the pipeline.

Each raises :class:`~edgeguard.errors.InputError` with a message naming what was checked and where.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, EdgeGuardError, InputError


def _is_tensor(x: Any) -> bool:
    # torch is imported lazily by whoever made the tensor: the inference path (engines, pipeline,
    # camera) must not pay torch's start-up time and ~700 MB of memory just to run these guards.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


# POSIX limits every Linux file system edgeguard runs on uses (ext4, xfs, btrfs, tmpfs): NAME_MAX and
# PATH_MAX. A longer name makes os.stat raise ENAMETOOLONG, which pathlib's is_file() does not catch.
NAME_MAX = 255
PATH_MAX = 4096


def check_path(path: Any, *, what: str, error: type[EdgeGuardError] = ConfigError) -> Path:
    """Check a user-given path is a plausible file name (type, NUL bytes, name and path length).

    No file system access: call it before ``is_file()``/``exists()``, which raise ``OSError`` for a
    300-character name instead of answering.

    Raises:
        ``error`` (ConfigError by default): naming ``what`` and the problem.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise error(f"{what}: expected a file path, got {_type_name(path)}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise error(f"{what}: expected a file path, got {text!r}")
    shown = text if len(text) <= 80 else text[:40] + "…" + text[-30:]
    if "\x00" in text:
        raise error(f"{what} {shown!r}: the path contains a NUL byte")
    longest = max((len(os.fsencode(part)) for part in text.split(os.sep)), default=0)
    if longest > NAME_MAX:
        raise error(
            f"{what} {shown!r}: a name of {longest} bytes is longer than file systems allow ({NAME_MAX})"
        )
    if len(os.fsencode(text)) >= PATH_MAX:
        raise error(f"{what} {shown!r}: the path is longer than file systems allow ({PATH_MAX} bytes)")
    return Path(text)


def _type_name(x: Any) -> str:
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__.split('.')[0]}.{t.__name__}"


def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


def check_batch(
    x: Any, layout: str = "B C H W", *, name: str = "input", channels: int | None = 3, tensor: bool = False
) -> None:
    """Check that ``x`` is a tensor/array with ``len(layout.split())`` dimensions.

    Args:
        x: torch tensor or numpy array.
        layout: space separated axis names, e.g. ``"B C H W"``.
        name: what the value is called in the error message.
        channels: required size of the ``C`` axis (``None`` = any).
        tensor: require a floating-point torch tensor (torch-only ops: the in-engine defenses).

    Raises:
        InputError: wrong type, rank, channel count, an empty ``H``/``W`` axis, or (``tensor``) not a
            float torch tensor.
    """
    if tensor and not _is_tensor(x):
        hint = "; wrap it with torch.from_numpy(x)" if isinstance(x, np.ndarray) else ""
        raise InputError(f"{name}: expected a float torch.Tensor, got {_type_name(x)}{hint}")
    if not (_is_tensor(x) or isinstance(x, np.ndarray)):
        raise InputError(f"{name}: expected a torch.Tensor or numpy array, got {_type_name(x)}")
    axes = layout.split()
    shape = _shape_of(x)
    if len(shape) != len(axes):
        raise InputError(
            f"{name}: expected {len(axes)} dims ({layout}), got shape {shape}; "
            f"add a batch axis with x[None] for a single image"
        )
    if channels is not None and "C" in axes and shape[axes.index("C")] != channels:
        raise InputError(f"{name}: expected {channels} channels on axis C of ({layout}), got shape {shape}")
    empty = [a for a, s in zip(axes, shape) if a in ("H", "W") and s == 0]
    if empty:
        raise InputError(f"{name}: axis {empty[0]} of ({layout}) is empty, got shape {shape}")
    if tensor and not x.is_floating_point():
        raise InputError(f"{name}: expected a float tensor in [0, 1], got dtype {x.dtype}")


def check_finite(x: Any, *, name: str = "input") -> None:
    """Raise :class:`InputError` if ``x`` holds NaN or Inf."""
    ok = bool(x.isfinite().all()) if _is_tensor(x) else bool(np.isfinite(x).all())
    if not ok:
        raise InputError(f"{name}: contains NaN or Inf values; clean the batch before inference")


def check_range(x: Any, lo: float = 0.0, hi: float = 1.0, *, name: str = "input", tol: float = 1e-6) -> None:
    """Raise :class:`InputError` if any value of ``x`` lies outside ``[lo, hi]`` (± ``tol``)."""
    if (x.numel() if _is_tensor(x) else x.size) == 0:
        return
    mn, mx = float(x.min()), float(x.max())
    if mn < lo - tol or mx > hi + tol:
        raise InputError(
            f"{name}: values must lie in [{lo}, {hi}], got min {mn:.4g} max {mx:.4g}; "
            f"scale uint8 images by 1/255"
        )


def check_image_batch(x: Any, *, name: str = "input") -> None:
    """The standard guard for a ``(B, 3, H, W)`` float batch in [0, 1]: rank, channels, finite, range."""
    check_batch(x, "B C H W", name=name)
    if _is_tensor(x) and not x.is_floating_point():
        raise InputError(f"{name}: expected a float tensor in [0, 1], got dtype {x.dtype}")
    if isinstance(x, np.ndarray) and not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{name}: expected a float array in [0, 1], got dtype {x.dtype}")
    check_finite(x, name=name)
    check_range(x, 0.0, 1.0, name=name)
