"""results.json and report.md of the stop-sign scenario, both from the same flat records.

The records follow the evaluation schema (``edgeguard.eval.records``: ``attack``, ``mode``, ``n``,
``clean_accuracy``, ``robust_accuracy``, ``latency_ms``, ``detection_rate`` …) with the scenario's
fields added: ``condition``, ``sticker``, ``accuracy``, ``fooled``, ``targeted_success``, ``flagged``,
``certified``. The tables are printed by the one table generator (``edgeguard.eval.table``) from those
records, so the report's numbers are the JSON's (tests/scenario check it cell by cell).

The choice the demo uses (issue 12): ``best_realtime`` is the configuration with the lowest fooled rate
under its strongest sticker (the worst of naive, adaptive and query over the five table conditions),
among those whose clean accuracy is within 2 points of the undefended ``signs`` and whose mean latency
end to end is at most 10 ms per frame; ``best_cheap`` the same within 1.1× of the undefended latency.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..eval.table import MISSING, markdown, ms, pct, table

ALL = "all"  # the five table conditions pooled
REALTIME_MS = 10.0
CHEAP_FACTOR = 1.1
MAX_CLEAN_DROP = 0.02
ATTACKS = ("naive", "adaptive", "query")
UNDEFENDED = "signs"


def find(records: Sequence[Mapping[str, Any]], **where: Any) -> Mapping[str, Any] | None:
    for r in records:
        if all(r.get(k) == v for k, v in where.items()):
            return r
    return None


def latencies(configs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The latency each configuration is compared by: ``configs[].latency_ms.interleaved_mean``."""
    out = {}
    for c in configs:
        v = (c.get("latency_ms") or {}).get("interleaved_mean")
        if v is not None:
            out[c["name"]] = float(v)
    return out


def summary(
    records: Sequence[Mapping[str, Any]], configs: Sequence[str], latency: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """Per configuration, over the pooled table conditions: clean accuracy, the worst sticker's fooled
    rate and which sticker that was, and the latency (``latency[name]`` when given, else the mean over
    all its frames' records)."""

    def latency_of(name: str) -> float | None:
        return None if latency is None else latency.get(name)

    out = []
    for name in configs:
        clean = find(records, config=name, condition=ALL, sticker="none")
        if clean is None:
            continue
        attacked = [r for s in ATTACKS if (r := find(records, config=name, condition=ALL, sticker=s))]
        worst = max(attacked, key=lambda r: r["fooled"], default=None)
        mine = [r for r in records if r["config"] == name and r["condition"] == ALL]
        frames = sum(r["n"] for r in mine)
        mean_ms = sum(r["latency_ms"] * r["n"] for r in mine) / frames if frames else None
        if latency_of(name) is not None:
            mean_ms = latency_of(name)
        out.append(
            {
                "config": name,
                "clean_accuracy": clean["accuracy"],
                "worst_fooled": None if worst is None else worst["fooled"],
                "worst_sticker": None if worst is None else worst["sticker"],
                "latency_ms": mean_ms,
            }
        )
    return out


def choose(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``best_realtime`` / ``best_cheap`` (names or ``None``) and the rule that chose them."""
    base = next((r for r in rows if r["config"] == UNDEFENDED), None)
    result: dict[str, Any] = {"best_realtime": None, "best_cheap": None}
    if base is None or base["latency_ms"] is None:
        result["rule"] = f"needs the undefended {UNDEFENDED!r} configuration in the run"
        return result

    def pick(limit: float) -> str | None:
        ok = [
            r
            for r in rows
            if r["worst_fooled"] is not None
            and r["latency_ms"] is not None
            and r["latency_ms"] <= limit
            and r["clean_accuracy"] >= base["clean_accuracy"] - MAX_CLEAN_DROP - 1e-12
        ]
        best = min(ok, key=lambda r: (r["worst_fooled"], r["latency_ms"]), default=None)
        return None if best is None else best["config"]

    result["best_realtime"] = pick(REALTIME_MS)
    result["cheap_limit_ms"] = CHEAP_FACTOR * base["latency_ms"]
    result["best_cheap"] = pick(result["cheap_limit_ms"])
    result["rule"] = (
        f"lowest fooled rate under the strongest sticker (naive/adaptive/query, five conditions pooled), "
        f"clean accuracy within {100 * MAX_CLEAN_DROP:g} points of {UNDEFENDED}; best_realtime: mean latency "
        f"<= {REALTIME_MS:g} ms end to end; best_cheap: <= {CHEAP_FACTOR:g}x {UNDEFENDED}'s "
        f"({result['cheap_limit_ms']:.2f} ms)"
    )
    return result


def _cell(r: Mapping[str, Any]) -> str:
    """Clean column: accuracy (read as stop); sticker columns: fooled rate."""
    return pct(r["accuracy"]) if r["sticker"] == "none" else pct(r["fooled"])


def drive_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Seed 004's table: rows condition (per configuration), columns sticker."""
    return table(records, rows=("config", "condition"), cols=("sticker",), value="fooled", fmt=_cell)


def rate_table(records: Sequence[Mapping[str, Any]], value: str) -> str:
    """One value (targeted success, flagged …) per configuration × sticker over the pooled conditions."""
    chosen = [r for r in records if r["condition"] == ALL]
    return table(chosen, rows=("config",), cols=("sticker",), value=value, fmt=lambda r: pct(r.get(value)))


def summary_table(rows: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]) -> str:
    """Per configuration: clean accuracy, fooled per sticker, worst, certified, latency (pooled)."""
    body = []
    for s in rows:
        name = s["config"]
        fooled = [find(records, config=name, condition=ALL, sticker=k) for k in ATTACKS]
        clean = find(records, config=name, condition=ALL, sticker="none") or {}
        cert = clean.get("certified")
        body.append(
            [name, pct(s["clean_accuracy"])]
            + [pct(r["fooled"]) if r else MISSING for r in fooled]
            + [
                f"{pct(s['worst_fooled'])} ({s['worst_sticker']})" if s["worst_sticker"] else MISSING,
                pct(cert) if cert is not None else MISSING,
                ms(s["latency_ms"]),
            ]
        )
    header = ["configuration", "clean acc. %", "fooled naive %", "fooled adaptive %", "fooled query %"]
    header += ["worst %", "certified %", "latency ms (in turn)"]
    return markdown(header, body, numeric_from=1)


def render(results: Mapping[str, Any]) -> str:
    """report.md: the setup, the summary, the drive-by table, targeted / flagged rates, notes."""
    recs = results["records"]
    names = [c["name"] for c in results["configs"]]
    rows = summary(recs, names, latencies(results["configs"]))
    choice = results["choice"]
    cam = results["camera"]
    n = results["data"]["n"]
    lines = [
        "# Stop-sign drive-by scenario",
        "",
        f"Command: `{' '.join(results['command'])}`" + (" (quick)" if results["quick"] else ""),
        "",
        f"Camera model: {cam['text']}. Frames per condition: n = {n} (fresh nuisances each: lighting, "
        f"blur, noise, JPEG, ±3° pose jitter); approach: {results['data']['approach_frames']} frames of the "
        "synthetic drive-by (32 m → 5 m at 0°). A frame is **fooled** when it is read as anything but "
        "stop and not flagged by the detector; targeted success = read as the target "
        f"`{results['target_label']}` and not flagged.",
        "",
        "## Summary (five conditions pooled)",
        "",
        summary_table(rows, recs),
        f"best_realtime: **{choice['best_realtime']}**; best_cheap: **{choice['best_cheap']}** "
        f"({choice['rule']}).",
        "",
        "## Drive-by table (seed 004's shape)",
        "",
        "Column `none`: % of clean frames read as stop; sticker columns: % of frames fooled. "
        f"`{ALL}`: the five conditions pooled; `approach`: the drive-by video's frames.",
        "",
        drive_table(recs),
        "## Targeted success % (pooled)",
        "",
        rate_table(recs, "targeted_success"),
        "## Flagged by the detector % (pooled)",
        "",
        rate_table(recs, "flagged"),
        "## Configurations and stickers",
        "",
    ]
    for c in results["configs"]:
        lines.append(f"- `{c['name']}`: {c['summary']} (escalation: {c['escalate'] or 'none'}).")
    lines.append("")
    for s in results["stickers"]:
        m = s.get("measured") or {}
        lines.append(
            f"- sticker `{s['kind']}` for `{s['for']}`: `{s.get('attack', '—')}`"
            + (
                f" — its own check: fooled {pct(m.get('fooled'))} % of {m.get('views')} EOT views"
                if m
                else ""
            )
        )
    lines += ["", "## Notes", ""] + [f"- {t}" for t in results["notes"]] + [""]
    lines += ["Figures: `frames.png` (example frames, each configuration's reading), `driveby.mp4`.", ""]
    return "\n".join(lines)


def findings(results: Mapping[str, Any]) -> list[str]:
    """The issue's targets, each measured (generated from the records, never typed)."""
    recs = results["records"]
    names = [c["name"] for c in results["configs"]]
    rows = {r["config"]: r for r in summary(recs, names, latencies(results["configs"]))}
    out = []

    def met(ok: bool) -> str:
        return "met" if ok else "**missed**"

    base = rows.get(UNDEFENDED)
    if base and base["worst_fooled"] is not None:
        near = [r for r in recs if r["config"] == UNDEFENDED and r["sticker"] != "none"
                and r["condition"].startswith(("5ft", "10ft"))]  # fmt: skip
        hit = max((r["targeted_success"] or 0.0 for r in near), default=0.0)
        out.append(
            f"Undefended `{UNDEFENDED}`: the strongest sticker ({base['worst_sticker']}) fools "
            f"{pct(base['worst_fooled'])} % of frames (target ≥ 80 %: {met(base['worst_fooled'] >= 0.8)}); "
            f"targeted success (read as `{results['target_label']}`) at 5′/10′ at most {pct(hit)} %."
        )
    for key, what in (
        ("best_realtime", f"≤ {REALTIME_MS:g} ms"),
        ("best_cheap", f"≤ {CHEAP_FACTOR:g}× undefended"),
    ):
        name = results["choice"].get(key)
        if name is None or name not in rows:
            out.append(f"{key} ({what}): no configuration qualifies.")
            continue
        r = rows[name]
        gain = (r["clean_accuracy"] - base["clean_accuracy"]) if base else float("nan")
        out.append(
            f"{key} ({what}): `{name}` — worst sticker ({r['worst_sticker']}) fools "
            f"{pct(r['worst_fooled'])} % "
            f"(target ≤ 10 %: {met(r['worst_fooled'] <= 0.10)}), clean accuracy {pct(r['clean_accuracy'])} % "
            f"({100 * gain + 0.0:+.1f} points vs undefended; drop ≤ 2: {met(-gain <= 0.02 + 1e-12)}), "
            f"{ms(r['latency_ms'])} ms per frame."
        )
    for c in results["configs"]:
        clean = find(recs, config=c["name"], condition=ALL, sticker="none")
        if c.get("masking") is not None and clean is not None and clean.get("certified") is not None:
            out.append(
                f"Certified masking `{c['name']}` (patch {c['masking']:g}): {pct(clean['certified'])} % of "
                f"{clean['certified_n']} clean frames certified as stop (target ≥ 80 %: "
                f"{met(clean['certified'] >= 0.8)}), {ms(rows[c['name']]['latency_ms'])} ms per frame."
            )
        if c.get("detector"):
            flags = [find(recs, config=c["name"], condition=ALL, sticker=k) for k in ATTACKS]
            text = ", ".join(f"{k} {pct(r['flagged'])} %" for k, r in zip(ATTACKS, flags) if r)
            clean_flag = pct((clean or {}).get("flagged"))
            out.append(
                f"Detector on `{c['name']}`: flagged {text} of stickered frames (clean {clean_flag} %)."
            )
    return out


def readme_section(results: Mapping[str, Any]) -> str:
    """The README's generated part: the summary table, the choice and the targets (from results.json)."""
    rows = summary(results["records"], [c["name"] for c in results["configs"]], latencies(results["configs"]))
    choice = results["choice"]
    return (
        summary_table(rows, results["records"])
        + f"\nbest_realtime (≤ {REALTIME_MS:g} ms end to end): **{choice['best_realtime']}**; "
        f"best_cheap (≤ {CHEAP_FACTOR:g}× undefended latency): **{choice['best_cheap']}**. "
        f"n = {results['data']['n']} frames per condition, {results['data']['approach_frames']} approach "
        f"frames"
        + (" (--quick)" if results["quick"] else "")
        + f"; load average {results.get('load_average')}.\n\n"
        + "".join(f"- {t}\n" for t in findings(results))
    )


BEGIN, END = "<!-- stop-sign-scenario:begin -->", "<!-- stop-sign-scenario:end -->"


def update_readme(readme: str | Path, results_path: str | Path) -> None:
    """Replace the README's generated block (between :data:`BEGIN` and :data:`END`) with
    :func:`readme_section` of ``results_path`` (``python -m edgeguard.scenario.stop_report``)."""
    results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    fill_readme(readme, BEGIN, END, readme_section(results))


def fill_readme(readme: str | Path, begin: str, end: str, body: str) -> None:
    """Replace the text between the markers ``begin`` and ``end`` of ``readme`` with ``body``."""
    from ..errors import ConfigError

    text = Path(readme).read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise ConfigError(f"{readme}: no {begin} … {end} block to fill")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    Path(readme).write_text(f"{head}{begin}\n{body}{end}{tail}", encoding="utf-8")


__all__ = [
    "ALL",
    "choose",
    "drive_table",
    "fill_readme",
    "find",
    "readme_section",
    "render",
    "latencies",
    "summary",
    "summary_table",
]


if __name__ == "__main__":  # python -m edgeguard.scenario.stop_report README.md results.json
    update_readme(sys.argv[1], sys.argv[2])
