"""Masked-copy augmentation for the base model of certified masking (``train signs --mask-aug``).

PatchCleanser's certificate (Xiang et al., USENIX Security'22) needs the base model to classify every
*two-masked* copy of a frame correctly; a model that never saw masks does not (the shipped ``signs``
certifies 7 % of stop signs at patch 0.25, README "Certified masking"). The paper trains its base
models on randomly masked inputs. Here the masks are drawn from the very mask set the certificate
uses (:func:`edgeguard.certify.mask_set`, the same ``patch``/``masks``/``face``/``fill`` options as
``export --masking``): a share ``share`` of each batch gets masks ``i`` and ``j`` drawn uniformly from
the ``M`` masks (``i = j`` is a one-masked copy), i.e. exactly the copies of the second round.

The draws come from their own generator (seeded by the run's seed and the step), so switching the
augmentation on leaves every other random draw of a training run — batches, translations, the attack's
— where it was, and a resumed run stays bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .certify import MaskSet, mask_set
from .errors import ConfigError
from .spec import split_spec

DEFAULT_SHARE = 0.5
_SEED_OFFSET = 2**40  # keeps the mask generator's seeds apart from the step generator's


@dataclass(frozen=True)
class MaskAug:
    """The mask set and the share of each batch that is masked."""

    masks: MaskSet
    share: float

    def spec(self) -> str:
        return f"{self.masks.spec()},share={self.share:g}"

    def keep(self) -> torch.Tensor:
        """``(M, 1, H, W)``: 0 inside mask ``i``, 1 elsewhere."""
        return torch.from_numpy(self.masks.keep())


def parse_mask_aug(text: str | None, size: tuple[int, int] = (64, 64)) -> MaskAug | None:
    """``patch=0.25[,masks=6,face=0.95,fill=0.5,share=0.5]`` → :class:`MaskAug` (``none`` → ``None``).

    Raises:
        ConfigError: a bad mask geometry (as ``--masking``) or ``share`` outside (0, 1].
    """
    if text is None or not str(text).strip() or str(text).strip().lower() in ("none", "off"):
        return None
    try:
        _, short, params = split_spec(f"mask-aug:{text}")
    except ConfigError as e:
        raise ConfigError(f"--mask-aug {text!r}: {e}") from None
    if short is not None:
        raise ConfigError(f"--mask-aug {text!r}: expected key=value options such as patch=0.25,share=0.5")
    share: Any = params.pop("share", DEFAULT_SHARE)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 < share <= 1.0:
        raise ConfigError(
            f"--mask-aug share={share!r}: expected the masked share of each batch, 0 < share <= 1"
        )
    unknown = sorted(set(params) - {"patch", "masks", "face", "fill"})
    if unknown:
        raise ConfigError(
            f"--mask-aug: unknown option {unknown[0]!r} (takes patch, masks, face, fill, share)"
        )
    if "patch" not in params:
        raise ConfigError("--mask-aug: name the sticker size, e.g. patch=0.25")
    try:
        masks = mask_set(params.pop("patch"), size, **params)
    except ConfigError as e:
        raise ConfigError(str(e).replace("--masking", "--mask-aug")) from None
    return MaskAug(masks, float(share))


def mask_batch(
    x: torch.Tensor, aug: MaskAug, keep: torch.Tensor, seed: int, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A share of the batch ``x`` (B, 3, H, W) replaced by two-masked copies.

    Args:
        x: the batch after the adversarial step (if any).
        aug: mask set and share.
        keep: ``aug.keep()`` (cached by the caller).
        seed, step: seed the draws (their own generator, see the module docstring).

    Returns:
        the batch (a new tensor; rows not picked are unchanged) and ``(B,)`` bool: which rows are masked.

    Shape:
        (B, 3, H, W) → (B, 3, H, W), (B,)
    """
    g = torch.Generator().manual_seed(_SEED_OFFSET + seed * 1_000_003 + step)
    b, m = len(x), keep.shape[0]
    picked = torch.rand(b, generator=g) < aug.share
    ij = torch.randint(0, m, (b, 2), generator=g)
    k = (keep[ij[:, 0]] * keep[ij[:, 1]]).to(x.dtype)  # (B, 1, H, W): 0 inside either mask
    k = torch.where(picked.view(-1, 1, 1, 1), k, torch.ones_like(k))
    return x * k + aug.masks.fill * (1 - k), picked


__all__ = ["DEFAULT_SHARE", "MaskAug", "mask_batch", "parse_mask_aug"]
