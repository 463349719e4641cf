"""The README's ``edgeguard bench`` examples, run for real: console output and JSON, kept together.

Runs, in a scratch folder holding a copy of the shipped demo engine (so the command lines read as a
user would type them), ``edgeguard bench`` on it at batch 1 and 8, and ``--compare`` of the engine
with itself with a JPEG host stage, each with ``--json``; stores each command, its console output
(as printed, rich tables included, 100 columns) and its JSON in ``benchmarks/results/bench_cli.json``,
from which ``benchmarks/readme.py`` writes the examples in "Measure cost".
``python benchmarks/bench_cli.py``
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import meta

import edgeguard

ENGINE = Path(edgeguard.__file__).parent / "models" / "engines" / "signs-bits5-median3x3.onnx"
OUT = ["--threads", "1", "--json", "bench.json"]
RUNS = {
    "sweep": ["-e", ENGINE.name, "--batch", "1,8", "--iters", "50", *OUT],
    "compare": ["--compare", ENGINE.name, ENGINE.name, "--stage", "jpeg:75", "--iters", "100", *OUT],
}


def run(args: list[str], cwd: Path) -> dict[str, Any]:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    code = "from edgeguard.cli.app import main; main()"
    p = subprocess.run(
        [sys.executable, "-c", code, "bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads((cwd / "bench.json").read_text())
    (cwd / "bench.json").unlink()
    return {"command": "edgeguard bench " + " ".join(args), "stdout": p.stdout, "json": out}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    doc = meta.header("bench_cli", argv)
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(ENGINE, Path(d) / ENGINE.name)
        for key, args in RUNS.items():
            doc[key] = run(args, Path(d))
    meta.write("bench_cli", doc)
    return doc


if __name__ == "__main__":
    print(json.dumps(main(), indent=2)[:2000])
