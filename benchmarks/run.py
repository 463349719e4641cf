"""`make bench`: run every benchmark module that exists and collect their JSON in benchmarks/results/."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
ORDER = ["defense_overhead", "host_stages", "precision", "camera", "detect_decode"]


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
        result = mod.main()
        print(json.dumps(result, indent=2)[:4000])
        print(f"[bench] {name} done in {time.perf_counter() - t0:.0f} s → benchmarks/results/{name}.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
