"""How to export: ``onnx.py`` (trace, check, simplify, parity), ``compose.py`` (prepend to an ONNX file).

``edgeguard.export(...)`` is the public export function. Because ``edgeguard.export`` is also this
package, the package object itself is made callable (forwarding to :func:`edgeguard.export.onnx.export`)
so both spellings work whichever was imported first.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .onnx import export

        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
