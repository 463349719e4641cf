"""Feature-denoising blocks (seed 004; Xie et al., "Feature Denoising for Improving Adversarial
Robustness", CVPR 2019).

A block is ``x + BN(conv1x1(denoise(x)))`` with the BN's γ initialised to zero, so a freshly inserted
block is an exact identity and a pretrained network keeps its accuracy until the block is trained. The
paper found the residual essential (training failed without it) and the non-local ops best; it puts one
block after the last residual block of each stage.

Every op exports to ONNX opset 17 with TensorRT-legal ops only: MatMul, Softmax, ReduceSum, Pad (edge),
AveragePool, Min/Max. The 3×3 feature median is a min/max selection network (no Sort/ReduceMedian).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_batch
from ..errors import ConfigError

KINDS = ("nonlocal_gaussian", "nonlocal_dot", "mean", "median", "bilateral")


def nonlocal_means(x: torch.Tensor, affinity: str = "gaussian") -> torch.Tensor:
    """Non-local means over all spatial positions: ``y_i = Σ_j f(x_i, x_j) x_j / C(x)``.

    ``gaussian``: f = exp(x_iᵀx_j / √d), normalised by the softmax (Xie et al. eq. 1, "Gaussian
    (softmax)", without embedding). ``dot``: f = x_iᵀx_j, C = number of positions (cheaper on GPUs).

    Args:
        x: feature map. affinity: ``"gaussian"`` or ``"dot"``.

    Returns:
        Denoised feature map, same shape.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``
    """
    check_batch(x, "B C H W", name="nonlocal_means input", channels=None)
    b, c, h, w = x.shape
    flat = x.reshape(b, c, h * w)
    aff = torch.matmul(flat.transpose(1, 2), flat)  # (B, HW, HW)
    if affinity == "gaussian":
        aff = torch.softmax(aff / math.sqrt(c), dim=-1)
    elif affinity == "dot":
        aff = aff / (h * w)
    else:
        raise ConfigError(f"nonlocal_means: affinity must be 'gaussian' or 'dot', got {affinity!r}")
    return torch.matmul(flat, aff.transpose(1, 2)).reshape(b, c, h, w)


def _shifts(x: torch.Tensor, k: int = 3) -> list[torch.Tensor]:
    """The k×k neighbours of every position (edge-replicated border: ONNX Pad mode=edge)."""
    p = k // 2
    xp = F.pad(x, (p, p, p, p), mode="replicate")
    h, w = x.shape[-2:]
    return [xp[..., i : i + h, j : j + w] for i in range(k) for j in range(k)]


def mean_filter(x: torch.Tensor) -> torch.Tensor:
    """3×3 mean filter per channel (border: mean over the valid neighbours).

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``
    """
    check_batch(x, "B C H W", name="mean_filter input", channels=None)
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def median_filter(x: torch.Tensor) -> torch.Tensor:
    """3×3 median filter per channel as a 19 compare-exchange min/max network (Paeth's median of 9,
    as popularised by Devillard's ``opt_med9``): only Min/Max ops, so it is legal in TensorRT, which has
    no Sort/ReduceMedian. Border: edge replication.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``
    """
    check_batch(x, "B C H W", name="median_filter input", channels=None)
    p = _shifts(x, 3)

    def cx(i: int, j: int) -> None:
        p[i], p[j] = torch.minimum(p[i], p[j]), torch.maximum(p[i], p[j])

    for i, j in (
        (1, 2),
        (4, 5),
        (7, 8),
        (0, 1),
        (3, 4),
        (6, 7),
        (1, 2),
        (4, 5),
        (7, 8),
        (0, 3),
        (5, 8),
        (4, 7),
        (3, 6),
        (1, 4),
        (2, 5),
        (4, 7),
        (4, 2),
        (6, 4),
        (4, 2),
    ):
        cx(i, j)
    return p[4]


def bilateral_filter(x: torch.Tensor) -> torch.Tensor:
    """3×3 bilateral filter on feature maps: the Gaussian non-local affinity restricted to a local
    window (Xie et al. §4, "bilateral filter"), ``y_i = Σ_{j∈N(i)} softmax_j(x_iᵀx_j/√d) x_j``.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``
    """
    check_batch(x, "B C H W", name="bilateral_filter input", channels=None)
    nb = _shifts(x, 3)
    scale = 1.0 / math.sqrt(x.shape[1])
    aff = torch.cat([(x * n).sum(dim=1, keepdim=True) * scale for n in nb], dim=1)  # (B, 9, H, W)
    wts = torch.softmax(aff, dim=1)
    return sum(wts[:, k : k + 1] * n for k, n in enumerate(nb))  # type: ignore[return-value]


_OPS = {
    "nonlocal_gaussian": lambda x: nonlocal_means(x, "gaussian"),
    "nonlocal_dot": lambda x: nonlocal_means(x, "dot"),
    "mean": mean_filter,
    "median": median_filter,
    "bilateral": bilateral_filter,
}


def _check_kind(kind: str) -> str:
    if kind not in _OPS:
        close = difflib.get_close_matches(kind, KINDS, n=2, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown denoising kind {kind!r}{hint} (known: {', '.join(KINDS)})")
    return kind


class DenoiseBlock(nn.Module):
    """``x + BN(conv1x1(op(x)))`` with zero-initialised BN γ (identity at initialisation).

    Args:
        channels: feature channels C.
        kind: one of :data:`KINDS`.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``
    """

    def __init__(self, channels: int, kind: str = "nonlocal_dot") -> None:
        super().__init__()
        self.kind = _check_kind(kind)
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.bn.weight)  # Xie et al.: zero-init γ so the block starts as the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn(self.conv(_OPS[self.kind](x)))

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


def _out_channels(stage: nn.Module, name: str) -> int:
    bns = [m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)]
    if bns:
        return int(bns[-1].num_features)
    convs = [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        return int(convs[-1].out_channels)
    raise ConfigError(f"add_denoise_blocks: cannot tell the output channels of stage {name!r}")


def add_denoise_blocks(
    model: nn.Module, after: Sequence[str] = ("layer2", "layer3"), kind: str = "nonlocal_dot"
) -> nn.Module:
    """Insert a :class:`DenoiseBlock` after each named stage, in place; returns ``model``.

    Works for :class:`~edgeguard.models.signs.SignsResNet` and torchvision ResNets (``layer1`` …
    ``layer4``). A stage that is an ``nn.Sequential`` gets the block appended (its existing parameter
    names do not change, so pretrained weights still load); any other module is wrapped.

    Raises:
        ConfigError: unknown stage name (close names suggested) or unknown kind.
    """
    _check_kind(kind)
    names = [n for n, _ in model.named_modules() if n]
    for name in after:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"add_denoise_blocks: model has no stage {name!r}{hint}")
        stage = model.get_submodule(name)
        block = DenoiseBlock(_out_channels(stage, name), kind)
        if isinstance(stage, nn.Sequential):
            stage.add_module(str(len(stage)), block)
        else:
            parent_name, _, leaf = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, leaf, nn.Sequential(stage, block))
    return model
