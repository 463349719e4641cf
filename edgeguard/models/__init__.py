"""Model zoo: embedded edgeguard models (registry) and any torchvision classification model by name.

``build(name, weights=None)`` returns ``(nn.Module in eval mode, ModelInfo)``. Registered entries
(e.g. the embedded traffic-sign classifiers) take precedence over torchvision names. A model
registers itself beside its factory with ``@MODELS.register(name, aliases=..., **ModelInfo fields,
default_weights=PATH)``; the registry imports the registering modules of this package when first
used, so this ``__init__`` names none of them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..errors import ConfigError
from ..registry import MODELS
from .weights import load_into, read_state_dict

REGISTRY = MODELS
WEIGHTS_DIR = Path(__file__).parent / "weights"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelInfo:
    """What the manifest needs to know about a model."""

    name: str
    input_size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    labels: list[str] | None = None
    task: str = "classification"
    weights: str | None = None
    extra: dict = field(default_factory=dict)


def _torchvision_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _imagenet_labels(name: str) -> list[str] | None:
    """ImageNet class names from torchvision's weight metadata (bundled, no download)."""
    import torchvision

    try:
        return list(torchvision.models.get_model_weights(name).DEFAULT.meta["categories"])
    except Exception:
        return None


def names() -> list[str]:
    """Every buildable name: registered edgeguard models, then torchvision classifiers."""
    return REGISTRY.names() + _torchvision_names()


def build(name: str, weights: str | Path | None = None) -> tuple[nn.Module, ModelInfo]:
    """Build model ``name`` (random init unless weights are given or shipped) in eval mode.

    Raises:
        ConfigError: unknown name (close names suggested).
        ModelError: weights unreadable or of another architecture.
    """
    if name in REGISTRY:
        entry = REGISTRY.get(name)
        model = entry.factory()
        fields = set(ModelInfo.__dataclass_fields__) - {"name", "weights"}
        info = ModelInfo(name=name, **{k: v for k, v in entry.extra.items() if k in fields})
        path = weights or entry.extra.get("default_weights")
        if path is not None:
            load_into(model, path, arch=name)
            info.weights = str(path)
        return model.eval(), info
    tv = _torchvision_names()
    if name not in tv:
        close = difflib.get_close_matches(name, REGISTRY.names() + tv, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown model {name!r}{hint} (see `edgeguard models` or torchvision.models.list_models())"
        )
    import torchvision

    num_classes = 1000
    if weights is not None:
        sd = read_state_dict(weights)
        heads = [v for k, v in sd.items() if k.endswith("weight") and v.dim() == 2]
        if heads:
            num_classes = int(heads[-1].shape[0])
    model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    info = ModelInfo(name=name, labels=_imagenet_labels(name) if num_classes == 1000 else None)
    if weights is not None:
        load_into(model, weights, arch=name)
        info.weights = str(weights)
    return model.eval(), info


__all__ = ["REGISTRY", "ModelInfo", "build", "names", "read_state_dict", "load_into", "WEIGHTS_DIR"]
