"""What every benchmark JSON carries, and the interleaved timing they share.

* :func:`header` — machine (host, CPU model, cores, OS, Python), library versions, the command line,
  the UTC date and the load average when the run started; :func:`write` adds the load average at the
  end and writes ``benchmarks/results/NAME.json`` under a temporary name, renamed when complete. The
  machine is shared: the load average says how much else ran beside the benchmark.
* :func:`paired` — several callables timed round-robin (A B C, B C A, C A B, …: neighbours in time,
  none always first), so drift on a loaded machine hits all alike; per callable min/p50/p95, and per
  callable its median run-for-run ratio to the first with the paired bootstrap interval of
  :func:`edgeguard.eval.paired.ratio_interval` (the statistic ``edgeguard bench --compare`` reports).
  The clock is the CPU time this process spends in the call (``time.process_time``): on a shared
  2-core machine with a load average of 8, wall time mostly measures how long the call waited for a
  core, and a 1 ms call preempted once reads 10 ms. Every contender runs single-threaded (one
  onnxruntime intra-op thread, ``torch.set_num_threads(1)``), so its CPU time is its latency on an
  idle core. Wall times are kept beside (``wall_ms``, ``wall_ratio``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from edgeguard.eval.bench import cpu_model
from edgeguard.eval.paired import ratio_interval
from edgeguard.provenance import versions

RESULTS = Path(__file__).parent / "results"
PACKAGES = (
    "numpy",
    "onnxruntime",
    "torch",
    "torchvision",
    "onnx",
    "opencv-python-headless",
    "scipy",
    "scikit-image",
    "adversarial-robustness-toolbox",
    "matplotlib",
)


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (runnable processes; this machine has ``cores`` cores)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def commit() -> str | None:
    """The repository's HEAD commit, ``+dirty`` when tracked files differ from it (None outside git)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "edgeguard"], cwd=root, check=False)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip()[:12] + ("+dirty" if dirty.returncode else "")


def header(name: str, argv: list[str] | None = None) -> dict[str, Any]:
    """The provenance block of ``NAME.json``: machine, versions, command, date, load at the start."""
    args = sys.argv[1:] if argv is None else argv
    return {
        "benchmark": name,
        "command": " ".join(["python", f"benchmarks/{name}.py", *args]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": {
            "host": platform.node(),
            "cpu": cpu_model(),
            "cores": cores(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "nice": os.nice(0),
        },
        "versions": versions(PACKAGES),
        "load_average": {"start": load_average()},
    }


def write(name: str, doc: dict[str, Any]) -> Path:
    """Add the end-of-run load average and write ``results/NAME.json`` (temp name, then rename)."""
    doc.setdefault("load_average", {})["end"] = load_average()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out)
    return out


def session(path: Path, threads: int = 1):
    """An onnxruntime CPU session with ``threads`` intra-op threads (one inter-op thread)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    p50, p95 = np.percentile(a, [50, 95])
    return {"min": round(float(a.min()), 4), "p50": round(float(p50), 4), "p95": round(float(p95), 4)}


def paired(fns: Mapping[str, Callable[[], Any]], runs: int, warmup: int = 2) -> dict[str, Any]:
    """Time ``fns`` round-robin ``runs`` times; stats per name and ratios to the first name.

    Returns ``{"runs", "clock", "ms": {name: {min, p50, p95}}, "ratio": {name: {ratio, low, high}},
    "wall_ms", "wall_ratio"}``: ``ms`` is CPU time (see the module doc), ``ratio`` the median of
    ``t_name[i] / t_first[i]`` with its 95 % paired bootstrap interval.
    """
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    cpu: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    for i in range(runs):
        k = i % len(names)
        for n in names[k:] + names[:k]:
            t0, c0 = time.perf_counter(), time.process_time()
            fns[n]()
            cpu[n].append((time.process_time() - c0) * 1e3)
            wall[n].append((time.perf_counter() - t0) * 1e3)
    base = names[0]
    return {
        "runs": runs,
        "clock": "process CPU time",
        "ms": {n: stats(v) for n, v in cpu.items()},
        "ratio": {n: ratio_interval(cpu[base], cpu[n]) for n in names[1:]},
        "wall_ms": {n: stats(v) for n, v in wall.items()},
        "wall_ratio": {n: ratio_interval(wall[base], wall[n]) for n in names[1:]},
    }
