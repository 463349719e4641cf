"""One markdown table generator over evaluation records (issue #11).

Records are the flat dicts of ``results.json`` (``config``, ``attack``, ``eps``, ``norm``, ``mode``,
``n``, ``robust_accuracy``, ``robust_ci`` …). The report, the scenarios, the seed experiments and the
benchmarks all print their tables with :func:`table`, so a number reads the same everywhere::

    table(records, rows=("config",), cols=("attack", "eps"), value="robust_accuracy", mode="adaptive")

Conventions: accuracies and rates are percentages with one decimal, followed by the 95 % Wilson
interval in parentheses when the record carries one (``54.2 (49.8–58.5)``); a cell with no record is
``—``; ε sorts numerically (``2/255`` before ``16/255``) and an L∞ pixel budget is written ``k/255``;
modes sort naive → adaptive → worst; every other key keeps the order in which it first appears.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

MISSING = "—"
MODE_ORDER = ("naive", "adaptive", "worst")
# value field → the record field holding its 95 % Wilson interval
CI_FIELDS = {"robust_accuracy": "robust_ci", "clean_accuracy": "clean_ci", "detection_rate": "detection_ci"}
HEADINGS = {
    "config": "configuration",
    "attack": "attack",
    "eps": "ε",
    "norm": "norm",
    "mode": "mode",
    "n": "n",
}

Record = Mapping[str, Any]
Formatter = Callable[[Record], str]


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def pct(v: Any) -> str:
    """A fraction as a percentage with one decimal (``0.5417`` → ``54.2``); ``—`` when missing."""
    return f"{100 * v:.1f}" if _finite(v) else MISSING


def ci_text(ci: Any) -> str:
    """A ``[lo, hi]`` interval of fractions as ``49.8–58.5`` (percent); empty when missing."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_finite(c) for c in ci):
        return f"{pct(ci[0])}–{pct(ci[1])}"
    return ""


def accuracy(v: Any, ci: Any = None) -> str:
    """``54.2 (49.8–58.5)``: the percentage and, when given, its interval."""
    if not _finite(v):
        return MISSING
    interval = ci_text(ci)
    return f"{pct(v)} ({interval})" if interval else pct(v)


def ms(v: Any) -> str:
    """Milliseconds with two decimals."""
    return f"{v:.2f}" if _finite(v) else MISSING


def size(v: Any) -> str:
    """A perturbation size (L2, L∞, normalised L2) with four decimals."""
    return f"{v:.4f}" if _finite(v) else MISSING


def eps_label(eps: Any, norm: str | None = None) -> str:
    """ε as people write it: an L∞ pixel budget as ``k/255``, anything else as a short decimal.

    ``None`` (a minimal-perturbation attack, which has no budget) is ``unbounded``.
    """
    if eps is None:
        return "unbounded"
    if not _finite(eps):
        return str(eps)
    k = eps * 255
    if norm in (None, "linf") and eps > 0 and abs(k - round(k)) < 1e-6 * max(1.0, k):
        return f"{round(k)}/255"
    return f"{eps:g}"


def label(key: str, value: Any, record: Record | None = None) -> str:
    """How a key's value is written in a row or column header."""
    if key == "eps":
        return eps_label(value, (record or {}).get("norm"))
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return " → ".join(str(v) for v in value) or "none"
    return str(value)


def default_format(value: str) -> Formatter:
    """The formatter ``table`` uses for a value field when none is given."""
    ci_field = CI_FIELDS.get(value)
    if value.endswith(("accuracy", "rate")):
        return lambda r: accuracy(r.get(value), r.get(ci_field) if ci_field else None)
    if value.endswith("_ms") or value == "seconds":
        return lambda r: ms(r.get(value))
    if value.startswith("norm_") or value in ("l2", "linf", "l0"):
        return lambda r: size(r.get(value))

    def plain(r: Record) -> str:
        v = r.get(value)
        return MISSING if v is None else label(value, v, r)

    return plain


def escape(text: str) -> str:
    """Make a cell safe inside a markdown table (pipes and line breaks)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(header: Sequence[str], rows: Iterable[Sequence[str]], *, numeric_from: int | None = None) -> str:
    """A GitHub-flavoured markdown table; columns from ``numeric_from`` on are right-aligned."""
    head = [escape(h) for h in header]
    body = [[escape(c) for c in row] for row in rows]
    for row in body:
        if len(row) != len(head):
            raise ValueError(f"markdown table: a row has {len(row)} cells for {len(head)} columns")
    start = len(head) if numeric_from is None else numeric_from
    rule = ["---" if i < start else "---:" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _order(key: str, value: Any, seen: dict[Any, int]) -> tuple:
    if key == "eps":
        return (value is None, value if _finite(value) else 0.0, seen[value])
    if key == "mode" and value in MODE_ORDER:
        return (0, MODE_ORDER.index(value), 0)
    if key == "n" and _finite(value):
        return (0, value, 0)
    return (1, seen[value], 0)


def _sorted_keys(keys: dict[tuple, Record], names: Sequence[str]) -> list[tuple]:
    order = sort_keys([dict(zip(names, k)) for k in keys], names)
    return [k for _, k in sorted(zip(order, keys), key=lambda ok: ok[0])]


def sort_keys(records: Sequence[Record], keys: Sequence[str]) -> list[tuple]:
    """One sort key per record, ordering ``keys`` the way :func:`table` orders rows and columns."""
    values = [tuple(_hashable(r.get(k)) for k in keys) for r in records]
    seen: list[dict[Any, int]] = [{} for _ in keys]
    for v in values:
        for i, x in enumerate(v):
            seen[i].setdefault(x, len(seen[i]))
    return [tuple(_order(k, x, seen[i]) for i, (k, x) in enumerate(zip(keys, v))) for v in values]


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def select(
    records: Iterable[Record],
    *,
    mode: str | Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
    extra: bool | None = None,
) -> list[Record]:
    """Records whose ``mode`` is (one of) ``mode`` and whose fields equal ``where``'s.

    ``extra=False`` keeps only the grid's own records, ``True`` only those of the cells the runner
    added for the sanity checks (records with a non-empty ``extra``: large ε, doubled steps, noise).
    """
    modes = (mode,) if isinstance(mode, str) else tuple(mode) if mode is not None else None
    out = []
    for r in records:
        if modes is not None and r.get("mode") not in modes:
            continue
        if extra is not None and bool(r.get("extra")) != extra:
            continue
        if where and any(r.get(k) != v for k, v in where.items()):
            continue
        out.append(r)
    return out


def table(
    records: Iterable[Record],
    rows: Sequence[str] = ("config",),
    cols: Sequence[str] = ("attack", "eps"),
    value: str = "robust_accuracy",
    *,
    mode: str | Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
    fmt: Formatter | None = None,
    headings: Mapping[str, str] | None = None,
) -> str:
    """A markdown table of ``value`` with one row per distinct ``rows`` key and one column per ``cols`` key.

    Args:
        records: result records (plain dicts in the ``results.json`` shape).
        rows: record fields naming a row (each becomes a leading column).
        cols: record fields naming a value column (their labels are joined with a space).
        value: the record field shown in the cells.
        mode: keep only records of this mode (or these modes).
        where: keep only records whose fields equal these values.
        fmt: ``record → cell text``; default by ``value`` (accuracies as ``54.2 (49.8–58.5)``).
        headings: header text for row fields (default: :data:`HEADINGS`).

    Returns:
        The table as markdown (ends with a newline); an empty string when no record is selected.

    Raises:
        ValueError: two selected records fall into the same cell (the keys do not tell them apart).
    """
    rows, cols = tuple(rows), tuple(cols)
    chosen = select(records, mode=mode, where=where)
    if not chosen:
        return ""
    show = fmt or default_format(value)
    cells: dict[tuple, dict[tuple, Record]] = {}
    row_keys: dict[tuple, Record] = {}
    col_keys: dict[tuple, Record] = {}
    for r in chosen:
        rk = tuple(_hashable(r.get(k)) for k in rows)
        ck = tuple(_hashable(r.get(k)) for k in cols)
        row_keys.setdefault(rk, r)
        col_keys.setdefault(ck, r)
        cell = cells.setdefault(rk, {})
        if ck in cell:
            where_txt = ", ".join(f"{k}={label(k, v, r)}" for k, v in zip(rows + cols, rk + ck))
            raise ValueError(f"table: two records for the cell {where_txt}; add a key to rows or cols")
        cell[ck] = r
    ordered_rows = _sorted_keys(row_keys, rows)
    ordered_cols = _sorted_keys(col_keys, cols)
    names = {**HEADINGS, **(headings or {})}
    header = [names.get(k, k) for k in rows] + [
        " ".join(label(k, v, col_keys[ck]) for k, v in zip(cols, ck)) or value for ck in ordered_cols
    ]
    body = []
    for rk in ordered_rows:
        first = row_keys[rk]
        lead = [label(k, v, first) for k, v in zip(rows, rk)]
        body.append(lead + [show(cells[rk][ck]) if ck in cells[rk] else MISSING for ck in ordered_cols])
    return markdown(header, body, numeric_from=len(rows))


__all__ = [
    "MISSING",
    "accuracy",
    "ci_text",
    "eps_label",
    "label",
    "markdown",
    "ms",
    "pct",
    "select",
    "size",
    "sort_keys",
    "table",
]
