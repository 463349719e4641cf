"""Random shapes, dtypes and values into Pipeline.run_batch and the defense functions.

The oracle: a typed InputError, or a result with the input's shape, finite and in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from edgeguard.defenses import bit_depth_reduce, gaussian_blur, median_smooth
from edgeguard.errors import InputError
from edgeguard.manifest import InputSpec, Manifest
from edgeguard.pipeline import Pipeline

NP_DTYPES = [np.float32, np.float64, np.float16, np.longdouble, np.uint8, np.int64, np.bool_, np.complex64]
TORCH_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8, torch.int32]
SHAPES = st.lists(st.integers(0, 9), min_size=0, max_size=5).map(tuple)
FILL = st.sampled_from(["uniform", "nan", "inf", "big", "negative", "zero"])


def _values(shape: tuple, fill: str, seed: int) -> np.ndarray:
    x = np.asarray(np.random.default_rng(seed).random(shape))
    if fill == "nan" and x.size:
        x.flat[0] = np.nan
    elif fill == "inf" and x.size:
        x.flat[-1] = np.inf
    elif fill == "big":
        x = np.asarray(x * 1e6)
    elif fill == "negative":
        x = np.asarray(-x)
    elif fill == "zero":
        x = np.zeros(shape)
    return x


def _make(shape, fill, seed, dtype, use_torch):
    x = _values(shape, fill, seed)
    with np.errstate(invalid="ignore", over="ignore"):
        if use_torch:
            return torch.from_numpy(x).to(dtype)
        return x.astype(dtype)


class _Engine:
    """Stand-in engine for an 8×8 classifier with 3 classes."""

    manifest = Manifest(input=InputSpec(size=(8, 8)))
    last_ms = 0.0

    def __call__(self, x):
        if x.shape[1:] != (3, 8, 8) or x.dtype != np.float32:
            raise InputError(f"engine input: got {x.dtype} {x.shape}")
        return {"logits": np.tile(np.arange(3, dtype=np.float32), (len(x), 1))}


BATCH = st.one_of(
    st.tuples(SHAPES, FILL, st.integers(0, 99), st.sampled_from(NP_DTYPES), st.just(False)),
    st.tuples(SHAPES, FILL, st.integers(0, 99), st.sampled_from(TORCH_DTYPES), st.just(True)),
    st.tuples(st.just((2, 3, 8, 8)), FILL, st.integers(0, 99), st.sampled_from(NP_DTYPES), st.just(False)),
)


@given(BATCH)
def test_run_batch(case):
    x = _make(*case)
    try:
        res = Pipeline(_Engine()).run_batch(x)
    except InputError as err:
        assert "\n" not in str(err)
        return
    assert len(res) == x.shape[0] and all(r.decision for r in res)


@given(
    BATCH,
    st.sampled_from(
        [
            lambda x: bit_depth_reduce(x, 3),
            lambda x: median_smooth(x, (3, 3)),
            lambda x: median_smooth(x, (2, 2)),
            lambda x: median_smooth(x, (5, 5)),
            lambda x: gaussian_blur(x, 1.0),
            lambda x: gaussian_blur(x, 2.0, 13),
        ]
    ),
)
def test_defense_functions(case, fn):
    x = _make(*case)
    try:
        y = fn(x)
    except InputError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(y, torch.Tensor) and y.shape == x.shape and y.dtype == x.dtype
    finite_in = bool(torch.isfinite(x.float()).all())
    if finite_in and x.numel() and float(x.min()) >= 0 and float(x.max()) <= 1:
        yf = y.float()
        assert bool(torch.isfinite(yf).all()) and float(yf.min()) >= -1e-3 and float(yf.max()) <= 1 + 1e-3
