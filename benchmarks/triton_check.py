"""Check every model of a Triton repository, served by a running server, against the same engine run here.

For each ``REPO/NAME`` (written by ``edgeguard triton``): open ``triton://URL/NAME`` (waiting up to
``--wait`` seconds for the server to load it), run 4 real photos through it and through the local copy
``REPO/NAME/1/model.onnx|model.plan``, compare every output, and time 100 batch-1 round trips.
``benchmarks/gpu_check.sh`` runs it against a real ``tritonserver``; it runs against any KServe v2
gRPC server. Usage: python benchmarks/triton_check.py REPO HOST:PORT OUT.json [--wait S]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edgeguard.engines import Engine, open_engine
from edgeguard.errors import EngineError
from edgeguard.samples import photo_batch


def connect(uri: str, wait: float) -> Engine:
    deadline = time.monotonic() + wait
    while True:
        try:
            return open_engine(f"{uri}?timeout=2")
        except EngineError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def check(repo: Path, url: str, name: str, wait: float) -> dict:
    local_file = next(p for p in (repo / name / "1").iterdir() if p.name in ("model.onnx", "model.plan"))
    remote = connect(f"triton://{url}/{name}", wait)
    local = open_engine(local_file)
    size = remote.manifest.input.size if remote.manifest else tuple(remote.inputs[0].shape[2:])
    x = photo_batch(4, size)
    got, want = remote(x), local(x)
    diff = {
        k: float(np.abs(got[k].astype(np.float64) - want[k]).max() / max(np.abs(want[k]).max(), 1e-12))
        for k in want
    }
    for _ in range(10):
        remote(x[:1])
    t = []
    for _ in range(100):
        t0 = time.perf_counter()
        remote(x[:1])
        t.append((time.perf_counter() - t0) * 1e3)
    remote.deactivate()
    return {
        "local": local_file.name,
        "max_rel_vs_local": diff,
        "top1_agreement": float(
            (got[remote.outputs[0].name].argmax(1) == want[remote.outputs[0].name].argmax(1)).mean()
        ),
        "p50_ms_batch1_round_trip": float(np.percentile(t, 50)),
        "p90_ms_batch1_round_trip": float(np.percentile(t, 90)),
        "max_batch_size": remote.max_batch,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", type=Path)
    ap.add_argument("url", help="HOST:PORT of the server's gRPC endpoint (Triton: 8001)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the server and models")
    args = ap.parse_args(argv)
    names = sorted(p.name for p in args.repo.iterdir() if (p / "config.pbtxt").is_file())
    rows = {n: check(args.repo, args.url, n, args.wait) for n in names}
    for n, r in rows.items():
        rel = max(r["max_rel_vs_local"].values())
        print(
            f"{n}: max rel {rel:.2e} vs {r['local']}, p50 {r['p50_ms_batch1_round_trip']:.2f} ms round trip"
        )
    doc = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "cpu": platform.processor() or platform.machine()},
        "server": args.url,
        "models": rows,
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
