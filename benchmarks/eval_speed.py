"""Evaluation speed: what one ``edgeguard eval`` cell costs on the sign model (issue #11 targets).

* **pgd20** — PGD-20 at L∞ 8/255, naive + adaptive, on ``--n`` (default 500) held-out sign images, for
  one deterministic configuration (``signs`` + ``bits:5`` + ``median:3x3``, the demo's defenses);
  target < 2 minutes on 2 CPU cores.
* **autoattack** — AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square) at L∞ 8/255, naive + adaptive,
  on ``--aa-n`` (default 100) images; target < 10 minutes.

Both run through :func:`edgeguard.eval.runner.run_grid` exactly as the command does (adversarial
images scored on the exported engine), without the sanity cells. Deploying the configuration (export
+ parity check + clean scoring + latency) is timed separately. Random configurations multiply the
attack cost by the EOT draws (``--eot``, default 20): not measured here.

Writes ``benchmarks/results/eval_speed.json``.
``python benchmarks/eval_speed.py --n 100 --aa-n 20`` is a quick look.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import meta

RESULTS = Path(__file__).parent / "results"
CONFIG = {"name": "demo", "model": "signs", "defenses": ["bits:5", "median:3x3"]}


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def measure(spec: str, n: int, threads: int) -> dict[str, Any]:
    """Run one cell (naive + adaptive) in a fresh output folder; wall times and robust accuracies."""
    from edgeguard.eval.cells import plan_cells
    from edgeguard.eval.grid import parse_grid
    from edgeguard.eval.runner import Workspace, execute

    grid = parse_grid({"eval": {"n": n, "eps": ["8/255"]}, "config": [CONFIG], "attack": [{"spec": spec}]})
    (cell,) = plan_cells(grid, sanity_cells=False)
    with tempfile.TemporaryDirectory() as work:
        ws = Workspace(grid, Path(work), threads)
        t0 = time.perf_counter()
        ws.target(dict(cell.config))
        deploy_s = time.perf_counter() - t0
        load_before = _load()
        t1 = time.perf_counter()
        _, result = execute(ws, cell)
        cell_s = time.perf_counter() - t1
    recs = {r["mode"]: r for r in result["records"]}
    return {
        "attack": spec,
        "eps": "8/255",
        "n": n,
        "deploy_s": round(deploy_s, 1),
        "cell_s": round(cell_s, 1),
        "naive_s": recs["naive"]["seconds"],
        "adaptive_s": recs["adaptive"]["seconds"],
        "clean_accuracy": recs["naive"]["clean_accuracy"],
        "naive_robust_accuracy": recs["naive"]["robust_accuracy"],
        "adaptive_robust_accuracy": recs["adaptive"]["robust_accuracy"],
        "load_average_before": round(load_before, 2),
        "load_average_after": round(_load(), 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=500, help="images for PGD-20 (0 skips it)")
    ap.add_argument("--aa-n", type=int, default=100, help="images for AutoAttack (0 skips it)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "eval_speed.json")
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    # a skipped measurement keeps its entry from an earlier run of this script
    out: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    out.update(
        {
            **meta.header("eval_speed", argv),
            "threads": args.threads,
            "config": CONFIG,
            "targets": {"pgd20_n500_s": 120, "autoattack_n100_s": 600},
        }
    )
    if args.n > 0:
        out["pgd20"] = measure("pgd:steps=20", args.n, args.threads)
        print(json.dumps(out["pgd20"]), flush=True)
    if args.aa_n > 0:
        out["autoattack"] = measure("autoattack", args.aa_n, args.threads)
        print(json.dumps(out["autoattack"]), flush=True)
    out.setdefault("load_average", {})["end"] = meta.load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
