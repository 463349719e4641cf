"""Run a library attack that draws from global random state as if it drew from our generator.

foolbox 3.3.4 (via eagerpy), ART 1.20.1 (``random.sample`` in UAP, numpy in others) and torchattacks
3.5.1 (``torch.random.manual_seed`` in Square) take no generator argument: they draw from — and
sometimes reseed — the process-wide torch, numpy and Python ``random`` states. :func:`seeded` derives
one seed from the caller's ``torch.Generator``, seeds all three inside the block and restores the
caller's global states afterwards, so an attack called with the same generator gives the same result
and leaves no trace on anyone else's random numbers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def draw_seed(generator: torch.Generator | None) -> int:
    """One 62-bit seed drawn from ``generator`` (torch's global generator when ``None``)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator))


@contextmanager
def preserved() -> Iterator[None]:
    """Restore torch's (CPU, and CUDA once initialised), numpy's and ``random``'s global states after
    the block: a library that draws from or reseeds them leaves no trace."""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    devices = list(range(torch.cuda.device_count())) if cuda else []
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@contextmanager
def seeded(generator: torch.Generator | None) -> Iterator[int]:
    """Seed torch, numpy and ``random`` from ``generator`` inside the block; restore them after.

    Yields:
        the seed used (for libraries that take an explicit ``seed=``).
    """
    seed = draw_seed(generator)
    with preserved():
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        yield seed


__all__ = ["draw_seed", "preserved", "seeded"]
