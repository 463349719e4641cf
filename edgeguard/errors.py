"""Typed errors. Every user-facing failure is one of these; the CLI prints one line and exits 2."""

from __future__ import annotations

import re
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class EdgeGuardError(Exception):
    """Base class. ``str(err)`` is the single line shown to the user (what went wrong + how to fix)."""

    exit_code = 2


class ConfigError(EdgeGuardError):
    """A parameter, spec string, option combination or manifest field is invalid."""


class InputError(EdgeGuardError):
    """Data handed to edgeguard is unusable: wrong shape/dtype, NaN/Inf, unreadable image."""


class ModelError(EdgeGuardError):
    """A model cannot be built or its weights cannot be loaded."""


class EngineError(EdgeGuardError):
    """An engine file is missing, corrupt, or cannot run on this machine."""


class StaleEngineError(EngineError):
    """An engine file that cannot run here as it is: a TensorRT plan built by another TensorRT version,
    for another GPU, or from an ONNX file that has changed since.

    Engines only run; they never rebuild. The caller decides: ``edgeguard.load(path, rebuild=True)``
    and the ``infer``/``camera`` commands rebuild the plan from ``source`` through the exporter.

    Attributes:
        reason: why the plan is stale, as one clause ("it was built with TensorRT 10.3, this is 11.0").
        engine: the plan file.
        source: the ONNX file it can be rebuilt from, or ``None`` when that is not beside the plan.
    """

    def __init__(self, message: str, *, reason: str, engine: Path, source: Path | None = None) -> None:
        super().__init__(message)
        self.reason, self.engine, self.source = reason, engine, source


class SourceError(EdgeGuardError):
    """A camera / stream / file source cannot be opened or has failed for good."""


def first_line(exc: BaseException | str, limit: int = 200) -> str:
    """The first line of a third-party exception's message (or its type), for one-line errors.

    A line longer than ``limit`` is cut at the last sentence end (". ", "; ", ": ") inside the limit,
    else at the last space with "…", so the line never stops mid-word (torch's weights_only notice is
    a 600-character line whose first sentence says what failed).
    """
    text = _ANSI.sub("", str(exc)).strip()  # torch bolds part of its weights_only notice
    if not text:
        return type(exc).__name__
    line = next(ln.strip() for ln in text.splitlines() if ln.strip())
    if len(line) <= limit:
        return line
    head = line[: limit + 1]
    cut = max(head.rfind(". "), head.rfind("; "), head.rfind(": "))
    if cut >= limit // 3:
        return head[: cut + 1].rstrip(";:")
    space = head[:limit].rfind(" ")
    return (head[:space] if space >= limit // 3 else head[: limit - 1]).rstrip(" ,;:") + "…"
