"""`make bench`: run every benchmark, collect their JSON in benchmarks/results/, regenerate the README.

``python benchmarks/run.py [NAME …]`` runs the named ones only. Each runs with its defaults (a few
minutes on 2 cores), except those in ``ARGS``, called with the arguments the README's figures used.
A benchmark that fails is reported and the others still run; the README's generated blocks are
rewritten from whatever JSON is there at the end (``benchmarks/readme.py``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
ORDER = [
    "defense_overhead",
    "squeeze_overhead",
    "masking_cost",
    "ort_vs_torch",
    "precision",
    "scaling",
    "host_stages",
    "camera",
    "detect_decode",
    "detector",
    "masking",
    "eval_speed",
    "bench_cli",
]
ARGS: dict[str, tuple] = {"detector": (50, 10)}  # n attacked images, PGD steps


def main(names: list[str]) -> int:
    failed = []
    for name in names or ORDER:
        path = HERE / f"{name}.py"
        if not path.is_file():
            print(f"[bench] {name}: no such benchmark", file=sys.stderr)
            failed.append(name)
            continue
        spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        t0 = time.perf_counter()
        print(f"[bench] {name} …", flush=True)
        sys.argv = [str(path)]  # each benchmark parses its own options: run it with its defaults
        try:
            result = mod.main(*ARGS.get(name, ()))
        except Exception as e:  # report it, run the others
            print(f"[bench] {name} failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(name)
            continue
        print(json.dumps(result, indent=2)[:4000])
        print(f"[bench] {name} done in {time.perf_counter() - t0:.0f} s → benchmarks/results/{name}.json")
    import readme

    readme.main([])  # the README's generated blocks follow the new JSON
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
