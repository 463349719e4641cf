"""PNG plots of an evaluation, drawn from ``results.json`` alone (matplotlib, Agg, no pyplot state).

* ``accuracy_vs_eps.png`` — robust accuracy against the budget ε, one panel per bounded attack.
* ``accuracy_vs_l2.png`` — robust accuracy against the *measured* normalised L2 of the perturbations
  (seed 000's axis, which puts budgeted and minimal attacks on one scale).
* ``roc.png`` — the detector's ROC curve per configuration (when a detector was evaluated).
* ``accuracy_vs_latency.png`` — worst-case robust accuracy against end-to-end latency, one panel per ε,
  with the Pareto front (lower latency, higher accuracy) marked.

One colour per configuration everywhere; naive dashed, adaptive solid, so a defense whose solid line
falls far below its dashed one is visibly one that only works against attacks that ignore it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..outputs import OutputGroup
from .latency import latency_stages
from .records import validate_results
from .table import eps_label, select, sort_keys

STYLE = {"naive": "--", "adaptive": "-"}
MARKERS = "os^vD<>Px*"


def _figure_class() -> Any:
    """matplotlib's Figure, imported on first use (one-line error naming the extra when missing)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the evaluation plots need matplotlib: pip install 'edgeguard[eval]'") from None
    return Figure


def _colours(results: Mapping[str, Any]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {c["name"]: cmap(i % 10) for i, c in enumerate(results["configs"])}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _grid(n: int, width: float = 4.6, height: float = 3.6) -> tuple[Any, list[Any]]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _figure_class()(figsize=(width * cols, height * rows), dpi=100, layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    return fig, axes


def _ordered(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[Mapping[str, Any]]:
    return [r for _, r in sorted(zip(sort_keys(records, keys), records), key=lambda kr: kr[0])]


def _legend(
    fig: Any, colours: Mapping[str, Any], modes: Sequence[str], markers: Mapping[str, str] | None = None
) -> None:
    """One legend for the whole figure: a colour per configuration, a line style per mode, a marker
    per attack (when given), instead of one entry per line."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=2, label=name) for name, c in colours.items()]
    handles += [Line2D([], [], color="grey", ls=STYLE.get(m, ":"), label=m) for m in modes]
    handles += [Line2D([], [], color="grey", ls="", marker=mk, label=a) for a, mk in (markers or {}).items()]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7)


def _eps_x(eps: float, norm: str | None) -> float:
    return eps * 255 if norm == "linf" else eps


def accuracy_vs_eps(results: Mapping[str, Any]) -> Any | None:
    """Robust accuracy (%) against ε, one panel per bounded attack; ``None`` when nothing is bounded."""
    records = [
        r
        for r in select(results["records"], mode=("naive", "adaptive"), extra=False)
        if _finite(r.get("eps"))
    ]
    attacks = list(dict.fromkeys(r["attack"] for r in records))
    if not attacks:
        return None
    colours = _colours(results)
    fig, axes = _grid(len(attacks))
    for ax, attack in zip(axes, attacks):
        mine = _ordered([r for r in records if r["attack"] == attack], ("config", "mode", "eps"))
        norm = mine[0].get("norm")
        for (config, mode), group in _groups(mine, ("config", "mode")).items():
            xs = [_eps_x(r["eps"], norm) for r in group]
            ys = [100 * r["robust_accuracy"] for r in group]
            label = f"{config} ({mode})"
            ax.plot(xs, ys, STYLE.get(mode, ":"), color=colours.get(config), marker="o", ms=4, label=label)
        ax.set_title(attack, fontsize=10)
        ax.set_xlabel("ε (/255, L∞)" if norm == "linf" else f"ε ({norm})")
        ax.set_ylabel("robust accuracy (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    used = {r["config"] for r in records}
    _legend(fig, {k: v for k, v in colours.items() if k in used}, list(STYLE))
    return fig


def accuracy_vs_l2(results: Mapping[str, Any]) -> Any | None:
    """Robust accuracy (%) against measured normalised L2; one line per configuration × mode × attack."""
    records = [
        r
        for r in select(results["records"], mode=("naive", "adaptive"), extra=False)
        if _finite(r.get("norm_l2"))
    ]
    if not records:
        return None
    colours = _colours(results)
    markers = {
        a: MARKERS[i % len(MARKERS)] for i, a in enumerate(dict.fromkeys(r["attack"] for r in records))
    }
    fig, (ax,) = _grid(1, width=7.5, height=5.0)
    groups = _groups(_ordered(records, ("config", "attack", "mode", "eps")), ("config", "attack", "mode"))
    for (config, attack, mode), group in groups.items():
        xs = [r["norm_l2"] for r in group]
        ys = [100 * r["robust_accuracy"] for r in group]
        label = f"{config} · {attack} ({mode})"
        ax.plot(
            xs, ys, STYLE.get(mode, ":"), color=colours.get(config), marker=markers[attack], ms=5, label=label
        )
    ax.set_xlabel("measured normalised L2  ‖δ‖₂ / ‖x‖₂")
    ax.set_ylabel("robust accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    used = {r["config"] for r in records}
    _legend(fig, {k: v for k, v in colours.items() if k in used}, list(STYLE), markers)
    return fig


def roc(results: Mapping[str, Any]) -> Any | None:
    """The detector's ROC per configuration (``configs[i]["detector"]["roc"] = {"fpr", "tpr"}``)."""
    curves = []
    for c in results["configs"]:
        det = c.get("detector")
        curve = det.get("roc") if isinstance(det, Mapping) else None
        if isinstance(curve, Mapping) and curve.get("fpr") and len(curve["fpr"]) == len(curve.get("tpr", ())):
            curves.append((c["name"], det, curve))
    if not curves:
        return None
    colours = _colours(results)
    fig, (ax,) = _grid(1, width=5.0, height=4.6)
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=1)
    for name, det, curve in curves:
        auc = det.get("auc")
        label = f"{name} (AUC {auc:.4f})" if _finite(auc) else name
        ax.plot(curve["fpr"], curve["tpr"], "-", color=colours.get(name), label=label)
        if _finite(det.get("fpr")):
            ax.axvline(det["fpr"], color=colours.get(name), lw=0.8, ls="--")
    ax.set_xlabel("false-positive rate (clean inputs flagged)")
    ax.set_ylabel("true-positive rate (adversarial inputs flagged)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: ``(latency, accuracy)``, lower latency and higher
    accuracy better. A point is dominated when another is at least as good on both and better on one;
    equal points are all kept. Non-finite points are never on the front. Sorted by latency.

    Hand-written: a two-objective dominance check is a few lines, and no plotting library has one.
    """
    ok = [i for i, (lat, acc) in enumerate(points) if _finite(lat) and _finite(acc)]
    front = []
    for i in ok:
        li, ai = points[i]
        dominated = any(
            points[j][0] <= li and points[j][1] >= ai and (points[j][0] < li or points[j][1] > ai) for j in ok
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def latency_points(results: Mapping[str, Any]) -> dict[tuple[Any, float], list[tuple[str, float, float]]]:
    """``{(norm, ε): [(config, latency p50 ms, worst-case robust accuracy)]}``.

    Worst case from the ``worst`` records; a configuration without one falls back to its lowest
    adaptive robust accuracy at that ε (the strongest attack that was run through it).
    """
    latency = {
        c["name"]: latency_stages(c.get("latency_ms")).get("total", {}).get("p50") for c in results["configs"]
    }
    best: dict[str, dict[tuple[Any, float], dict[str, float]]] = {"worst": {}, "adaptive": {}}
    for mode, cells in best.items():
        for r in select(results["records"], mode=mode, extra=False):
            if _finite(r.get("eps")) and _finite(r.get("robust_accuracy")):
                cell = cells.setdefault((r.get("norm"), r["eps"]), {})
                cell[r["config"]] = min(r["robust_accuracy"], cell.get(r["config"], math.inf))
    keys = sorted(set(best["worst"]) | set(best["adaptive"]), key=lambda k: (str(k[0]), k[1]))
    out = {}
    for key in keys:
        accs = {**best["adaptive"].get(key, {}), **best["worst"].get(key, {})}
        names = [
            c["name"] for c in results["configs"] if c["name"] in accs and _finite(latency.get(c["name"]))
        ]
        if names:
            out[key] = [(n, float(latency[n]), accs[n]) for n in names]
    return out


def accuracy_vs_latency(results: Mapping[str, Any]) -> Any | None:
    """Worst-case robust accuracy (%) against latency p50 (ms), one panel per ε, Pareto front marked."""
    panels = latency_points(results)
    if not panels:
        return None
    colours = _colours(results)
    fig, axes = _grid(len(panels))
    for ax, ((norm, eps), points) in zip(axes, panels.items()):
        front = pareto_front([(lat, acc) for _, lat, acc in points])
        for name, lat, acc in points:
            ax.scatter([lat], [100 * acc], color=colours.get(name), s=40, zorder=3, label=name)
            ax.annotate(name, (lat, 100 * acc), fontsize=7, xytext=(4, 4), textcoords="offset points")
        fx = [points[i][1] for i in front]
        fy = [100 * points[i][2] for i in front]
        ax.step(fx, fy, where="post", color="black", lw=1.2, zorder=2, label="Pareto front")
        ax.scatter(fx, fy, s=140, facecolors="none", edgecolors="black", zorder=4)
        ax.set_title(f"ε = {eps_label(eps, norm)} ({norm})", fontsize=10)
        lats = [lat for _, lat, _ in points if lat > 0]
        if lats and max(lats) / min(lats) > 20:  # host stages can cost 100× the engine: log scale
            ax.set_xscale("log")
        ax.set_xlabel("latency p50 per image (ms)")
        ax.set_ylabel("worst-case robust accuracy (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return fig


def _groups(
    records: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> dict[tuple, list[Mapping[str, Any]]]:
    out: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in records:
        out.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return out


PLOTS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "accuracy_vs_eps.png": accuracy_vs_eps,
    "accuracy_vs_l2.png": accuracy_vs_l2,
    "roc.png": roc,
    "accuracy_vs_latency.png": accuracy_vs_latency,
}


TITLES = {  # file → caption in report.md
    "accuracy_vs_eps.png": "Robust accuracy against ε (naive dashed, adaptive solid)",
    "accuracy_vs_l2.png": "Robust accuracy against the measured normalised L2",
    "roc.png": "Detector ROC",
    "accuracy_vs_latency.png": "Worst-case robust accuracy against latency (Pareto front marked)",
}


def figures(results: Any) -> dict[str, Any]:
    """``{file name: Figure}`` for every plot the results have data for."""
    results = validate_results(results)
    out = {}
    for name, draw in PLOTS.items():
        fig = draw(results)
        if fig is not None:
            out[name] = fig
    return out


def write_plots(results: Any, out_dir: str | Path) -> list[Path]:
    """Write the PNGs alone into ``out_dir`` (temp files renamed when all are drawn); return their paths.

    :func:`~edgeguard.eval.report.write_report` writes them together with ``report.md``.
    """
    figs = figures(results)
    dests = [Path(out_dir) / name for name in figs]
    with OutputGroup(dests, what="plot", make_parents=True) as group:
        for dest, fig in zip(dests, figs.values()):
            fig.savefig(group.temp(dest), format="png")
    return dests


__all__ = [
    "PLOTS",
    "TITLES",
    "accuracy_vs_eps",
    "accuracy_vs_l2",
    "accuracy_vs_latency",
    "figures",
    "latency_points",
    "pareto_front",
    "roc",
    "write_plots",
]
