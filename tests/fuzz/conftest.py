"""Hypothesis settings for the fuzz suite: few examples, no per-example deadline, fully reproducible.

The whole suite is kept under ~40 s on two cores (issue #10): each test draws a handful of examples
with ``derandomize=True`` so a failure reproduces on every run, and the example database is off so
nothing is written into the repository. ``EDGEGUARD_FUZZ_EXAMPLES=2000`` runs a long random hunt.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_HUNT = int(os.environ.get("EDGEGUARD_FUZZ_EXAMPLES", "0"))
settings.register_profile(
    "edgeguard-fuzz",
    max_examples=_HUNT or 60,
    deadline=None,
    derandomize=not _HUNT,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("edgeguard-fuzz")
