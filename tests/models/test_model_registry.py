"""Contract for every registered model (each entry's own examples), and registration beside the factory."""

from __future__ import annotations

import pytest
import torch

from edgeguard import models
from edgeguard.registry import MODELS

CASES = [(e.name, i) for e in MODELS if "alias_of" not in e.extra for i in range(max(1, len(e.examples)))]


@pytest.mark.parametrize(("name", "index"), CASES)
def test_example_builds_and_maps_its_input_to_logits(name: str, index: int) -> None:
    entry = MODELS.get(name)
    assert entry.examples, f"model {name!r} registers no examples= for the contract tests"
    params = entry.examples[index]
    net = entry.factory(**params).eval()
    h, w = entry.extra["input_size"]
    classes = params.get("num_classes", params.get("nc", len(entry.extra["labels"])))
    with torch.no_grad():
        out = net(torch.rand(2, 3, h, w))
    if entry.extra.get("task") == "detection":  # the YOLOv8 layout: (B, 4 + nc, Σ (H/s)(W/s))
        anchors = sum((h // s) * (w // s) for s in entry.extra["extra"]["strides"])
        assert out.shape == (2, 4 + classes, anchors) and torch.isfinite(out).all()
        return
    assert out.shape == (2, classes) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS.names())
def test_build_gives_the_registered_model_info(name: str) -> None:
    entry = MODELS.get(name)
    _, info = models.build(name)
    assert info.name == name
    assert info.input_size == entry.extra["input_size"] and info.labels == entry.extra["labels"]
    assert info.weights == entry.extra["default_weights"]


def test_aliases_point_at_the_same_factory() -> None:
    for e in MODELS:
        if "alias_of" in e.extra:
            assert MODELS.get(e.extra["alias_of"]).factory is e.factory
    assert MODELS.get("signs").extra["alias_of"] == "signs-resnet"
