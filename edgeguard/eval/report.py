"""``report.md``: what an evaluation measured, written from ``results.json`` and nothing else.

:func:`write_report` turns the results dict (the ``results.json`` shape of issue #11) into
``OUT/report.md``; :func:`rewrite_report` does it again from an existing ``OUT/results.json``. Every
number in the report is a field of the results printed with the formats of :mod:`.table` (the test
parses them back out), so the report can never disagree with the data users load into pandas.

The report follows the issue's rule that the product must never present a configuration as protective
when the adaptive number says otherwise: naive and adaptive numbers always stand side by side, and a
configuration whose adaptive robust accuracy falls :data:`GAP` or more below the naive one gets an
explicit warning (Athalye et al., ICML'18: input transforms evaluated only naively look robust and are
not). The headline is the per-example worst case over every attack run.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..outputs import OutputGroup
from .latency import latency_stages, stage_sort
from .plots import TITLES as PLOT_TITLES
from .plots import figures as plot_figures
from .records import read_results, validate_results
from .table import (
    HEADINGS,
    MISSING,
    accuracy,
    default_format,
    eps_label,
    label,
    markdown,
    ms,
    pct,
    select,
    size,
    sort_keys,
    table,
)

RESULTS = "results.json"
REPORT = "report.md"
GAP = 0.10  # adaptive this far (absolute) below naive → the explicit warning
CI_LEVEL = 95  # the records' intervals are 95 % Wilson score intervals (records.py)
# Numbers in report.md that are not measurements (the interval level, the year of a citation).
FIXED_NUMBERS = (str(CI_LEVEL), "2019")

Results = Mapping[str, Any]


def check_results(results: Any, where: str = "results") -> Results:
    """Refuse anything that is not a valid ``edgeguard-eval`` results dict (``records.validate_results``)."""
    return validate_results(results, where)


def _vary(records: Sequence[Mapping[str, Any]], key: str) -> bool:
    return len({json.dumps(r.get(key), sort_keys=True) for r in records}) > 1


def _config_label(c: Mapping[str, Any], key: str) -> str:
    v = c.get(key)
    if isinstance(v, Mapping):  # configs[i]["detector"] is the measured detector (spec, tau, auc …)
        v = v.get("spec") or "yes"
    if v is None or v == [] or v == ():
        return "none"
    return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def _header(results: Results) -> list[str]:
    data = results.get("data") or {}
    command = results.get("command")
    cmd = shlex.join(map(str, command)) if isinstance(command, list) else str(command or MISSING)
    versions = results.get("versions") or {}
    lines = ["# Robustness report", ""]
    lines.append(f"- Command: `{cmd}`")
    lines.append(f"- Created: {results.get('created', MISSING)}")
    sha = data.get("sha256")
    lines.append(
        f"- Data: {data.get('spec', MISSING)}, n = {data.get('n', MISSING)}"
        + (f", sha256 `{sha}`" if sha else "")
    )
    lines.append(f"- Seed: {results.get('seed', MISSING)}")
    if versions:
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    lines += [
        "",
        f"Accuracies are percentages; parentheses hold the {CI_LEVEL} % Wilson score interval. "
        "*Naive*: the attack sees the bare model and the defense is applied after it (what the seeds "
        "measured). *Adaptive*: the attack goes through the whole deployed pipeline (straight-through "
        "rounding, BPDA for host stages, EOT for random ones). Final accuracy is always measured on the "
        "deployed pipeline.",
        "",
    ]
    return lines


def _configs(results: Results) -> list[str]:
    rows = []
    for c in results["configs"]:
        total = latency_stages(c.get("latency_ms")).get("total", {})
        rows.append(
            [
                str(c.get("name")),
                str(c.get("model", MISSING)),
                _config_label(c, "defenses"),
                _config_label(c, "stages"),
                _config_label(c, "detector"),
                "yes" if c.get("white_box", True) else "**no**",
                accuracy(c.get("clean_accuracy"), c.get("clean_ci")),
                ms(total.get("p50")),
            ]
        )
    header = ["configuration", "model", "defenses", "host stages", "detector", "white-box", "clean accuracy"]
    return ["## Configurations", "", markdown([*header, "latency p50 (ms)"], rows, numeric_from=6)]


def gap_warnings(results: Results) -> list[str]:
    """One warning line per configuration whose adaptive number is :data:`GAP` or more below naive.

    The line cites the largest gap among the budgeted attacks (the numbers people compare); a
    minimal-perturbation attack's gap (no ε: it runs until misclassified) is cited only when no
    budgeted attack shows one.
    """
    lines = []
    records = results["records"]
    for c in results["configs"]:
        name = c.get("name")
        worst: tuple[tuple[bool, float], Mapping[str, Any], Mapping[str, Any]] | None = None
        adaptive = {
            (r.get("attack"), r.get("eps")): r
            for r in select(records, mode="adaptive", where={"config": name}, extra=False)
        }
        for r in select(records, mode="naive", where={"config": name}, extra=False):
            a = adaptive.get((r.get("attack"), r.get("eps")))
            try:
                gap = float(r["robust_accuracy"]) - float(a["robust_accuracy"]) if a else None
            except (KeyError, TypeError, ValueError):
                gap = None
            rank = (r.get("eps") is not None, gap)  # budgeted first, then the largest gap
            if gap is not None and gap >= GAP - 1e-12 and (worst is None or rank > worst[0]):
                worst = (rank, r, a)
        if worst is None:
            continue
        _, naive, adapt = worst
        transforms = any(c.get(k) for k in ("defenses", "stages", "detector"))
        verdict = (
            "input transforms are not protection here"
            if transforms
            else "the naive number overstates this configuration's robustness"
        )
        lines.append(
            f"- **Warning — {name}**: adaptive robust accuracy {pct(adapt['robust_accuracy'])} % vs naive "
            f"{pct(naive['robust_accuracy'])} % ({naive.get('attack')}, ε = "
            f"{eps_label(naive.get('eps'), naive.get('norm'))}): {verdict}; only the adaptive number counts."
        )
    return lines


def _warnings(results: Results) -> list[str]:
    lines = gap_warnings(results)
    for c in results["configs"]:
        if c.get("white_box", True) is False:
            notes = "; ".join(map(str, c.get("notes") or [])) or "no differentiable copy of this pipeline"
            lines.append(
                f"- **White-box numbers missing — {c.get('name')}**: {notes}. Its adaptive numbers come from "
                "query-only attacks and are upper bounds on its robust accuracy."
            )
    failed = [
        s for s in results.get("sanity") or [] if s.get("passed") is False or s.get("status") == "failed"
    ]
    if failed:
        lines.append(
            "- **Sanity checks failed** (see the table below): the numbers they concern are not trustworthy."
        )
    return (["## Warnings", "", *lines, ""]) if lines else []


def _table(records: Sequence[Mapping[str, Any]], rows: Sequence[str], cols: Sequence[str], **kw: Any) -> str:
    """:func:`table`, with the keys that tell records apart added to ``rows`` when they vary, and a
    flat listing instead of a crash when two records still share a cell (a report is written at the
    end of a long run: it must always be written)."""
    rows = tuple(rows) + tuple(k for k in ("eot", "seed", "extra") if k not in rows and _vary(records, k))
    try:
        return table(records, rows=rows, cols=cols, **kw)
    except ValueError:  # one line per record, duplicates and all
        keys = (*rows, *cols)
        show = default_format(kw.get("value", "robust_accuracy"))
        body = [[label(k, r.get(k), r) for k in keys] + [show(r)] for r in _ordered(records, keys)]
        return markdown([HEADINGS.get(k, k) for k in keys] + [kw.get("value", "robust_accuracy")], body)


def _worst(results: Results) -> list[str]:
    worst = select(results["records"], mode="worst")
    if not worst:
        return []
    rows = ("config", "attack") if _vary(worst, "attack") else ("config",)
    cols = ("norm", "eps") if _vary(worst, "norm") else ("eps",)
    covered = sorted({str(a) for r in worst for a in r.get("attacks") or ()})
    return [
        "## Headline: per-example worst case",
        "",
        "Robust accuracy counting an example as robust only if it survives every bounded attack run "
        "at that ε, naive and adaptive (mean over examples of the minimum over attacks).",
        "",
        _table(worst, rows, cols),
        *([f"Attacks covered: {', '.join(covered)}.", ""] if covered else []),
    ]


def _per_config(results: Results) -> list[str]:
    lines = ["## Naive and adaptive robust accuracy", ""]
    records = select(results["records"], mode=("naive", "adaptive"), extra=False)
    for c in results["configs"]:
        mine = select(records, where={"config": c.get("name")})
        if mine:
            lines += [f"### {c.get('name')}", "", _table(mine, ("attack", "n"), ("eps", "mode"))]
    extra = select(results["records"], mode=("naive", "adaptive"), extra=True)
    if extra:
        lines += [
            "### Cells added for the sanity checks",
            "",
            _table(extra, ("config", "attack", "extra", "n"), ("eps", "mode")),
        ]
    return lines if len(lines) > 2 else []


def _detection(results: Results) -> list[str]:
    dets = [
        (c.get("name"), c["detector"]) for c in results["configs"] if isinstance(c.get("detector"), Mapping)
    ]
    rated = [r for r in select(results["records"], extra=False) if r.get("detection_rate") is not None]
    if not dets and not rated:
        return []
    lines = ["## Detection", ""]
    if dets:
        # fpr: the rate τ was set for on the calibration set; clean_flagged: measured on the test set
        rows = [
            [str(n), size(d.get("tau")), pct(d.get("fpr")), pct(d.get("clean_flagged")), size(d.get("auc"))]
            for n, d in dets
        ]
        header = ["configuration", "τ", "target FPR (%)", "clean flagged (%)", "AUC"]
        lines.append(markdown(header, rows, numeric_from=1))
    if rated:
        lines += [
            "Fraction of adversarial inputs flagged at τ:",
            "",
            _table(rated, ("config", "attack"), ("eps", "mode"), value="detection_rate"),
        ]
    return lines


def _certified(results: Results) -> list[str]:
    """``--certify``: certified accuracy beside clean accuracy, one row per configuration."""
    rows = [
        [
            str(c.get("name")),
            str(c.get("certified_patch")),
            str(c.get("certified_masks")),
            accuracy(c.get("clean_accuracy"), c.get("clean_ci")),
            accuracy(c.get("certified_accuracy"), c.get("certified_ci")),
        ]
        for c in results["configs"]
        if c.get("certified_accuracy") is not None
    ]
    if not rows:
        return []
    header = ["configuration", "patch (of the face)", "masks", "clean accuracy", "certified accuracy"]
    return [
        "## Certified masking",
        "",
        "Certified: every two-mask prediction correct (PatchCleanser double masking), so no ONE square "
        "sticker of that side anywhere in the crop changes the masked decision. Other sticker shapes "
        "(RP2's two bars) are measured empirically, not certified.",
        "",
        markdown(header, rows, numeric_from=3),
    ]


def _latency(results: Results) -> list[str]:
    per = [(c.get("name"), latency_stages(c.get("latency_ms"))) for c in results["configs"]]
    per = [(n, s) for n, s in per if s]
    if not per:
        return []
    stages: list[str] = []
    for _, s in per:
        stages += [k for k in s if k not in stages]
    stages.sort(key=stage_sort)
    rows = []
    for name, s in per:
        cells = []
        for k in stages:
            v = s.get(k)
            cells.append(MISSING if v is None else f"{ms(v.get('p50'))} / {ms(v.get('p95'))}")
        rows.append([str(name), *cells])
    return [
        "## Latency per stage",
        "",
        "Milliseconds per call with one image, on the same deployed pipeline that was attacked: p50 / p95.",
        "",
        markdown(["configuration", *stages], rows, numeric_from=1),
    ]


def _norms(results: Results) -> list[str]:
    records = select(results["records"], mode=("naive", "adaptive"))
    if not records:
        return []
    rows = []
    for r in _ordered(records, ("config", "attack", "eps", "mode")):
        eps = r.get("eps")
        budget = eps_label(eps, r.get("norm"))
        if eps is not None and "/" in budget:
            budget += f" ({size(eps)})"
        rows.append(
            [
                str(r.get("config")),
                str(r.get("attack")),
                str(r.get("mode")) + (f" ({r['extra']})" if r.get("extra") else ""),
                str(r.get("norm") or MISSING),
                budget,
                size(r.get("norm_linf")),
                size(r.get("l2")),
                size(r.get("norm_l2")),
            ]
        )
    header = ["configuration", "attack", "mode", "norm", "budget ε", "measured L∞", "L2", "normalised L2"]
    return [
        "## Perturbation sizes",
        "",
        "Mean measured size of the perturbations each attack produced, next to its budget.",
        "",
        markdown(header, rows, numeric_from=4),
    ]


def _ordered(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[Mapping[str, Any]]:
    """Records in the table generator's order (first appearance; ε numeric; naive → adaptive → worst)."""
    return [r for _, r in sorted(zip(sort_keys(records, keys), records), key=lambda kr: kr[0])]


def _sanity(results: Results) -> list[str]:
    checks = results.get("sanity") or []
    if not checks:
        return []
    rows = [
        [
            str(s.get("check", MISSING)),
            str(s.get("config") or MISSING),
            str(s.get("attack") or MISSING),
            {True: "passed", False: "**FAILED**"}.get(s.get("passed"), "not applicable"),  # None: n/a
            str(s.get("detail") or ""),
        ]
        for s in checks
    ]
    return [
        "## Sanity checks",
        "",
        "Carlini et al. 2019, *On Evaluating Adversarial Robustness*: failed checks are marked **FAILED**.",
        "",
        markdown(["check", "configuration", "attack", "result", "detail"], rows),
    ]


def _notes(results: Results) -> list[str]:
    lines = [
        f"- {c.get('name')}: " + "; ".join(map(str, c["notes"]))
        for c in results["configs"]
        if c.get("notes") and c.get("white_box", True) is not False
    ]
    return ["## Notes", "", *lines, ""] if lines else []


def _plots(names: Sequence[str]) -> list[str]:
    if not names:
        return []
    lines = ["## Plots", ""]
    for name in names:
        lines += [f"![{PLOT_TITLES.get(name, name)}]({name})", ""]
    return lines


def render(results: Any, plots: Sequence[str] = ()) -> str:
    """The text of ``report.md`` for a results dict; ``plots``: PNG file names to show beside it."""
    results = check_results(results)
    parts = [
        _header(results),
        _configs(results),
        _warnings(results),
        _worst(results),
        _per_config(results),
        _detection(results),
        _certified(results),
        _latency(results),
        _norms(results),
        _sanity(results),
        _notes(results),
        _plots(plots),
    ]
    text = "\n".join(line for part in parts if part for line in part)
    return text.rstrip("\n") + "\n"


def write_report(results: Any, out_dir: str | Path, *, plots: bool = True) -> Path:
    """Write ``OUT/report.md`` (and, with ``plots``, the PNGs of :mod:`.plots`) from a results dict.

    All files are written under temporary names and renamed together when complete, so a failure
    leaves the folder as it was. Returns the path of ``report.md``.

    Raises:
        ConfigError: the results are not valid, ``out_dir`` is unusable, or ``plots`` is asked for
            without matplotlib (the ``eval`` extra).
    """
    results = check_results(results)
    figures = plot_figures(results) if plots else {}
    dest = Path(out_dir) / REPORT
    pngs = [Path(out_dir) / name for name in figures]
    with OutputGroup([dest, *pngs], what="report", make_parents=True) as group:
        for png, fig in zip(pngs, figures.values()):
            fig.savefig(group.temp(png), format="png")
        group.write_text(dest, render(results, list(figures)))
    return dest


def rewrite_report(out_dir: str | Path, *, plots: bool = True) -> Path:
    """Regenerate ``OUT/report.md`` (and the plots) from ``OUT/results.json`` (``eval --report-only``)."""
    return write_report(read_results(Path(out_dir) / RESULTS), out_dir, plots=plots)


__all__ = [
    "GAP",
    "check_results",
    "gap_warnings",
    "render",
    "rewrite_report",
    "table",
    "write_report",
]
