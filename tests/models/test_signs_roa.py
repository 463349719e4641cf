"""The shipped ``signs-roa`` model: registry entry, weights + training record, and the clean accuracy
``benchmarks/signs_roa.py`` measured (its certification and sticker numbers live in that JSON)."""

from __future__ import annotations

import json

import pytest
import torch

from edgeguard.attacks import Normalized
from edgeguard.data import LABELS, TEST_SEED, SignDataset, render_arrays
from edgeguard.models import REGISTRY, WEIGHTS_DIR, build
from edgeguard.train_eval import predict

RECORD = WEIGHTS_DIR / "signs-resnet-roa.json"


def test_registered_with_weights_and_training_record() -> None:
    assert REGISTRY.get("signs-roa").factory is REGISTRY.get("signs-resnet-roa").factory
    model, info = build("signs-roa")
    assert info.weights == str(WEIGHTS_DIR / "signs-resnet-roa.safetensors") and not model.training
    assert info.labels == list(LABELS) and model(torch.zeros(1, 3, 64, 64)).shape == (1, len(LABELS))
    path = WEIGHTS_DIR / "signs-resnet-roa.safetensors"
    assert path.stat().st_size < 4_000_000
    log = json.loads(RECORD.read_text())
    assert log["adv"].startswith("roa:height=0.25,width=0.25") and log["mask_aug"].startswith("patch=0.25")
    assert log["config"]["variety"] == "wide" and log["wall_s"] > 0 and not log["interrupted"]


@pytest.mark.slow
def test_clean_accuracy_as_measured() -> None:
    """300 held-out classic images: benchmarks/signs_roa.py measured 91.7 % on these same images."""
    torch.set_num_threads(1)
    net, info = build("signs-roa")
    model = Normalized(net, info.mean, info.std).eval()
    x, y = render_arrays(SignDataset(300, TEST_SEED), workers=1)
    assert abs(float((predict(model, x) == y).mean()) - 0.9167) < 0.01
    log = json.loads(RECORD.read_text())
    assert log["epochs"][-1]["val_masked_acc"] > 0.75  # two-masked validation copies (patch=0.25 set)
