"""``edgeguard eval --certify``: certified accuracy against one square sticker (PatchCleanser).

An example is *certified correct* when every two-mask prediction equals its true label — the
certification condition of PatchCleanser's double masking (Xiang et al., USENIX Security'22,
Theorem 1): then no sticker of side ``patch`` × the sign face, anywhere in the crop, can change the
double-masking output. The mask set is :func:`edgeguard.certify.mask_set` for the deployed input size.

Computed through the deployed pipeline: the host stages run on the frame, then each two-masked copy
(masks ``i`` and ``j``, ``i ≤ j``: the pair is symmetric) goes through the engine and its first output
(``logits``) is read — so any engine can be certified, with or without ``--masking``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..certify import MaskSet, mask_set

CHUNK = 256  # two-masked copies per engine call


def pair_keep(masks: MaskSet) -> tuple[np.ndarray, np.ndarray]:
    """``(P, 1, H, W)`` keep maps of every unordered pair ``i ≤ j`` and the pairs ``(P, 2)``."""
    keep = masks.keep()
    i, j = np.triu_indices(masks.count)
    return keep[i] * keep[j], np.stack([i, j], axis=1)


def certified_correct(pipe: Any, x: np.ndarray, y: np.ndarray, patch: float) -> list[bool]:
    """Per example: are all its two-mask predictions through ``pipe`` equal to ``y``?"""
    masks = mask_set(patch, tuple(pipe.size))
    keep, _ = pair_keep(masks)
    fill = np.float32(masks.fill)
    output = pipe.manifest.outputs[0]
    frames = np.ascontiguousarray(x, dtype=np.float32)
    for stage in pipe.host_stages:
        frames = np.ascontiguousarray(stage(frames), dtype=np.float32)
    out = []
    for b in range(len(frames)):
        copies = frames[b : b + 1] * keep + fill * (1.0 - keep)  # (P, 3, H, W)
        ok = True
        for s in range(0, len(copies), CHUNK):
            logits = pipe.engine(np.ascontiguousarray(copies[s : s + CHUNK]))[output]
            if not (np.asarray(logits).argmax(-1) == int(y[b])).all():
                ok = False
                break
        out.append(ok)
    return out


__all__ = ["certified_correct", "pair_keep"]
