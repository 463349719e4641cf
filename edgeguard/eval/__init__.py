"""Robustness evaluation: attacks against deployed pipelines, naive and adaptive, and the report.

Public names load lazily (``from edgeguard.eval import run_grid``): importing this package stays
cheap, and each helper module imports torch and the attack libraries only when used.

* :class:`Config` — one evaluated configuration (model, in-graph defenses, host stages, detector);
  :func:`deploy` — that configuration exported and opened as the device runs it (a ``Pipeline``);
* :func:`attackable` / :class:`Attackable` — the same pipeline as differentiable torch modules:
  ``bare`` (naive mode), ``full`` (adaptive mode: straight-through rounding, BPDA host stages, a fresh
  random draw per forward for EOT), ``joint`` (with the detector score);
* :class:`Oracle` — the deployed pipeline as a no-gradient torch module (query attacks, final scoring);
* :class:`Conversion` (``edgeguard.eval.convert.convert``) — a user's ONNX engine converted with
  onnx2torch and checked against onnxruntime;
* grids, cells, records, sanity checks, latency and the report (``run_grid``, ``write_report`` …).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_LAZY: dict[str, str] = {
    "Config": ".config",
    "deploy": ".config",
    "Attackable": ".attackable",
    "attackable": ".attackable",
    "Oracle": ".oracle",
    "Conversion": ".convert",
    "EvalData": ".data",
    "load_data": ".data",
    "Grid": ".grid",
    "load_grid": ".grid",
    "parse_grid": ".grid",
    "wilson": ".records",
    "read_results": ".records",
    "write_results": ".records",
    "run_cell": ".robustness",
    "run_grid": ".runner",
    "sanity_checks": ".sanity",
    "write_report": ".report",
    "rewrite_report": ".report",
    "table": ".table",
    "measure_latency": ".latency",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """``edgeguard.eval.attackable`` is both a submodule and the public function of the same name.

    Importing a submodule sets the package attribute of its name to the module; this data descriptor
    keeps the attribute the function (``from edgeguard.eval import attackable`` always gets the
    function; the module stays reachable as ``sys.modules["edgeguard.eval.attackable"]`` and through
    ``from edgeguard.eval.attackable import ...``).
    """

    @property
    def attackable(self) -> Any:
        return importlib.import_module(".attackable", __name__).attackable

    @attackable.setter
    def attackable(self, value: Any) -> None:
        pass  # the import system's setattr(package, "attackable", module): keep the function


sys.modules[__name__].__class__ = _Package

__all__ = sorted(_LAZY)
