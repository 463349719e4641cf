"""Formatting for the README's generated blocks, and the registry of their renderers.

Each renderer (``@section("NAME")`` for the marker ``<!-- bench:NAME -->``; the renderers live in
``readme_engine.py`` and ``readme_host.py``) takes ``{stem: parsed JSON}`` of
``benchmarks/results/`` and returns Markdown. Numbers
are formatted here, in one place, from the JSON; the README never carries a typed-in figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Results = dict[str, Any]
SECTIONS: dict[str, Callable[[Results], str]] = {}


def section(name: str) -> Callable[[Callable[[Results], str]], Callable[[Results], str]]:
    def deco(fn: Callable[[Results], str]) -> Callable[[Results], str]:
        SECTIONS[name] = fn
        return fn

    return deco


# ---------------------------------------------------------------- formatting
def table(head: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table; ``align`` is one letter per column (``l``/``r``), default first left, rest right."""
    align = align or "l" + "r" * (len(head) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def ms(v: float | None) -> str:
    """Milliseconds with three significant figures (``0.412``, ``41.2``, ``412``)."""
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def x(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}×"


def ratio(r: dict[str, float] | None, digits: int = 2) -> str:
    """``1.04× (1.01–1.07)``: the median paired ratio and its 95 % bootstrap interval."""
    if not r:
        return "—"
    return f"{r['ratio']:.{digits}f}× ({r['low']:.{digits}f}–{r['high']:.{digits}f})"


def pct(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{100 * v:.{digits}f} %"


def verdict(r: dict[str, float] | None, target: float | None) -> str:
    """Whether the whole interval lies under the target (``met``), above it (``missed``), or across it."""
    if not r or target is None:
        return ""
    if r["high"] <= target:
        return f"≤ {target:g}× met"
    if r["low"] > target:
        return f"≤ {target:g}× **missed**"
    return f"≤ {target:g}×: interval spans it"


def load_text(doc: dict[str, Any]) -> str:
    la = doc.get("load_average") or {}
    s, e = la.get("start") or [], la.get("end") or []
    if not s:
        return "not recorded"
    return f"{s[0]:.1f} → {e[0]:.1f}" if e else f"{s[0]:.1f}"


def loaded(doc: dict[str, Any]) -> bool | None:
    """Whether the 1-minute load average exceeded the core count at the start or end (None: unknown)."""
    m = doc.get("machine")
    la, cores = doc.get("load_average") or {}, m.get("cores") if isinstance(m, dict) else None
    vals = [v[0] for v in (la.get("start"), la.get("end")) if v]
    if not vals or not isinstance(cores, int):
        return None
    return max(vals) > cores


def patch_entries(doc: dict[str, Any]) -> dict[str, Any]:
    """``masking.json``'s entries, one per patch size (keys ``"0.25"`` …), whatever else it holds."""
    out = {}
    for k, v in doc.items():
        try:
            float(k)
        except ValueError:
            continue
        out[k] = v
    return out


def newest_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A result's own provenance, or for ``masking.json`` that of its most recently measured entry."""
    if isinstance(doc.get("machine"), dict):
        return doc
    dated = [v for v in patch_entries(doc).values() if isinstance(v, dict) and v.get("date")]
    return max(dated, key=lambda v: v["date"]) if dated else doc


# ---------------------------------------------------------------- provenance
# The results the README's blocks are made from (a JSON another script adds to results/ joins the table
# when a block renders it).
PROVENANCE = (
    "defense_overhead",
    "squeeze_overhead",
    "masking_cost",
    "masking",
    "ort_vs_torch",
    "precision",
    "scaling",
    "host_stages",
    "camera",
    "detect_decode",
    "eval_speed",
    "bench_cli",
)


@section("provenance")
def provenance(res: Results) -> str:
    rows, heavy, known = [], 0, 0
    for stem in PROVENANCE:
        doc = newest_entry(res[stem])
        m = doc.get("machine") if isinstance(doc.get("machine"), dict) else {}
        cpu = m.get("cpu", "—")
        cores = m.get("cores", m.get("cpus", doc.get("cpu_count", "—")))
        is_loaded = loaded(doc)
        known += is_loaded is not None
        heavy += bool(is_loaded)
        cmd = doc.get("command")
        rows.append(
            [
                f"`{stem}.json`",
                (doc.get("date") or "—")[:16].replace("T", " "),
                f"{cpu}, {cores}",
                load_text(doc),
                f"`{cmd}`" if cmd else "—",
            ]
        )
    text = table(
        ["result", "measured (UTC)", "CPU, cores", "load avg. (1 min) start → end", "command"], rows, "lllrl"
    )
    docs = [newest_entry(res[s]) for s in PROVENANCE]
    cores = sorted(
        {(d.get("machine") or {}).get("cores") for d in docs if isinstance(d.get("machine"), dict)} - {None}
    )
    where = f"a loaded {'/'.join(map(str, cores))}-core machine" if cores else "a loaded machine"
    note = ""
    if known:
        note = f"\n\n{heavy} of the {known} runs that recorded it saw a 1-minute load average above "
        note += "the core count"
        note += (
            f": their absolute milliseconds come from {where} (other jobs were running); "
            "the ratios, measured side by side in one interleaved run, are what to compare."
            if heavy
            else "."
        )
    return text + note
