"""``edgeguard defenses``: list the traceable defenses, detectors and host stages."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from ._common import console
from .app import app


def _table(title: str, registry) -> Table:
    t = Table("name", "flags", "parameters (default)", "what", title=title, caption=_FLAGS)
    for e in registry:
        flags = "".join(c if on else "·" for c, on in zip("TDRX", e.flags().values()))
        params = ", ".join(f"{p.name}={_fmt(p.default)}" for p in e.params)
        usage = f" — e.g. {escape(e.usage)}" if e.usage else ""
        t.add_row(e.name, flags, params, f"{e.summary} [dim]({e.source})[/]{usage}")
    return t


_FLAGS = "flags: T traceable (in-graph), D differentiable, R real-time, X random (needs EOT)"


def _fmt(v: object) -> str:
    if isinstance(v, tuple):
        return "x".join(str(p) for p in v)
    return repr(v) if isinstance(v, str) else str(v)


@app.command("defenses")
def defenses_cmd() -> None:
    """List defenses with their flags and parameters (spec: NAME:SHORT or NAME:key=value,...)."""
    from .. import defenses

    console.print(_table("in-graph defenses (--defense on export)", defenses.REGISTRY))
    from ..registry import DETECTORS

    console.print(_table("in-graph detectors (--detector on export; each key is a squeezer)", DETECTORS))
    from .. import stages

    console.print(_table("host stages (--stage / --escalate on infer)", stages.REGISTRY))
