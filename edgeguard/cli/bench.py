"""``edgeguard bench``: what a pipeline costs on this machine, per stage; or two pipelines side by side."""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from typing import Any

import typer
from rich.table import Table

from ..errors import ConfigError
from ._common import (
    EngineOpt,
    PlainUsage,
    ProviderOpt,
    StageOpt,
    ThreadsOpt,
    console,
    err_console,
    safe,
)
from .app import app

FORMAT = "edgeguard-bench"


@app.command("bench", cls=PlainUsage)
def bench_cmd(
    engine: EngineOpt = None,  # type: ignore[assignment]
    compare: tuple[str, str] | None = typer.Option(
        None,
        "--compare",
        metavar="A B",
        help="Two engines run interleaved (A, B, A, B …): the ratio B/A per stage with a bootstrap 95% "
        "interval. Instead of --engine.",
    ),
    stage: StageOpt = None,
    batch: str | None = typer.Option(
        None, "--batch", "-b", help="Batch sizes, e.g. 1,2,4,8 (default: 1 and 8 where the engine allows)."
    ),
    size: str | None = typer.Option(
        None,
        "--size",
        help="Input sizes (square), e.g. 64,128,224; only for engines with dynamic height and width.",
    ),
    level: float = typer.Option(
        0.95, "--level", help="--compare: confidence level of the bootstrap interval of B/A."
    ),
    iters: int = typer.Option(100, "--iters", "-n", help="Timed calls per configuration."),
    warmup: int = typer.Option(10, "--warmup", help="Calls run first and discarded."),
    json_out: str | None = typer.Option(
        None, "--json", help="Write the results (with machine, versions, command, date) to this file."
    ),
    plot: str | None = typer.Option(
        None, "--plot", help="PNG of latency vs batch and vs size (needs the 'eval' extra: matplotlib)."
    ),
    provider: ProviderOpt = "auto",
    threads: ThreadsOpt = 0,
) -> None:
    """Per-stage latency (min/p50/p95/p99 ms per call) and throughput (images/s) of an engine's pipeline.

    Stages: preprocess (BGR 640x480 frames → the engine's input), each host stage, engine, decision,
    total (end to end). With --compare, the same frames go through A and B alternately and the table
    shows the median run-for-run ratio B/A per stage with a paired bootstrap interval: an interval
    that excludes 1 is a real difference, even on a noisy machine.
    """
    from ..eval import bench as lib

    if (engine is None) == (compare is None):
        raise ConfigError("give either --engine NAME or --compare A B")
    lib.check_counts(iters, warmup)
    if threads < 0:
        raise ConfigError(f"--threads {threads}: must be 0 (onnxruntime's default) or more")
    if not 0 < level < 1:
        raise ConfigError(f"--level {level}: expected a confidence level between 0 and 1, e.g. 0.95")
    batches = lib.parse_ints(batch, "--batch")
    sizes = lib.parse_ints(size, "--size")
    if compare is not None:
        if plot is not None:
            raise ConfigError("--plot draws latency vs batch / size; it does not apply to --compare")
        if sizes is not None and len(sizes) > 1 or batches is not None and len(batches) > 1:
            raise ConfigError("--compare times one configuration: give at most one --batch and one --size")
    if plot is not None:
        from ..extras import require

        require("matplotlib", what="--plot", extra="eval")
    group = _outputs(json_out, plot)  # every destination checked before an engine opens

    def open_pipe(name: str) -> Any:
        from ..pipeline import load

        return load(name, provider=provider, threads=threads, host_stages=stage or None)

    header: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": _command(
            ("--engine", engine),
            ("--compare", compare),
            ("--stage", stage),
            ("--batch", batch),
            ("--size", size),
            ("--level", level if compare else None),
            ("--iters", iters),
            ("--warmup", warmup),
            ("--json", json_out),
            ("--plot", plot),
            ("--provider", provider),
            ("--threads", threads),
        ),  # fmt: skip
        "iters": iters,
        "warmup": warmup,
    }
    if compare is not None:
        result = _compare(lib, open_pipe, compare, batches, sizes, iters, warmup, level, header)
    else:
        result = _sweep(lib, open_pipe(engine), engine, batches, sizes, iters, warmup, header)
    points = result.pop("_points", None)
    if group is None:
        return
    with group:
        if json_out is not None:
            group.write_text(json_out, json.dumps(result, indent=2, allow_nan=False) + "\n")
        if plot is not None:
            from ..eval.bench_plot import plot_points

            plot_points(points, group.temp(plot), title=str(engine))
    for path in group.paths:
        console.print(f"wrote {safe(path, 4096)}")


def _command(*options: tuple[str, Any]) -> str:
    """The command line that reproduces this run (every option spelled out, values quoted)."""
    words = ["edgeguard", "bench"]
    for flag, value in options:
        if value is None:
            continue
        if isinstance(value, tuple):
            words += [flag, *map(str, value)]
        elif isinstance(value, list):
            for v in value:
                words += [flag, str(v)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def _outputs(json_out: str | None, plot: str | None) -> Any:
    from ..outputs import OutputGroup

    dests = [(p, w) for p, w in ((json_out, "--json"), (plot, "--plot")) if p is not None]
    if not dests:
        return None
    return OutputGroup([p for p, _ in dests], what=[w for _, w in dests])


def _sweep(
    lib: Any, pipe: Any, name: str, batches: Any, sizes: Any, iters: int, warmup: int, header: dict
) -> dict:
    batches = lib.check_batches(pipe, batches, name)
    shapes = lib.check_sizes(pipe, sizes, name)
    info = {**header, "machine": lib.machine(pipe), "versions": lib.library_versions()}
    info["engine"] = {"path": name, "stages": [s for s in _host_stages(pipe)]}
    _print_header(info)
    points = lib.sweep(pipe, batches, shapes, iters=iters, warmup=warmup)
    for p in points:
        table = Table(
            title=f"batch {p.batch}, {p.size[0]}x{p.size[1]}: {p.images_per_s:,.1f} images/s",
            title_justify="left",
        )
        table.add_column("stage (ms per call)")
        for q in lib.QUANTILES:
            table.add_column(q, justify="right")
        for stage, s in p.stages.items():
            table.add_row(safe(stage), *(f"{s[q]:.3f}" for q in lib.QUANTILES))
        console.print(table)
    info["runs"] = [p.to_dict() for p in points]
    info["_points"] = points
    return info


def _compare(
    lib: Any,
    open_pipe: Any,
    names: tuple[str, str],
    batches: Any,
    sizes: Any,
    iters: int,
    warmup: int,
    level: float,
    header: dict,
) -> dict:
    from ..eval.paired import compare, same_input

    a, b = open_pipe(names[0]), open_pipe(names[1])
    same_input(a, b, names)
    batch = lib.check_batches(a, batches, names[0])[0]  # default: 1, or the engine's only batch
    lib.check_batches(b, [batch], names[1])
    shape = lib.check_sizes(a, sizes, names[0])[0]
    lib.check_sizes(b, sizes, names[1])
    info = {**header, "machine": lib.machine(a), "versions": lib.library_versions()}
    info["engines"] = {"a": names[0], "b": names[1], "stages": _host_stages(a)}
    _print_header(info)
    a.size = b.size = shape
    res = compare(a, b, batch=batch, iters=iters, warmup=warmup, level=level)
    table = Table(
        title=f"B/A, batch {batch}, {shape[0]}x{shape[1]}, {iters} interleaved pairs: A = {safe(names[0])}, "
        f"B = {safe(names[1])}",
        title_justify="left",
    )
    for col in ("stage", "A p50 ms", "B p50 ms", "B/A", f"{level * 100:g}% interval"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, e in res["stages"].items():
        pa, pb = (f"{e[k]['p50']:.3f}" if k in e else "—" for k in ("a", "b"))
        ratio = f"{e['ratio']:.3f}" if "ratio" in e else "—"
        ci = f"{e['low']:.3f} – {e['high']:.3f}" if "ratio" in e else "—"
        table.add_row(safe(stage), pa, pb, ratio, ci)
    console.print(table)
    info["compare"] = res
    return info


def _host_stages(pipe: Any) -> list[str]:
    from ..pipeline import stage_name

    return [stage_name(s) for s in pipe.host_stages]


def _print_header(info: dict) -> None:
    m, v = info["machine"], info["versions"]
    console.print(
        f"device: {safe(m['device'])} · CPU: {safe(m['cpu'])} · {m['cores']} cores · {safe(m['platform'])}"
    )
    console.print("versions: " + ", ".join(f"{safe(k)} {safe(x)}" for k, x in v.items()))
    err_console.print(f"warm-up {info['warmup']} calls, then {info['iters']} timed calls per configuration")
