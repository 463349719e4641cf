"""Certified masking, host side: PatchCleanser double-masking (Xiang et al., USENIX Security'22).

The engine (exported with ``--masking``, graph part in :mod:`edgeguard.defenses.masking`) returns the
first round with every call; the :class:`~edgeguard.pipeline.Pipeline` finishes the decision here
(:func:`finish`): the second round runs through the same engine on the host, only for frames whose
first round disagrees, or — with ``certify`` — once per unanimous frame to check the certificate. Each
decision gains ``certified`` (``None`` when not computed) and ``masking`` (the label double masking
chose, its case, the second-round calls). numpy only: the inference path imports no torch.

Threat model: ONE square patch (sticker) of side at most ``patch`` × the sign face's side, anywhere in
the crop. The mask set is the paper's R-covering set: ``k`` positions per axis of a square mask of
side ``m = p + s − 1`` pixels with stride ``s``, so that every ``p``-pixel patch lies inside at least
one mask (positions ``0, s, 2s, …``, the last one moved flush with the far edge; ``⌈(n − m)/s⌉ + 1``
of them per axis). Following the paper, ``s`` comes from the number of masks per axis ``k``:
``s = ⌈(n − p + 1)/k⌉``.

Crop geometry (an assumption, stated): the sign renderer draws the sign's diameter over 0.55–0.95 of
the crop side (``edgeguard/data/render.py``, ``RenderConfig.scale``), and the camera's region of
interest is cut the same way. The patch in pixels is taken at the LARGEST face (``face = 0.95``), so a
sticker of the stated fraction of any smaller face is smaller in pixels and still covered:
``p = ⌈patch · face · n⌉``.

Masked pixels are set to a constant ``fill`` (0.5, mid-grey of the [0, 1] input; PatchCleanser
fills with a constant too), before the fused defenses and the normalisation.

Decision (the paper's double-masking, Algorithm 1):

* first round: the prediction ``ŷᵢ`` on every one-masked copy (ONE engine call: the graph evaluates all
  copies as a batch, output ``mask_logits`` (B, M, C));
* all ``ŷᵢ`` agree → that label;
* else, for each mask ``i`` whose ``ŷᵢ`` is not the majority label (in mask order), the second round
  predicts the two-masked copies ``(i, j)`` for every ``j``: if they all agree with ``ŷᵢ``, return
  ``ŷᵢ``; if no such mask, return the majority label.

Certification (the paper's Theorem): the label ``y`` is certified against any patch inside one mask
when every two-mask prediction ``ŷᵢⱼ`` (all ``i, j``, ``i = j`` included) equals ``y``. The two-mask
predictions of frame ``x`` are the engine's ``mask_logits`` of the one-masked copies ``maskᵢ(x)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import ConfigError
from .manifest import Manifest
from .spec import format_spec, split_spec

OUTPUT = "mask_logits"  # the engine output (edgeguard.defenses.masking.OUTPUT)
DEFAULT_MASKS = 6  # masks per axis: the paper's default k (36 masks in all)
DEFAULT_FACE = 0.95  # largest sign diameter / crop side drawn by the renderer (RenderConfig.scale)
DEFAULT_FILL = 0.5
_KEYS = ("patch", "masks", "face", "fill")


@dataclass(frozen=True)
class MaskSet:
    """The R-covering mask geometry for a ``size`` crop (all lengths in pixels)."""

    patch: float  # sticker side / sign face side
    face: float  # sign face side / crop side
    size: tuple[int, int]  # (H, W) of the engine input
    patch_px: int
    mask_px: int
    stride_px: int
    per_axis: tuple[int, int]  # masks along H, along W
    fill: float
    masks: int  # masks per axis requested (k)

    @property
    def count(self) -> int:
        return self.per_axis[0] * self.per_axis[1]

    def positions(self, axis: int) -> list[int]:
        """Top (axis 0) or left (axis 1) edge of every mask along ``axis``."""
        n, m, s = self.size[axis], self.mask_px, self.stride_px
        return [min(i * s, n - m) for i in range(self.per_axis[axis])]

    def keep(self) -> np.ndarray:
        """``(M, 1, H, W)`` float32: 0 inside mask ``i``, 1 elsewhere (masks row-major)."""
        h, w = self.size
        out = np.ones((self.count, 1, h, w), np.float32)
        i = 0
        for y in self.positions(0):
            for x in self.positions(1):
                out[i, 0, y : y + self.mask_px, x : x + self.mask_px] = 0.0
                i += 1
        return out

    def spec(self) -> str:
        """Canonical option text (``patch=0.25,masks=6,face=0.95,fill=0.5``)."""
        params = {"patch": self.patch, "masks": self.masks, "face": self.face, "fill": self.fill}
        return format_spec("masking", params)[len("masking:") :]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "count": self.count}


def mask_set(
    patch: Any,
    size: tuple[int, int],
    *,
    masks: Any = DEFAULT_MASKS,
    face: Any = DEFAULT_FACE,
    fill: Any = DEFAULT_FILL,
) -> MaskSet:
    """The R-covering mask set against a square patch of side ``patch`` × face side.

    Raises:
        ConfigError: ``patch`` outside (0, 1), ``face`` outside (0, 1], ``fill`` outside [0, 1],
            ``masks`` not an integer ≥ 1, or a mask larger than the image.
    """

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not number(patch) or not 0.0 < patch < 1.0:
        raise ConfigError(
            f"--masking patch={patch!r}: expected the sticker side as a fraction of the sign face, "
            f"0 < patch < 1 (e.g. 0.25)"
        )
    if not number(face) or not 0.0 < face <= 1.0:
        raise ConfigError(
            f"--masking face={face!r}: expected the sign face side as a fraction of the crop, 0 < face <= 1"
        )
    if not number(fill) or not 0.0 <= fill <= 1.0:
        raise ConfigError(f"--masking fill={fill!r}: expected the masked pixels' value in [0, 1]")
    if isinstance(masks, bool) or not isinstance(masks, int) or not 1 <= masks <= 64:
        raise ConfigError(f"--masking masks={masks!r}: expected the number of masks per axis, 1..64")
    h, w = size
    n = min(h, w)
    p = max(1, math.ceil(patch * face * n - 1e-9))
    stride = math.ceil((n - p + 1) / masks)
    m = p + stride - 1
    if m >= n:  # every masked copy would be the blank frame: the certificate would be vacuous
        raise ConfigError(
            f"--masking patch={patch} masks={masks}: the mask set is larger than the image: each mask "
            f"would be {m} px, covering the whole {h}x{w} input; use a smaller patch or more masks per axis"
        )
    if masks > n - p + 1:
        raise ConfigError(
            f"--masking masks={masks}: more masks per axis than the {n - p + 1} positions a {p}-px patch "
            f"has in the {h}x{w} input"
        )
    per_axis = tuple(math.ceil((side - m) / stride) + 1 for side in (h, w))
    return MaskSet(float(patch), float(face), (h, w), p, m, stride, per_axis, float(fill), masks)  # type: ignore[arg-type]


def parse(text: Any, size: tuple[int, int]) -> MaskSet:
    """``patch=0.25[,masks=6,face=0.95,fill=0.5]`` (the ``--masking`` option) → :class:`MaskSet`."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"--masking {text!r}: expected options such as patch=0.25")
    _, short, params = split_spec(f"masking:{text}")
    if short is not None:
        raise ConfigError(f"--masking {text!r}: expected key=value options such as patch=0.25")
    unknown = sorted(set(params) - set(_KEYS))
    if unknown:
        raise ConfigError(f"--masking: unknown option {unknown[0]!r} (takes {', '.join(_KEYS)})")
    if "patch" not in params:
        raise ConfigError("--masking: name the sticker size, e.g. patch=0.25")
    return mask_set(params.pop("patch"), size, **params)


def apply(x: np.ndarray, masks: MaskSet, index: int) -> np.ndarray:
    """Frame batch ``(B, 3, H, W)`` with mask ``index`` filled (the host side of the second round)."""
    keep = masks.keep()[index]
    return np.ascontiguousarray(x * keep + np.float32(masks.fill) * (1.0 - keep), dtype=np.float32)


# ``two_mask(x, i)``: the (B, M) predictions on copies of the frames ``x`` masked by ``i`` and each ``j``.
TwoMask = Callable[[np.ndarray, int], np.ndarray]


@dataclass
class Verdict:
    """One frame's double-masking result."""

    label: int
    certified: bool
    case: str  # "agree" (first round unanimous), "minority" (a disagreer's second round), "majority"
    second_round: int  # second-round masks evaluated

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def double_masking(
    first: np.ndarray, frame: np.ndarray, two_mask: TwoMask, *, certify: bool = True
) -> Verdict:
    """The paper's double-masking decision for one frame.

    Args:
        first: ``(M,)`` first-round predictions.
        frame: ``(1, 3, H, W)`` the frame (for the second round).
        two_mask: runs the second round of ``frame`` for one first mask.
        certify: on a unanimous first round, also run every two-mask prediction to decide
            ``certified``; without it ``certified`` is False unless proven (a second round is then
            only run on disagreement).
    """
    first = np.asarray(first).reshape(-1)
    labels, counts = np.unique(first, return_counts=True)
    if labels.size == 1:
        label = int(labels[0])
        if not certify:
            return Verdict(label, False, "agree", 0)
        ok = all(bool((two_mask(frame, i) == label).all()) for i in range(first.size))
        return Verdict(label, ok, "agree", first.size)
    majority = int(labels[np.argmax(counts)])  # ties: the smallest label (np.unique is sorted)
    runs = 0
    for i in np.flatnonzero(first != majority):
        runs += 1
        if bool((two_mask(frame, int(i)) == first[i]).all()):
            return Verdict(int(first[i]), False, "minority", runs)
    return Verdict(majority, False, "majority", runs)


def certified(two: np.ndarray, label: int) -> bool:
    """The certification condition: every two-mask prediction ``(M, M)`` equals ``label``."""
    return bool((np.asarray(two) == label).all())


# ``run(x)``: the engine's ``mask_logits`` (B, M, C) for a frame batch ``x`` (B, 3, H, W).
Run = Callable[[np.ndarray], np.ndarray]


def two_mask_predictions(run: Run, frame: np.ndarray, masks: MaskSet) -> np.ndarray:
    """``(M, M)`` predictions on every two-masked copy of one ``(1, 3, H, W)`` frame, in ONE call:
    the engine's masked copies of the ``M`` one-masked frames."""
    copies = np.concatenate([apply(frame, masks, i) for i in range(masks.count)])
    return np.asarray(run(copies)).argmax(-1)


def decide(
    run: Run, x: np.ndarray, mask_logits: np.ndarray, masks: MaskSet, *, certify: bool = True
) -> list[Verdict]:
    """Double-masking verdicts for a batch, from the first round the engine already returned.

    The second round runs through ``run`` on the host: for a disagreeing frame, one call per
    minority mask tried; with ``certify``, one call per unanimous frame (all its two-mask copies).
    """
    out = []
    for b, preds in enumerate(np.asarray(mask_logits).argmax(-1)):
        frame = x[b : b + 1]
        if certify and np.unique(preds).size == 1:
            two = two_mask_predictions(run, frame, masks)
            label = int(preds[0])
            out.append(Verdict(label, certified(two, label), "agree", masks.count))
            continue

        def two_mask(f: np.ndarray, i: int) -> np.ndarray:
            return np.asarray(run(apply(f, masks, i))).argmax(-1)

        out.append(double_masking(preds, frame, two_mask, certify=False))
    return out


def mask_set_of(manifest: Manifest) -> MaskSet | None:
    """The mask geometry an engine's manifest records (``None``: the engine has no masked copies)."""
    k = manifest.masking
    if k is None or manifest.task != "classification":
        return None
    return MaskSet(
        patch=k.patch,
        face=k.face,
        size=tuple(manifest.input.size),  # type: ignore[arg-type]
        patch_px=k.patch_px,
        mask_px=k.mask_px,
        stride_px=k.stride_px,
        per_axis=tuple(k.per_axis),  # type: ignore[arg-type]
        fill=k.fill,
        masks=k.masks,
    )


def finish(
    engine: Callable[[np.ndarray], dict[str, np.ndarray]],
    manifest: Manifest,
    masks: MaskSet,
    x: np.ndarray,
    outputs: dict[str, np.ndarray],
    decided: list[dict[str, Any]],
    *,
    certify: bool = True,
) -> None:
    """Add the double-masking label and ``certified`` to each decision of the batch ``x`` (in place)."""
    name = manifest.masking.output  # type: ignore[union-attr]

    def run(batch: np.ndarray) -> np.ndarray:
        return engine(np.ascontiguousarray(batch, dtype=np.float32))[name]

    labels = manifest.labels or ()
    verdicts = decide(run, x, outputs[name], masks, certify=certify)
    for d, v in zip(decided, verdicts):
        d["certified"] = v.certified if (certify or v.case != "agree") else None
        d["masking"] = {
            "label": labels[v.label] if v.label < len(labels) else str(v.label),
            "index": v.label,
            "case": v.case,
            "second_round": v.second_round,
            "patch": masks.patch,
        }


__all__ = [
    "DEFAULT_FACE",
    "DEFAULT_FILL",
    "DEFAULT_MASKS",
    "OUTPUT",
    "MaskSet",
    "Run",
    "TwoMask",
    "Verdict",
    "apply",
    "certified",
    "decide",
    "finish",
    "double_masking",
    "mask_set",
    "mask_set_of",
    "parse",
    "two_mask_predictions",
]
