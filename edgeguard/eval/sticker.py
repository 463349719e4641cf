"""Optimise an RP2 sticker for a deployed configuration and measure it (``edgeguard attack rp2``).

The stop sign's face comes from the sign templates (:func:`edgeguard.data.templates.render_sign`, the
same source as the renderer and the drive-by camera). The attacked model is the configuration as
deployed: with defenses or host stages the gradient attack runs through ``eval.attackable(...).full``
(straight-through rounding, BPDA host stages, EOT over random stages: the adaptive attack), with a
detector through ``.joint`` with a penalty above its threshold τ; ``query > 0`` instead runs the
query-only cell search on the real deployed ``Pipeline`` (an eval :class:`~.oracle.Oracle`).

The sticker's success is measured over ``views`` fresh viewing conditions (a generator seeded apart
from the optimisation's) on the deployed pipeline when it was deployed (query mode), else on the torch
copy of it (``full``, equal to the onnxruntime pipeline within float tolerance for deterministic
configurations, tests/eval/test_attackable.py).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..attacks import sticker as st
from ..attacks.physical import Conditions
from ..attacks.rp2 import resolve_target, rp2, success
from ..attacks.rp2_query import rp2_query
from ..errors import ConfigError
from .config import Config

FACE_SCALE = 2  # the face is rendered at twice the model's input side (the warp only shrinks it)
MEASURE_SEED_OFFSET = 1_000_003  # fresh viewing conditions: not the optimisation's draws


@dataclass
class StickerResult:
    """The sticker as RGBA (alpha 255 on the sticker, 0 elsewhere, face resolution) and its record."""

    rgba: np.ndarray
    stickered: np.ndarray
    meta: dict[str, Any]


def model_facts(config: Config) -> tuple[list[str] | None, int]:
    """The model's labels and input side (from the registry, or the engine's manifest)."""
    if config.is_engine:
        from ..engines.onnxruntime import read_onnx_manifest

        m = read_onnx_manifest(Path(config.model))
        if m is None:
            raise ConfigError(f"{config.model}: no edgeguard manifest (labels and input size unknown)")
        return (list(m.labels) if m.labels else None), int(m.input.size[0])
    from .. import models

    entry = models.REGISTRY.get(config.model) if config.model in models.REGISTRY else None
    if entry is None:
        raise ConfigError(f"attack rp2: {config.model!r} is not a registry classifier or .onnx engine")
    labels = entry.extra.get("labels")
    return (list(labels) if labels else None), int(entry.extra.get("input_size", (224, 224))[0])


def stop_face(size: int, sign: str = "stop") -> tuple[torch.Tensor, torch.Tensor]:
    """``(1, 3, size, size)`` frontal face of ``sign`` in [0, 1] and its ``(1, 1, size, size)`` coverage."""
    from ..data.templates import render_sign

    rgb, mask = render_sign(sign, size)
    face = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255
    return face, torch.from_numpy(np.array(mask))[None, None].float() / 255


def check_plan(
    config: Config, *, target: str | None, mask: str, sign: str = "stop"
) -> tuple[list[str] | None, int, int | None, int]:
    """Validate everything an attack run needs before anything is computed or written.

    Returns ``(labels, input side, target index, true class index)``.

    Raises:
        ConfigError: an unknown target label, a mask off the sign, a sign the model cannot read.
    """
    labels, side = model_facts(config)
    t = resolve_target(target, labels)
    y = resolve_target(sign, labels) if labels else 0
    if t is not None and t == y:
        raise ConfigError(f"attack rp2: the target {target!r} is the sign's own class")
    if mask != "l1":
        _, alpha = stop_face(FACE_SCALE * side, sign)
        st.check_on_face(st.parse_mask(mask), alpha)
    return labels, side, t, int(y)  # type: ignore[arg-type]


def run(
    config: Config,
    *,
    target: str | None = None,
    mask: str = "bars",
    colours: str = "bw",
    steps: int = 200,
    eot: int = 8,
    query: int = 0,
    views: int = 200,
    seed: int = 0,
    masking: float | None = None,
    workdir: str | None = None,
) -> StickerResult:
    """Optimise a sticker on the stop sign for ``config`` and measure it.

    ``masking``: the certified-masking defense's patch side (fraction of the face); the gradient
    attack then knows its mask set (:class:`~.masking_vote.MaskVote`). For an engine exported with
    ``--masking`` the mask set comes from its manifest.

    Raises:
        ConfigError: bad parameters (checked before any optimisation).
    """
    from .attackable import attackable as make_attackable
    from .config import deploy

    if isinstance(views, bool) or not isinstance(views, int) or not 1 <= views <= 10_000:
        raise ConfigError(f"attack rp2: --views must be a whole number in 1..10000, got {views!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"attack rp2: --seed must be a whole number >= 0, got {seed!r}")
    labels, side, t, y_idx = check_plan(config, target=target, mask=mask)
    masks = mask_set_for(config, masking, side)  # validates the patch size before anything runs
    if query:
        if mask == "l1":
            raise ConfigError("attack rp2: the query search needs a fixed mask (bars, square or rectangles)")
        attack: Any = rp2_query(mask=mask, target=target, queries=query).with_labels(labels)
    else:
        attack = rp2(mask=mask, target=target, steps=steps, eot=eot, colours=colours).with_labels(labels)
    face, alpha = stop_face(FACE_SCALE * side)
    y = torch.tensor([y_idx])
    notes: list[str] = []
    tau = None
    if query:
        with tempfile.TemporaryDirectory() as tmp:
            found, measured, tau = _query_on(
                deploy(config, workdir or tmp), attack, face, y, t, alpha, side, views, seed
            )
            measured_on = "the deployed pipeline (onnxruntime)"
    else:
        made = make_attackable(config, seed=seed)
        if made.full is None:
            raise ConfigError(f"attack rp2: {config.name} has no white-box copy; use --query N")
        model = made.joint if made.joint is not None else made.full
        notes += made.notes
        masks = mask_set_for(config, masking, side)
        if masks is not None:
            from .masking_vote import MaskVote

            model = MaskVote(made.full, masks).eval()
            notes.append(
                f"masking-aware: mean log-probability over the frame and {masks.count} masked copies"
            )
        if made.joint is not None and masks is None:
            tau = _detector_tau(config, workdir)
            attack = replace(attack, tau=tau)
        found = attack.optimise(model, face, y, alpha=alpha, size=side, generator=_gen(seed))
        measured = _measure(model, found.apply(face), y, t, alpha, side, views, seed, tau)
        measured_on = "the torch copy of the deployed pipeline (eval.attackable)"
    mask_np = (found.mask[0, 0] > 0).numpy()
    colour = (found.colour[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    rgba = np.concatenate([colour, (mask_np * 255).astype(np.uint8)[..., None]], 2)
    rgba[~mask_np, :3] = 0
    stickered = (found.apply(face)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    meta = {
        "attack": attack.spec(),
        "config": {"model": config.model, "defenses": list(config.defenses), "stages": list(config.stages)},
        "sign": "stop",
        "target": None if t is None else {"index": t, "label": labels[t] if labels else str(t)},
        "mask": {
            "spec": st.mask_spec(found.rects),
            "rects_xyxy_face_fraction": [list(r) for r in found.rects],
        },
        "colours": [list(map(float, c)) for c in st.inks(colours if not query else "bw").tolist()],
        "face_px": int(face.shape[-1]),
        "input_px": side,
        "seed": seed,
        "masking": None if masks is None else masks.as_dict(),
        "conditions": {k: v for k, v in Conditions().__dict__.items()},
        "measured": {**measured, "views": views, "on": measured_on, "detector_tau": tau},
        "notes": notes,
    }
    return StickerResult(rgba=rgba, stickered=stickered, meta=meta)


def query_on(
    pipe: Any,
    *,
    target: str | None = None,
    mask: str = "bars",
    queries: int = 300,
    views: int = 24,
    measure_views: int = 200,
    seed: int = 0,
) -> tuple[Any, dict[str, float], str]:
    """The query-only sticker search (``rp2-query``) on an already deployed ``pipe`` — one a caller
    configured itself (escalation, ``certify=False`` …); its detector, if any, is evaded (τ from the
    manifest). Returns ``(sticker, measured rates over measure_views fresh views, attack spec)``.

    Raises:
        ConfigError: a bad mask or target, or a pipeline that does not read the stop sign's labels.
    """
    labels = list(pipe.labels) if pipe.labels else None
    side = int(pipe.size[0])
    t = resolve_target(target, labels)
    y_idx = resolve_target("stop", labels) if labels else 0
    attack = rp2_query(mask=mask, target=target, queries=queries, views=views).with_labels(labels)
    face, alpha = stop_face(FACE_SCALE * side)
    found, measured, tau = _query_on(
        pipe, attack, face, torch.tensor([y_idx]), t, alpha, side, measure_views, seed
    )
    return found, {**measured, "detector_tau": tau}, replace(attack, tau=tau or 0.0).spec()


def _query_on(
    pipe: Any, attack: Any, face: torch.Tensor, y: torch.Tensor, t: int | None, alpha: torch.Tensor,
    side: int, views: int, seed: int,
) -> tuple[Any, dict[str, float], float | None]:  # fmt: skip
    from .oracle import Oracle

    det = pipe.manifest.detector
    model = Oracle(pipe, score=det is not None)
    tau = None
    if det is not None:
        tau = float(det.threshold)
        attack = replace(attack, tau=tau)
    found = attack.optimise(model, face, y, alpha=alpha, size=side, generator=_gen(seed))
    return found, _measure(model, found.apply(face), y, t, alpha, side, views, seed, tau), tau


def mask_set_for(config: Config, masking: float | None, side: int) -> Any:
    """The certified-masking mask set the attack must survive: the engine's own (manifest), or one
    for ``masking`` (patch side) at the model's input size; ``None`` without masking."""
    from .. import certify

    if config.is_engine:
        from ..engines.onnxruntime import read_onnx_manifest

        m = read_onnx_manifest(Path(config.model))
        own = certify.mask_set_of(m) if m is not None else None
        if own is not None:
            return own
    if masking is None:
        return None
    return certify.mask_set(masking, (side, side))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _measure(
    model: Any, face: torch.Tensor, y: torch.Tensor, t: int | None, alpha: torch.Tensor, side: int,
    views: int, seed: int, tau: float | None,
) -> dict[str, float]:  # fmt: skip
    gen = _gen(seed + MEASURE_SEED_OFFSET)
    return success(model, face, y, target=t, alpha=alpha, size=side, views=views, generator=gen, tau=tau)


def _detector_tau(config: Config, workdir: str | None) -> float:
    """The detector's calibrated τ, as deployment calibrates it (export with the detector)."""
    from .config import deploy

    with tempfile.TemporaryDirectory() as tmp:
        det = deploy(config, workdir or tmp).manifest.detector
    if det is None:
        raise ConfigError(f"attack rp2: {config.name} deployed without a detector")
    return float(det.threshold)


__all__ = ["StickerResult", "check_plan", "model_facts", "query_on", "run", "stop_face"]
