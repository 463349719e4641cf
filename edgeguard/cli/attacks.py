"""``edgeguard attacks``: list the registered attacks with their threat model and parameters."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from ._common import console
from .app import app
from .defenses import _fmt

_FLAGS = "flags: M minimal perturbation (no ε; reports what it needed), R random, S needs the detector score"


@app.command("attacks")
def attacks_cmd() -> None:
    """List attacks (spec: NAME or NAME:key=value,...; `edgeguard eval --attack` takes them)."""
    from .. import attacks

    t = Table("name", "norm", "kind", "flags", "parameters (default)", "what", caption=_FLAGS)
    for e in attacks.REGISTRY:
        meta = e.extra
        flags = "".join(
            c if on else "·"
            for c, on in zip("MRS", (meta.get("minimal", False), e.random, meta.get("needs_score", False)))
        )
        params = ", ".join(f"{p.name}={_fmt(p.default)}" for p in e.params)
        usage = f" — e.g. {escape(e.usage)}" if e.usage else ""
        t.add_row(
            e.name,
            str(meta.get("norm", "none")),
            str(meta.get("kind", "white-box")),
            flags,
            escape(params),
            f"{escape(e.summary)} [dim]({escape(e.source)})[/]{usage}",
        )
    console.print(t)
