"""Robustness evaluation: attacks against deployed pipelines, naive and adaptive, and the report.

Public names load lazily (``from edgeguard.eval import run_grid``): importing this package stays
cheap, and each helper module imports torch and the attack libraries only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "Config": ".config",
    "deploy": ".config",
    "Attackable": ".attackable",
    "attackable": ".attackable",
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


__all__ = sorted(_LAZY)
