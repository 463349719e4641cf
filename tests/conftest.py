"""Shared fixtures: real photographs (skimage's bundled data), a CLI runner in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeguard.samples import photo_batch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def photos() -> torch.Tensor:
    """Four real photos, 64×80 (non-square on purpose), float32 in [0, 1]."""
    return torch.from_numpy(photo_batch(4, (64, 80)))


@pytest.fixture(scope="session")
def photos224() -> np.ndarray:
    return photo_batch(2, (224, 224))


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``edgeguard ARGS`` in a fresh interpreter, capturing text output."""
    code = "import sys; from edgeguard.cli.app import main; sys.argv[0] = 'edgeguard'; main()"
    env = dict(os.environ, COLUMNS="200", EDGEGUARD_DEBUG="")
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def cli():
    return run_cli
