"""Shared machinery of the host stages: the ``__call__`` contract, devices, seeds, parameter checks.

A host stage is a non-traceable defense that runs between preprocess and the engine (see
ARCHITECTURE.md, "One data path"). Every stage takes a ``(B, 3, H, W)`` float batch in [0, 1] as a
torch tensor *or* a numpy array and returns the same type, dtype, shape (and torch device). The work
itself is written once, either on a float32 torch tensor on ``self.device`` (TV solvers, DIP) or on a
float32 numpy array (the OpenCV stages); :class:`HostStage` does the conversions, the input guards,
the empty batch, the clamp to [0, 1] and the timing.

torch is imported only by the stages whose ``backend`` is ``"torch"``, when one is created: the
numpy stages (``nlm``, ``jpeg``, ``kmeans``) run on the runtime install, which has no torch, and a
torch stage there fails with one line naming the extra to install (:mod:`edgeguard.extras`).
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..checks import check_image_batch
from ..errors import ConfigError
from ..extras import require
from ..spec import format_spec, parse_value

if TYPE_CHECKING:
    import torch

Batch = Any  # torch.Tensor | np.ndarray, (B, 3, H, W) float in [0, 1]


def _is_torch_tensor(x: Any) -> bool:
    # A torch tensor can only exist once its maker imported torch: never import it just to check.
    torch_mod = sys.modules.get("torch")
    return torch_mod is not None and isinstance(x, torch_mod.Tensor)


# Upper bound for iteration-count parameters (tvm, rof, dip): a typo such as iters=100000000 must be a
# ConfigError naming the range, not a run that never returns (issue #10).
MAX_ITERS = 100_000
# Smallest TV weight (tvm lam, rof weight): Chambolle's iteration divides by it, and a subnormal weight
# such as 2e-311 turned every output pixel into NaN (found by tests/fuzz).
MIN_TV_WEIGHT = 1e-6


def check_number(
    stage: str,
    name: str,
    value: Any,
    *,
    integer: bool = False,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float | int:
    """Validate one numeric parameter and return it as ``int``/``float``.

    Args:
        stage: stage name for the message.
        name: parameter name for the message.
        value: the value given by the user.
        integer: require an integer.
        lo, hi: bounds (``None`` = unbounded); ``lo_open``/``hi_open`` exclude the bound itself.

    Returns:
        The value as ``int`` (``integer=True``) or ``float``.

    Raises:
        ConfigError: wrong type or out of range, in one line that names the allowed range.
    """
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok_type:
        raise ConfigError(f"{stage}: {name} must be {kind} in {rng}, got {value!r}")
    v = int(value) if integer else float(value)
    bad_lo = lo is not None and (v <= lo if lo_open else v < lo)
    bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
    if bad_lo or bad_hi or (not integer and not np.isfinite(v)):
        raise ConfigError(f"{stage}: {name} must be {kind} in {rng}, got {value!r}")
    return v


def check_seed(stage: str, seed: Any) -> int | None:
    """``None`` (fresh entropy per stage) or a non-negative integer seed."""
    if seed is None:
        return None
    return int(check_number(stage, "seed", seed, integer=True, lo=0))


@contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Run with one torch intra-op thread, then restore the caller's setting.

    The torch stages run many short ops (TV iterations on one frame, a small DIP network): too
    short to split across threads. Measured on the 2-core dev machine: 100 ROF iterations on two
    224×224 images take 0.32 s on 1 thread vs 1.27 s on 2; 100 DIP iterations at 64×64 take 11 vs
    21 ms each (and 5× worse on 2 threads when other processes compete for the cores).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def number_shorthand(
    stage: str, key: str, what: str, example: str, *, integer: bool
) -> Callable[[str], dict[str, Any]]:
    """A registry shorthand parser for one numeric parameter (``jpeg:75`` → ``{"quality": 75}``)."""

    def parse(text: str) -> dict[str, Any]:
        v = parse_value(text)
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok:
            raise ConfigError(f"{stage}:{text}: expected {what}, e.g. {example}")
        return {key: v if integer else float(v)}

    return parse


class HostStage:
    """Base class of every host stage.

    Subclasses set the class attributes, validate their parameters in ``__init__``, fill
    ``self.params`` (the keyword parameters that rebuild the stage, used for :attr:`spec`) and
    implement the body their ``backend`` names (checked when the subclass is defined):
    ``_run_torch(x, info) -> tensor`` on a float32 ``(B, 3, H, W)`` tensor on ``self.device``, or
    ``_run_numpy(x, info) -> array`` on a float32 ``(B, 3, H, W)`` array on the CPU. Either may add
    keys to ``info``, which becomes ``last_info``.

    Attributes:
        name: registry name.
        realtime: cheap enough for the always-on path of a camera loop.
        random: the output depends on a random draw (attack it with EOT).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:N"``).
        params: the parameters that rebuild this stage (``spec`` is made from them).
        last_info: what the last call did (``stage``, ``batch``, ``seconds``, ``device`` and
            stage-specific keys).
    """

    name: ClassVar[str] = ""
    realtime: ClassVar[bool] = True
    random: ClassVar[bool] = False
    backend: ClassVar[str] = "torch"  # "torch": _run_torch on self.device; "numpy": _run_numpy on CPU
    cpu_only: ClassVar[str] = ""  # non-empty: why the stage has no CUDA path (device="cuda" is refused)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The body a stage implements is fixed by its ``backend``; checking at class definition turns
        # a missing or mismatched body into an error when the module is imported, not at call time.
        super().__init_subclass__(**kwargs)
        if not cls.name:
            return  # an intermediate base class
        want, other = ("_run_torch", "_run_numpy") if cls.backend == "torch" else ("_run_numpy", "_run_torch")
        if cls.backend not in ("torch", "numpy") or not callable(getattr(cls, want, None)):
            raise TypeError(f"stage {cls.name!r}: backend {cls.backend!r} needs a {want} method")
        if hasattr(cls, other):
            raise TypeError(f"stage {cls.name!r}: backend {cls.backend!r} must not define {other}")

    def __init__(self, *, device: str = "cpu", seed: int | None = None) -> None:
        if self.backend == "torch":
            require("torch", what=f"stage {self.name!r}")
        self.device = self._check_device(device)
        self.seed = check_seed(self.name, seed)
        self.params: dict[str, Any] = {}
        self.last_info: dict[str, Any] = {}
        self._rng = self._generator(self.seed)

    def _generator(self, seed: int | None) -> torch.Generator | None:
        """The CPU generator of a torch stage's random draws (``None`` for numpy stages, which draw
        nothing from it)."""
        if self.backend != "torch":
            return None
        import torch

        gen = torch.Generator()
        if seed is None:
            gen.seed()  # fresh OS entropy: an attacker cannot predict the draw
        else:
            gen.manual_seed(int(seed))
        return gen

    # -- configuration ------------------------------------------------------------------------
    def _check_device(self, device: Any) -> str:
        if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
            raise ConfigError(f"{self.name}: device must be 'cpu' or 'cuda', got {device!r}")
        if device.startswith("cuda") and self.cpu_only:
            raise ConfigError(f"{self.name}: device {device!r} requested but {self.cpu_only}; use device=cpu")
        if device.startswith("cuda") and not self._cuda_available():
            raise ConfigError(
                f"{self.name}: device {device!r} requested but {self._cuda_missing()}; use device=cpu"
            )
        return device

    def _cuda_available(self) -> bool:
        if self.backend != "torch":
            return False  # numpy stages with a CUDA path (OpenCV's) override this
        import torch

        return torch.cuda.is_available()

    def _cuda_missing(self) -> str:
        return "torch sees no CUDA device"

    @property
    def spec(self) -> str:
        """Canonical ``name:key=value,...`` text (manifests); ``from_spec(stage.spec)`` rebuilds it."""
        shown = {k: v for k, v in self.params.items() if v is not None}
        if self.seed is not None:
            shown["seed"] = self.seed
        if self.device != "cpu":
            shown["device"] = self.device
        return format_spec(self.name, shown)

    def reseeded(self, seed: int) -> HostStage:
        """A copy of this stage whose random draws restart from ``seed`` (EOT draws, tests)."""
        other = copy.copy(self)
        other.seed = check_seed(self.name, seed)
        other.last_info = {}
        other._rng = other._generator(other.seed)
        return other

    def __repr__(self) -> str:
        return f"<stage {self.spec}>"

    # -- the call contract --------------------------------------------------------------------
    def __call__(self, batch: Batch) -> Batch:
        """Apply the stage.

        Args:
            batch: ``(B, 3, H, W)`` float torch tensor or numpy array in [0, 1], RGB.

        Returns:
            The purified batch: same type, dtype, shape (and torch device), values in [0, 1].

        Raises:
            InputError: wrong rank/channels/dtype, NaN/Inf, values outside [0, 1].

        Shape:
            (B, 3, H, W) → (B, 3, H, W)
        """
        is_torch = _is_torch_tensor(batch)
        check_image_batch(batch.detach() if is_torch else batch, name=f"stage {self.name}")
        t0 = time.perf_counter()
        info: dict[str, Any] = {}
        if batch.shape[0] == 0:
            out = batch.detach().clone() if is_torch else batch.copy()
            self.last_info = {"stage": self.name, "batch": 0, "seconds": 0.0, "device": self.device}
            return out
        if self.backend == "torch":
            import torch

            x = batch.detach() if is_torch else torch.from_numpy(np.ascontiguousarray(batch))
            x = x.to(self.device, torch.float32)
            threads = nullcontext() if self.device.startswith("cuda") else one_cpu_thread()
            with torch.no_grad(), threads:
                y = self._run_torch(x, info).clamp_(0.0, 1.0)  # type: ignore[attr-defined]
            if is_torch:
                out = y.to(batch.device, batch.dtype)
            else:
                out = y.cpu().numpy().astype(batch.dtype, copy=False)
        else:
            x_np = batch.detach().cpu().numpy() if is_torch else batch
            body = self._run_numpy  # type: ignore[attr-defined]
            y_np = np.clip(body(np.ascontiguousarray(x_np, dtype=np.float32), info), 0.0, 1.0)
            if is_torch:
                import torch  # already loaded: the caller made a tensor

                out = torch.from_numpy(y_np).to(batch.device, batch.dtype)
            else:
                out = y_np.astype(batch.dtype)
        self.last_info = {
            "stage": self.name,
            "batch": int(batch.shape[0]),
            "seconds": time.perf_counter() - t0,
            "device": self.device,
            **info,
        }
        return out


def to_uint8_hwc(img: np.ndarray, *, bgr: bool = True) -> np.ndarray:
    """``(3, H, W)`` float RGB in [0, 1] → ``(H, W, 3)`` uint8 (round half to even, clip), BGR by default.

    OpenCV's colour functions (Lab in NL-means, YCrCb in JPEG) assume BGR channel order.
    """
    u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return np.ascontiguousarray(u8[..., ::-1] if bgr else u8)


def from_uint8_hwc(img: np.ndarray, *, bgr: bool = True) -> np.ndarray:
    """Inverse of :func:`to_uint8_hwc`: ``(H, W, 3)`` uint8 → ``(3, H, W)`` float32 RGB in [0, 1]."""
    rgb = img[..., ::-1] if bgr else img
    return np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)
