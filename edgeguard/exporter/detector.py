"""``export --detector``: fuse a feature-squeezing detector into the graph and set its threshold τ.

The graph gets a second output ``adv_score`` (:mod:`edgeguard.defenses.squeeze`; for a detector, the
change of its per-anchor class score map, :class:`~edgeguard.defenses.squeeze.DetectionSqueeze`). τ is the
``(1 − FPR)`` quantile of the scores of clean calibration images, computed on the *written* engine's
own outputs in onnxruntime — after any FP16/INT8 lowering, so every precision gets the τ of its own
scores. The calibration set is ``--detector-calib DIR`` or, for the bundled sign models, the sign
renderer's validation draw (base seed ``VAL_SEED``, disjoint from the ``TEST_SEED`` images the
evaluations hold out), for the ``persons`` detector clean rendered surveillance scenes of its validation
seed (``PERSONS_VAL_SEED``, disjoint from the test scenes). τ, the FPR, the spec and the set's size
and hash go into the manifest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .. import manifest
from ..checks import check_path
from ..errors import ConfigError

OUTPUT = "adv_score"
DEFAULT_FPR = 0.05
# Rendered clean images τ is set on for the sign models: at FPR 0.05 the flagged fraction of new clean
# images is then 0.05 ± 0.01 (one binomial standard error of the order statistic).
SIGN_CALIB_IMAGES = 500
SIGN_MODELS = (
    "signs",
    "signs-resnet",
    "signs-denoise",
    "signs-resnet-denoise",
    "signs-roa",
    "signs-resnet-roa",
)
# Rendered clean scenes τ is set on for the embedded person detector (each costs 1 + k detector
# forwards at export; 300 put the 5 % order statistic within ±1.3 % of its target, one standard error).
PERSON_MODELS = ("persons", "person-detector")
PERSON_CALIB_SCENES = 300
BATCH = 64


@dataclass(frozen=True)
class DetectorOptions:
    """A validated ``--detector`` request (built by :func:`check_options` before any export work)."""

    spec: str
    fpr: float
    calib: Path | None


def check_options(detector: Any, fpr: Any, calib: Any, model: str) -> DetectorOptions | None:
    """Validate ``--detector``, ``--detector-fpr`` and ``--detector-calib`` (``None``: no detector).

    Raises:
        ConfigError: a bad spec, FPR or folder; an ``.onnx`` model; no calibration set for the model.
    """
    from ..defenses.squeeze import check_fpr
    from ..registry import DETECTORS

    if detector is None:
        if calib is not None:
            raise ConfigError("--detector-calib needs --detector (e.g. --detector squeeze:bits=4,median=2x2)")
        return None
    if not isinstance(detector, str):
        raise ConfigError(f"--detector {detector!r}: expected a spec such as squeeze:bits=4,median=2x2")
    spec = DETECTORS.canonical(detector)
    DETECTORS.from_spec(spec)  # the squeezers' own parameters are checked now
    fpr = check_fpr(fpr)
    if str(model).endswith(".onnx"):
        raise ConfigError(
            "--detector with an .onnx MODEL is not supported: the squeezed views must run through the "
            "model's torch source; export the torch model (edgeguard export NAME --detector …) instead"
        )
    if calib is not None:
        from .quantize import list_images

        list_images(check_path(calib, what="--detector-calib"))  # missing/empty folder → ConfigError
        return DetectorOptions(spec, fpr, Path(calib))
    if str(model) not in SIGN_MODELS + PERSON_MODELS:
        raise ConfigError(
            f"--detector on {model!r} needs --detector-calib DIR (clean images of the deployment "
            f"domain, to set the threshold at --detector-fpr); only the sign models and persons have a "
            f"default set"
        )
    return DetectorOptions(spec, fpr, None)


def wrap(
    f: nn.Module,
    opts: DetectorOptions,
    defenses: list[str],
    size: tuple[int, int],
    task: str = "classification",
) -> nn.Module:
    """The module to trace: ``f`` with the squeezers of ``opts`` (a redundant squeezer is refused);
    a detection model's score compares class score maps (:class:`DetectionSqueeze`)."""
    from ..defenses.squeeze import DetectionSqueeze, SqueezeDetector, from_spec, refuse_redundant

    squeezers = from_spec(opts.spec)
    refuse_redundant(squeezers, defenses, size)
    if task == "detection":
        return DetectionSqueeze(f, squeezers).eval()
    return SqueezeDetector(f, squeezers).eval()


def calibration_images(opts: DetectorOptions, data: manifest.Manifest) -> tuple[np.ndarray, str, str]:
    """Clean images for τ as the engine's input ``(N, 3, H, W)`` float32, a description and sha256."""
    if opts.calib is not None:
        from .quantize import folder_digest, list_images, load_batch

        files = list_images(opts.calib)
        return load_batch(files, data), f"folder {opts.calib.name}", folder_digest(opts.calib, files)
    if data.task == "detection":
        return scene_images(data)
    from ..data.dataset import VAL_SEED, SignDataset, render_arrays

    h, w = data.input.size
    if h != w:
        raise ConfigError(
            f"--detector: the sign renderer draws square images; pass --detector-calib DIR for {h}x{w}"
        )
    images, _ = render_arrays(SignDataset(SIGN_CALIB_IMAGES, seed=VAL_SEED, size=h))
    x = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
    if data.input.color == "BGR":
        x = np.ascontiguousarray(x[:, ::-1])
    digest = hashlib.sha256(images.tobytes()).hexdigest()
    return x, f"signs renderer seed {VAL_SEED}", digest


def scene_images(data: manifest.Manifest, n: int = PERSON_CALIB_SCENES) -> tuple[np.ndarray, str, str]:
    """Clean rendered surveillance scenes (``persons``' validation seed) as the engine's input."""
    from ..data.scene_sets import PERSONS_VAL_SEED, render_scene_set

    h, w = data.input.size
    if h != w:
        raise ConfigError(
            f"--detector: the scene renderer draws square images; pass --detector-calib DIR for {h}x{w}"
        )
    images = render_scene_set(n, seed=PERSONS_VAL_SEED, size=h).images
    x = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
    if data.input.color == "BGR":
        x = np.ascontiguousarray(x[:, ::-1])
    digest = hashlib.sha256(images.tobytes()).hexdigest()
    return x, f"surveillance scenes seed {PERSONS_VAL_SEED}", digest


def engine_scores(path: Path, x: np.ndarray, input_name: str = "input") -> np.ndarray:
    """The ``adv_score`` output of the engine at ``path`` (onnxruntime, CPU) on ``x``, in batches."""
    from ..engines.onnxruntime import OnnxRuntimeEngine

    with OnnxRuntimeEngine(path, provider="cpu") as engine:
        parts = [engine({input_name: x[i : i + BATCH]})[OUTPUT] for i in range(0, len(x), BATCH)]
    return np.concatenate(parts).reshape(-1)


def calibrate(path: Path, data: manifest.Manifest, opts: DetectorOptions) -> manifest.Manifest:
    """Set τ from the scores of the engine written at ``path``; return ``data`` with its detector part."""
    from ..defenses.squeeze import threshold_at_fpr

    x, source, digest = calibration_images(opts, data)
    tau = threshold_at_fpr(engine_scores(path, x, data.input.name), opts.fpr)
    det = manifest.Detector(
        output=OUTPUT,
        threshold=tau,
        spec=opts.spec,
        fpr=opts.fpr,
        calibration=manifest.DetectorCalibration(source=source, images=len(x), sha256=digest),
    )
    return replace(data, detector=det)
