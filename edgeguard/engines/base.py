"""The Engine protocol (Polygraphy-runner style): ``with engine: outputs = engine(batch)``.

Engines know nothing about models or defenses: they take named arrays and return named arrays, check
inputs by name/dtype/shape (the message names all three), and record the wall time of every call.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_finite
from ..errors import InputError
from ..manifest import Manifest


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype and shape of an engine input/output; ``None`` in ``shape`` marks a dynamic axis."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {np.dtype(self.dtype).name} ({dims})"


class Engine(ABC):
    """Base class for inference engines.

    Subclasses implement :meth:`_load`, :meth:`_unload` and :meth:`_run`; the base class validates
    inputs, times calls and manages the context.
    """

    manifest: Manifest | None = None
    provider: str = ""
    TIMING_WINDOW = 8192

    def __init__(self) -> None:
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []
        # The file's own key/value metadata (ONNX metadata_props), e.g. Ultralytics' names/imgsz/stride.
        self.metadata: dict[str, str] = {}
        # Bounded: a camera loop calls the engine forever; the newest TIMING_WINDOW calls are kept.
        self.timings_ms: deque[float] = deque(maxlen=self.TIMING_WINDOW)
        self._active = False

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Engine:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def activate(self) -> None:
        if not self._active:
            self._load()
            self._active = True

    def deactivate(self) -> None:
        if self._active:
            self._unload()
            self._active = False

    @property
    def active(self) -> bool:
        return self._active

    # -- inference ----------------------------------------------------------------------------
    def __call__(self, feed: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch. A bare array is fed to the single input."""
        if not self._active:
            self.activate()
        if not isinstance(feed, Mapping):
            feed = {self.inputs[0].name: feed}
        feed = self.validate(feed)
        t0 = time.perf_counter()
        out = self._run(feed)
        self.timings_ms.append((time.perf_counter() - t0) * 1e3)
        return out

    @property
    def last_ms(self) -> float:
        return self.timings_ms[-1] if self.timings_ms else float("nan")

    def validate(self, feed: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Check names, dtypes, shapes and finiteness; returns contiguous arrays."""
        expected = {s.name: s for s in self.inputs}
        unknown = sorted(set(feed) - set(expected))
        missing = sorted(set(expected) - set(feed))
        if unknown or missing:
            want = "; ".join(s.describe() for s in self.inputs)
            raise InputError(f"engine inputs: got {sorted(feed)}, expected {want}")
        out = {}
        for name, value in feed.items():
            spec = expected[name]
            arr = np.asarray(value)
            ok_rank = arr.ndim == len(spec.shape)
            ok_dims = ok_rank and all(d is None or d == a for d, a in zip(spec.shape, arr.shape))
            if arr.dtype != spec.dtype or not ok_dims:
                raise InputError(
                    f"engine input {name!r}: got {arr.dtype.name} {tuple(arr.shape)}, "
                    f"expected {spec.describe()}"
                )
            check_finite(arr, name=f"engine input {name!r}")
            out[name] = np.ascontiguousarray(arr)
        return out

    @abstractmethod
    def _load(self) -> None: ...

    @abstractmethod
    def _unload(self) -> None: ...

    @abstractmethod
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...
