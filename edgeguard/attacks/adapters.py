"""Hand a model to the attack libraries: foolbox's ``PyTorchModel`` and ART's ``PyTorchClassifier``.

Attacks receive ``model``: a torch module (or, for output-only attacks, any callable such as an
oracle around an onnxruntime ``Pipeline``) mapping ``(B, 3, H, W)`` pixels in [0, 1] to logits. The
libraries want a ``torch.nn.Module`` plus their own wrapper; this module builds those wrappers in
one place. The libraries are imported here lazily: ART's attack modules take seconds to import, and
listing the attack registry must stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


class _Callable(nn.Module):
    """An ``nn.Module`` around a plain callable (an oracle over an onnxruntime pipeline)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def as_module(model: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
    """``model`` itself if it is an ``nn.Module``, else a module calling it."""
    return model if isinstance(model, nn.Module) else _Callable(model).eval()


class _Softmax(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).softmax(dim=1)


class _ChannelsLast(nn.Module):
    """Takes ``(B, H, W, C)`` and calls the wrapped channels-first model (see :func:`art_classifier`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.permute(0, 3, 1, 2))


def num_classes(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    """The number of logits ``model`` returns (one forward pass on one example)."""
    with torch.no_grad():
        return int(model(x[:1]).shape[1])


@contextmanager
def no_param_grads(model: Any) -> Iterator[None]:
    """Parameters of ``model`` stop requiring gradients inside the block (restored after).

    ART computes input gradients with ``backward()``, which would also fill the parameters'
    ``.grad``: an attack must leave the model it attacks untouched.
    """
    params = [p for p in model.parameters() if p.requires_grad] if isinstance(model, nn.Module) else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@contextmanager
def kept_modes(model: Any) -> Iterator[None]:
    """Every submodule's train/eval mode is put back after the block (ART's ``predict`` switches
    models to eval; torchattacks restores "training" on the wrapper it was given, recursively)."""
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def to_torch(array: Any, like: torch.Tensor) -> torch.Tensor:
    """A library's numpy result as a tensor like ``like`` (dtype, device), clamped to [0, 1]."""
    return torch.as_tensor(array).to(device=like.device, dtype=like.dtype).clamp(0, 1).detach()


def foolbox_model(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Any:
    """foolbox 3.3.4 ``PyTorchModel`` over [0, 1] pixels on ``x``'s device."""
    import foolbox

    return foolbox.PyTorchModel(as_module(model), bounds=(0.0, 1.0), device=x.device)


def art_classifier(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    probabilities: bool = False,
    channels_last: bool = False,
) -> Any:
    """ART 1.20.1 ``PyTorchClassifier`` with ``clip_values=(0, 1)`` for inputs shaped like ``x``.

    Args:
        model: [0, 1] pixels → logits.
        x: an example batch (shape, device, number of classes).
        probabilities: the classifier outputs softmax probabilities (NewtonFool's score is one).
        channels_last: the classifier takes ``(B, H, W, C)`` arrays (see ``spatial.py`` for why).
    """
    from art.estimators.classification.pytorch import PyTorchClassifier

    module = as_module(model)
    if probabilities:
        module = _Softmax(module)
    shape = tuple(x.shape[1:])
    if channels_last:
        module = _ChannelsLast(module)
        shape = (shape[1], shape[2], shape[0])
    return PyTorchClassifier(
        module,
        loss=nn.CrossEntropyLoss(),
        input_shape=shape,
        nb_classes=num_classes(model, x),
        clip_values=(0.0, 1.0),
        channels_first=not channels_last,
        device_type="gpu" if x.is_cuda else "cpu",
    )


__all__ = [
    "art_classifier",
    "as_module",
    "foolbox_model",
    "kept_modes",
    "no_param_grads",
    "num_classes",
    "to_torch",
]
