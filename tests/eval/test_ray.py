"""A grid runs as Ray tasks on a local Ray instance and gives the local executor's records."""

from __future__ import annotations

import pytest

from edgeguard.eval.grid import parse_grid
from edgeguard.eval.runner import run_grid

from .fake import prepare

GRID = {
    "eval": {"n": 12, "eps": ["0.1"], "seed": 2},
    "config": [{"name": "lin", "model": "signs"}],
    "attack": [{"spec": "pgd:steps=2"}],
}


def _strip(records: list[dict]) -> list[dict]:
    return sorted(
        ({k: v for k, v in r.items() if k not in ("seconds",)} for r in records),
        key=lambda r: (r["attack"], r["mode"], str(r["eps"])),
    )


@pytest.mark.slow
def test_grid_on_local_ray(tmp_path) -> None:
    ray = pytest.importorskip("ray")  # the ray extra is in the dev install; skipped only without it
    import sys

    from ray import cloudpickle

    # the fake lives in the tests, which Ray's workers cannot import: ship it by value
    cloudpickle.register_pickle_by_value(sys.modules[prepare.__module__])
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        got = run_grid(
            parse_grid(GRID),
            tmp_path / "ray",
            executor="ray",
            prepare=prepare,
            progress=False,
            sanity_cells=False,
        )
    finally:
        ray.shutdown()
    local = run_grid(
        parse_grid(GRID), tmp_path / "local", prepare=prepare, progress=False, sanity_cells=False
    )
    assert len(list((tmp_path / "ray" / "cells").glob("*.json"))) == 1
    assert _strip(got["records"]) == _strip(local["records"])
