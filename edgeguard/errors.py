"""Typed errors. Every user-facing failure is one of these; the CLI prints one line and exits 2."""

from __future__ import annotations


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


class SourceError(EdgeGuardError):
    """A camera / stream / file source cannot be opened or has failed for good."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of a third-party exception's message (or its type), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
