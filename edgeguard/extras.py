"""Optional extras: which ``pip install 'edgeguard[EXTRA]'`` brings which module, and the one-line error.

``pip install edgeguard`` is the runtime (numpy, onnxruntime, OpenCV, onnx, typer, rich): enough for
``infer``, ``camera`` and ``demo`` on exported engines with the host stages that need no torch
(``nlm``, ``jpeg``, ``kmeans``). Everything that builds or trains needs torch and friends, which
come with an extra (Jetson ships its own torch build, so the runtime must not depend on it). This
module is the one place that maps a missing module to the extra that brings it; the CLI
(:func:`from_import_error`) and the torch host stages (:func:`require`) both use it. It imports
nothing heavy itself.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

from .errors import ConfigError

# What each extra adds to the runtime (import names, as in pyproject.toml's optional-dependencies).
EXTRAS: dict[str, tuple[str, ...]] = {
    "export": ("torch", "torchvision", "onnxslim", "onnxconverter_common", "safetensors", "skimage"),
    "train": ("torch", "torchvision", "safetensors", "skimage"),
    "eval": (
        "torch",
        "torchvision",
        "safetensors",
        "skimage",
        "matplotlib",
        "torchattacks",
        "art",
        "foolbox",
        "onnx2torch",
        "kornia",
        "scipy",
    ),
    "ray": ("ray",),
    "triton": ("tritonclient",),
}

# The extra named when a module is missing and no command says which one it needs: the first extra
# (in the order above) that brings it, so torch alone → "export".
MODULE_EXTRA: dict[str, str] = {}
for _extra, _mods in EXTRAS.items():
    for _mod in _mods:
        MODULE_EXTRA.setdefault(_mod, _extra)

# Commands (argv words) that need a specific extra; the longest matching prefix wins.
COMMAND_EXTRA: dict[tuple[str, ...], str] = {
    ("export",): "export",
    ("data", "calib"): "export",  # calibration sets feed INT8 export
    ("data",): "train",  # the renderer makes training sets
    ("train",): "train",
    ("train", "eval"): "eval",
    ("models",): "export",
    ("defenses",): "export",
    ("eval",): "eval",
    ("attacks",): "eval",
}


class MissingExtraError(ConfigError):
    """A command or stage needs a module that only an optional extra installs."""

    def __init__(self, what: str, extra: str, module: str) -> None:
        self.what, self.extra, self.module = what, extra, module
        super().__init__(
            f"{what} needs the '{extra}' extra (no module named {module!r}): pip install 'edgeguard[{extra}]'"
        )


def available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (an import hook that refuses it counts
    as missing)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported (empty: the extra is installed)."""
    if extra not in EXTRAS:
        raise ConfigError(f"unknown extra {extra!r} (known: {', '.join(EXTRAS)})")
    return [m for m in EXTRAS[extra] if not available(m)]


def require(*modules: str, what: str, extra: str | None = None) -> None:
    """Raise :class:`MissingExtraError` naming the extra when one of ``modules`` is missing.

    Args:
        modules: import names (``"torch"``).
        what: who needs them, for the message (``"stage 'tvm'"``).
        extra: the extra to name; default: the extra that brings the first missing module.
    """
    for mod in modules:
        if not available(mod):
            raise MissingExtraError(what, extra or MODULE_EXTRA.get(mod, "export"), mod)


def _command(argv: Sequence[str]) -> tuple[str, ...]:
    """The command words of ``argv``: ``("train", "eval")``, ``("export",)`` (not its arguments)."""
    words = tuple(a for a in argv if not a.startswith("-"))[:2]
    if len(words) == 2 and words in COMMAND_EXTRA:
        return words
    return words[:1]


def command_extra(argv: Sequence[str]) -> str | None:
    """The extra the command in ``argv`` needs (``["train", "eval", …]`` → ``"eval"``), if any."""
    return COMMAND_EXTRA.get(_command(argv))


def from_import_error(exc: ImportError, argv: Sequence[str]) -> MissingExtraError | None:
    """The one-line error for an ``ImportError`` of an extra-only module under command ``argv``.

    ``None`` when the missing module is not one an extra brings (a genuine bug: let it surface).
    """
    name = (exc.name or "").split(".")[0]
    if name not in MODULE_EXTRA:
        return None
    what = " ".join(("edgeguard", *_command(argv)))
    extra = command_extra(argv)
    if extra is None or name not in EXTRAS[extra]:
        extra = MODULE_EXTRA[name]
    return MissingExtraError(what, extra, name)


__all__ = [
    "COMMAND_EXTRA",
    "EXTRAS",
    "MODULE_EXTRA",
    "MissingExtraError",
    "available",
    "command_extra",
    "from_import_error",
    "missing",
    "require",
]
