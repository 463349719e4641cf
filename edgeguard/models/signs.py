"""The embedded traffic-sign classifier: a compact ResNet for 64×64 inputs (and its denoised variant).

Registered in the model zoo as ``signs-resnet`` (alias ``signs``), ``signs-resnet-denoise`` (alias
``signs-denoise``) and ``signs-resnet-roa`` (alias ``signs-roa``: the plain architecture, sticker-robust
weights). The network takes *normalised* input ``(x - mean) / std`` with ``x`` in [0, 1]; it
does not normalise itself (the exported graph prepends that step from :class:`ModelInfo`).

Layout (ResNet-style, torchvision stage names so :func:`~edgeguard.layers.add_denoise_blocks` and
tooling written for torchvision ResNets apply): stem 3×3/2 → layer1 (16×16) → layer2 (8×8) → layer3
(4×4) → global average pool → linear. Each stage is one basic block (two 3×3 convs + shortcut).
About 0.4 M parameters and ~15 M multiply-adds per image: trains on 2 CPU cores in minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..data.templates import LABELS
from ..layers.denoise import add_denoise_blocks
from ..registry import MODELS

# Mean/std of the renderer's pixels, measured on 3,000 rendered images (base seed 7), rounded.
SIGNS_MEAN = (0.43, 0.39, 0.40)
SIGNS_STD = (0.26, 0.23, 0.24)
SIGNS_INPUT_SIZE = (64, 64)
DENOISE_AFTER = ("layer2", "layer3")
DENOISE_KIND = "nonlocal_dot"  # Xie et al.: as robust as Gaussian and cheaper on GPUs


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with a (projected when needed) shortcut, as in He et al. 2016."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        nn.init.zeros_(self.bn2.weight)  # Goyal et al. 2017: residual branches start at zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class SignsResNet(nn.Module):
    """Compact ResNet classifier for 64×64 traffic-sign crops.

    Args:
        num_classes: output logits (13 for the built-in renderer's classes).
        widths: channels of stem, layer1, layer2, layer3.

    Shape:
        ``(B, 3, H, W) -> (B, num_classes)`` (any H, W ≥ 16; trained at 64×64)
    """

    def __init__(self, num_classes: int = len(LABELS), widths: Sequence[int] = (32, 48, 96, 160)) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(
            nn.Conv2d(3, w0, 3, 2, 1, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True)
        )
        self.layer1 = nn.Sequential(BasicBlock(w0, w1, 2))
        self.layer2 = nn.Sequential(BasicBlock(w1, w2, 2))
        self.layer3 = nn.Sequential(BasicBlock(w2, w3, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w3, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


# What the manifest needs about the sign models (ModelInfo fields), and their shipped weights.
WEIGHTS = Path(__file__).parent / "weights"
_INFO = {
    "input_size": SIGNS_INPUT_SIZE,
    "mean": SIGNS_MEAN,
    "std": SIGNS_STD,
    "labels": list(LABELS),
    "task": "classification",
}


@MODELS.register(
    "signs-resnet",
    aliases=("signs",),
    summary="compact ResNet, 13 traffic-sign classes, 64×64",
    source="edgeguard issue #3; seed 004",
    usage="signs",
    examples=({}, {"num_classes": 4}),
    default_weights=str(WEIGHTS / "signs-resnet.safetensors"),
    **_INFO,
)
def signs_resnet(num_classes: int = len(LABELS)) -> SignsResNet:
    """The plain ``signs-resnet`` architecture."""
    return SignsResNet(num_classes)


@MODELS.register(
    "signs-resnet-denoise",
    aliases=("signs-denoise",),
    summary="compact ResNet + non-local denoising blocks, PGD adversarially trained (seed 004)",
    source="edgeguard issue #3; seed 004",
    usage="signs-denoise",
    examples=({},),
    default_weights=str(WEIGHTS / "signs-resnet-denoise.safetensors"),
    **_INFO,
)
def signs_resnet_denoise(num_classes: int = len(LABELS)) -> SignsResNet:
    """``signs-resnet`` with dot-product non-local denoising blocks after layer2 and layer3 (seed 004)."""
    return add_denoise_blocks(SignsResNet(num_classes), after=DENOISE_AFTER, kind=DENOISE_KIND)  # type: ignore[return-value]


@MODELS.register(
    "signs-resnet-roa",
    aliases=("signs-roa",),
    summary="compact ResNet, ROA sticker-robust training + masked copies (certified masking's base model)",
    source="edgeguard issue #12; Wu et al. ICLR'20 (ROA); Xiang et al. USENIX Security'22 (PatchCleanser)",
    usage="signs-roa",
    examples=({},),
    default_weights=str(WEIGHTS / "signs-resnet-roa.safetensors"),
    **_INFO,
)
def signs_resnet_roa(num_classes: int = len(LABELS)) -> SignsResNet:
    """The ``signs-resnet`` architecture with the sticker-robust weights: fine-tuned from ``signs`` on the
    wide renderer variety with rectangular occlusion adversarial training (Wu et al. ICLR'20) on half
    of the batches and two-masked copies from certified masking's patch=0.25 mask set on half of each
    batch (PatchCleanser's base-model training); the recipe is in ``signs-resnet-roa.json``."""
    return SignsResNet(num_classes)


ARCHS = {
    "signs-resnet": signs_resnet,
    "signs-resnet-denoise": signs_resnet_denoise,
    "signs-resnet-roa": signs_resnet_roa,
}
