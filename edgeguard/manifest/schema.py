"""The manifest's parts as typed, frozen dataclasses (the schema of manifest version 3).

Field order is the order in the JSON file. Every file holds every field (the writer always writes all;
older versions are completed by their migration in ``versions.py``); defaults exist for building a
manifest in Python. Parts are immutable: change one with :func:`dataclasses.replace`, which validates
again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ._fields import Part, bare_file_name, sha256_hex

Task = Literal["classification", "detection"]
PrecisionMode = Literal["fp32", "fp16", "int8"]
Resize = Literal["stretch", "letterbox"]
TASKS: tuple[str, ...] = ("classification", "detection")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
MIN_SIDE, MAX_SIDE = 8, 8192
MIN_OPSET, MAX_OPSET = 13, 30


def _fraction(part: type[Part], name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise part.fail(name, f"expected a fraction in 0..1, got {value!r}")


def _non_negative(part: type[Part], names: tuple[str, ...], obj: Any) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise part.fail(name, f"expected a value ≥ 0, got {getattr(obj, name)!r}")


def _strings(part: type[Part], name: str, values: tuple[str, ...]) -> None:
    for i, v in enumerate(values):
        if not v:
            raise part.fail(f"{name}[{i}]", "expected a non-empty string")


@dataclass(frozen=True, kw_only=True)
class InputSpec(Part):
    """The engine input: one float32 NCHW tensor of RGB (or BGR) pixels in ``range``.

    ``resize`` says how a frame becomes ``size``: ``stretch`` (resized to it, aspect not kept: the
    classifiers) or ``letterbox`` (aspect kept, centred, the rest filled with ``pad_value``: how
    Ultralytics feeds YOLO detectors, so their boxes map back to frame pixels). ``stride`` is the
    network's largest stride (``size`` must be a multiple of it) or ``None`` when unknown.
    """

    WHERE = "input"
    name: str = "input"
    size: tuple[int, int]
    color: Literal["RGB", "BGR"] = "RGB"
    layout: Literal["NCHW"] = "NCHW"
    range: tuple[float, float] = (0.0, 1.0)
    dtype: Literal["float32"] = "float32"
    dynamic_batch: bool = True
    resize: Resize = "stretch"
    pad_value: int = 114
    stride: int | None = None

    def check(self) -> None:
        if not self.name:
            raise self.fail("name", "expected a non-empty string")
        if not 0 <= self.pad_value <= 255:
            raise self.fail("pad_value", f"expected a pixel value 0..255, got {self.pad_value}")
        if self.stride is not None and not (
            1 <= self.stride <= 1024 and all(s % self.stride == 0 for s in self.size)
        ):
            raise self.fail(
                "stride", f"expected 1..1024 dividing the input size {list(self.size)}, got {self.stride}"
            )
        if not all(MIN_SIDE <= s <= MAX_SIDE for s in self.size):
            raise self.fail(
                "size", f"expected [H, W] integers in {MIN_SIDE}..{MAX_SIDE}, got {list(self.size)}"
            )
        if not self.range[0] < self.range[1]:
            raise self.fail("range", f"expected [low, high] with low < high, got {list(self.range)}")


@dataclass(frozen=True, kw_only=True)
class Normalize(Part):
    """Per-channel ``(x - mean) / std`` inside the engine (identity by default)."""

    WHERE = "normalize"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def check(self) -> None:
        if not all(s > 0 for s in self.std):
            raise self.fail("std", f"all values must be > 0, got {list(self.std)}")


@dataclass(frozen=True, kw_only=True)
class DetectorCalibration(Part):
    """The clean images the detector threshold was set on (``exporter.detector``)."""

    WHERE = "detector.calibration"
    source: str
    images: int
    sha256: str

    def check(self) -> None:
        if not self.source:
            raise self.fail("source", "expected a non-empty description of the calibration set")
        if self.images < 1:
            raise self.fail("images", f"expected at least 1 calibration image, got {self.images}")
        sha256_hex(self.sha256, self.field("sha256"))


@dataclass(frozen=True, kw_only=True)
class Detector(Part):
    """An adversarial-score output: a frame is flagged when its score exceeds ``threshold``.

    ``spec`` (``squeeze:bits=4,median=2x2``), ``fpr`` (the false-positive rate ``threshold`` was
    chosen for on clean images) and ``calibration`` (those images) are set by ``edgeguard export
    --detector`` (manifest version 4); ``None`` in older files.
    """

    WHERE = "detector"
    output: str
    threshold: float
    spec: str | None = None
    fpr: float | None = None
    calibration: DetectorCalibration | None = None

    def check(self) -> None:
        if not self.output:
            raise self.fail("output", "expected a non-empty output name")
        if self.spec is not None and not self.spec:
            raise self.fail("spec", "expected null or a detector spec such as squeeze:bits=4,median=2x2")
        if self.fpr is not None and not 0.0 <= self.fpr < 1.0:
            raise self.fail("fpr", f"expected a false-positive rate in [0, 1), got {self.fpr!r}")


@dataclass(frozen=True, kw_only=True)
class Masking(Part):
    """Certified masking (``edgeguard export --masking``, manifest version 5): the graph also outputs
    the logits of every one-masked copy of the frame, ``output`` (B, ``count``, C).

    ``patch`` is the sticker side as a fraction of the sign face, ``face`` the face side as a fraction of
    the crop; the masks are ``mask_px`` squares every ``stride_px`` pixels, ``per_axis`` along H and W,
    filled with ``fill`` (:mod:`edgeguard.defenses.masking`).
    """

    WHERE = "masking"
    output: str = "mask_logits"
    patch: float
    face: float
    patch_px: int
    mask_px: int
    stride_px: int
    per_axis: tuple[int, int]
    masks: int
    count: int
    fill: float

    def check(self) -> None:
        if not self.output:
            raise self.fail("output", "expected a non-empty output name")
        if not 0.0 < self.patch < 1.0:
            raise self.fail("patch", f"expected a fraction 0 < patch < 1, got {self.patch!r}")
        if not 0.0 < self.face <= 1.0:
            raise self.fail("face", f"expected a fraction 0 < face <= 1, got {self.face!r}")
        if not 1 <= self.patch_px <= self.mask_px or self.stride_px < 1:
            raise self.fail("mask_px", "expected 1 <= patch_px <= mask_px and stride_px >= 1")
        if self.mask_px != self.patch_px + self.stride_px - 1:
            raise self.fail("mask_px", "expected patch_px + stride_px - 1 (an R-covering mask set)")
        if min(self.per_axis) < 1 or self.count != self.per_axis[0] * self.per_axis[1]:
            raise self.fail("count", f"expected per_axis[0] * per_axis[1], got {self.count}")
        _fraction(type(self), "fill", self.fill)


@dataclass(frozen=True, kw_only=True)
class Seeker(Part):
    """Certified masking for a detector (ObjectSeeker; ``edgeguard export DETECTOR --masking lines=30``,
    manifest version 6): the graph also outputs the raw heads of the frame's ``count = 4 · lines``
    split-masked copies, ``output`` (B, ``count``, 4 + nc, N), masked pixels set to ``fill``; the host
    merge keeps masked boxes above ``masked_conf`` (τ_mask) and prunes those a base box covers with IoA
    ≥ ``prune`` (:mod:`edgeguard.seeker`)."""

    WHERE = "seeker"
    output: str = "masked_heads"
    lines: int
    count: int
    fill: float
    masked_conf: float = 0.8
    prune: float = 0.6

    def check(self) -> None:
        if not self.output:
            raise self.fail("output", "expected a non-empty output name")
        if self.lines < 1:
            raise self.fail("lines", f"expected at least 1 split line per axis, got {self.lines}")
        if self.count != 4 * self.lines:
            raise self.fail("count", f"expected 4 · lines = {4 * self.lines}, got {self.count}")
        for name in ("fill", "masked_conf", "prune"):
            _fraction(type(self), name, getattr(self, name))


@dataclass(frozen=True, kw_only=True)
class PrecisionParity(Part):
    """How an FP16/INT8 graph compared with the FP32 one at export (``exporter.precision``)."""

    WHERE = "precision.parity"
    images: int
    max_abs: float
    max_rel: float
    top1_agreement: float
    min_agreement: float
    tolerance: float | None = None

    def check(self) -> None:
        _non_negative(type(self), ("images", "max_abs", "max_rel"), self)
        _fraction(type(self), "top1_agreement", self.top1_agreement)
        _fraction(type(self), "min_agreement", self.min_agreement)


@dataclass(frozen=True, kw_only=True)
class Calibration(Part):
    """Where the INT8 ranges came from (``exporter.quantize``)."""

    WHERE = "precision.calibration"
    folder: str
    images: int
    sha256: str
    method: str
    symmetric: bool
    per_channel: bool
    excluded_nodes: int
    warning: str | None = None

    def check(self) -> None:
        if self.images < 1:
            raise self.fail("images", f"expected at least 1 calibration image, got {self.images}")
        _non_negative(type(self), ("excluded_nodes",), self)
        sha256_hex(self.sha256, self.field("sha256"))


@dataclass(frozen=True, kw_only=True)
class Precision(Part):
    """The graph's numeric precision and, when lowered from FP32, the evidence that it still agrees."""

    WHERE = "precision"
    mode: PrecisionMode = "fp32"
    parity: PrecisionParity | None = None
    calibration: Calibration | None = None

    def check(self) -> None:
        if self.calibration is not None and self.mode != "int8":
            raise self.fail("calibration", f"only an int8 graph is calibrated, this one is {self.mode}")


@dataclass(frozen=True, kw_only=True)
class Source(Part):
    """The model the engine was exported from."""

    WHERE = "provenance.source"
    model: str | None = None
    weights: str | None = None
    init: str | None = None
    sha256: str | None = None

    def check(self) -> None:
        sha256_hex(self.sha256, self.field("sha256"))


@dataclass(frozen=True, kw_only=True)
class Parity(Part):
    """Export-time parity of the ONNX graph against torch (``exporter.parity``)."""

    WHERE = "provenance.parity"
    images: int
    max_abs: float
    max_rel: float
    tolerance: float | None = None
    top1_agreement: float = 1.0

    def check(self) -> None:
        _non_negative(type(self), ("images", "max_abs", "max_rel"), self)
        _fraction(type(self), "top1_agreement", self.top1_agreement)


@dataclass(frozen=True, kw_only=True)
class Provenance(Part):
    """Where the engine came from: source model and hash, tool versions, parity at export."""

    WHERE = "provenance"
    source: Source = field(default_factory=Source)
    versions: dict[str, str] = field(default_factory=dict)
    parity: Parity | None = None


@dataclass(frozen=True, kw_only=True)
class TensorRTDevice(Part):
    WHERE = "tensorrt.device"
    name: str
    compute_capability: str


@dataclass(frozen=True, kw_only=True)
class TensorRTProfile(Part):
    """Optimisation-profile batch sizes ``min ≤ opt ≤ max``."""

    WHERE = "tensorrt.profile"
    min: int
    opt: int
    max: int

    def check(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise self.fail("min", f"expected 1 ≤ min ≤ opt ≤ max, got {self.min}, {self.opt}, {self.max}")


@dataclass(frozen=True, kw_only=True)
class TensorRTBuild(Part):
    """How a TensorRT plan was built (a plan's sidecar only); a differing one makes the plan stale."""

    WHERE = "tensorrt"
    version: str
    onnx: str
    onnx_sha256: str
    device: TensorRTDevice
    precision: PrecisionMode
    strongly_typed: bool
    flags: tuple[str, ...] = ()
    profile: TensorRTProfile
    workspace_mb: int
    build_seconds: float

    def check(self) -> None:
        bare_file_name(self.onnx, self.field("onnx"))
        sha256_hex(self.onnx_sha256, self.field("onnx_sha256"))
        if self.workspace_mb < 1:
            raise self.fail("workspace_mb", f"expected ≥ 1, got {self.workspace_mb}")
        _non_negative(type(self), ("build_seconds",), self)


@dataclass(frozen=True, kw_only=True)
class Manifest(Part):
    """Everything that describes a deployed pipeline. See :mod:`edgeguard.manifest`."""

    UNKNOWN_HINT = "; free-form data belongs under 'extra'"
    task: Task = "classification"
    input: InputSpec
    normalize: Normalize = field(default_factory=Normalize)
    outputs: tuple[str, ...] = ("logits",)
    labels: tuple[str, ...] | None = None
    defenses: tuple[str, ...] = ()
    host_stages: tuple[str, ...] = ()
    detector: Detector | None = None
    masking: Masking | None = None
    seeker: Seeker | None = None
    precision: Precision = field(default_factory=Precision)
    opset: int = 17
    provenance: Provenance = field(default_factory=Provenance)
    tensorrt: TensorRTBuild | None = None
    engine: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if not self.outputs:
            raise self.fail("outputs", "expected at least one output name")
        _strings(type(self), "outputs", self.outputs)
        if len(set(self.outputs)) != len(self.outputs):
            raise self.fail("outputs", "output names must be unique")
        if self.labels is not None and not self.labels:
            raise self.fail("labels", "expected null or a non-empty list")
        _strings(type(self), "defenses", self.defenses)
        _strings(type(self), "host_stages", self.host_stages)
        if self.detector is not None and self.detector.output not in self.outputs:
            raise self.fail("detector.output", f"{self.detector.output[:60]!r} is not one of the outputs")
        if self.masking is not None and self.masking.output not in self.outputs:
            raise self.fail("masking.output", f"{self.masking.output[:60]!r} is not one of the outputs")
        if self.masking is not None and self.masking.per_axis[0] > self.input.size[0]:
            raise self.fail("masking.per_axis", "more masks than pixel rows")
        if self.seeker is not None and self.seeker.output not in self.outputs:
            raise self.fail("seeker.output", f"{self.seeker.output[:60]!r} is not one of the outputs")
        if self.seeker is not None and self.seeker.lines >= min(self.input.size):
            raise self.fail("seeker.lines", "more split lines than pixel rows or columns")
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise self.fail("opset", f"expected an integer opset {MIN_OPSET}..{MAX_OPSET}, got {self.opset}")
        if self.engine is not None:
            bare_file_name(self.engine, "engine")

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the engine input."""
        return self.input.size
