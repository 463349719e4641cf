"""Evaluation data: the renderer's held-out test set, a disjoint fitting set, local folders by name."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from edgeguard.data import LABELS, TEST_SEED, VAL_SEED, SignDataset, write_image_folder
from edgeguard.errors import ConfigError
from edgeguard.eval.data import data_hash, load_data


def test_signs_is_the_held_out_test_set() -> None:
    d = load_data("signs", 3, (32, 32), fit=2)
    ref = SignDataset(3, TEST_SEED, 32)
    assert d.x.shape == (3, 3, 32, 32) and d.x.dtype == torch.float32 and d.y.dtype == torch.int64
    for i in range(3):
        img, label = ref[i]
        assert torch.equal(d.x[i], img) and int(d.y[i]) == label
    fit = SignDataset(2, VAL_SEED, 32)
    assert torch.equal(d.fit_x[0], fit[0][0]) and not torch.equal(d.fit_x[0], d.x[0])
    assert d.labels == tuple(LABELS)
    desc = d.describe()
    assert desc["n"] == 3 and desc["sha256"] == data_hash(d.x, d.y) and len(desc["sha256"]) == 64
    assert load_data("signs", 3, (32, 32)).sha256 == desc["sha256"]  # fitting set not in the hash


def test_folder_matches_class_names_and_is_disjoint(tmp_path) -> None:
    root = write_image_folder(tmp_path / "imgs", per_class=1, size=24)
    d = load_data(f"folder:{root}", 5, (24, 24), labels=LABELS, fit=3, seed=1)
    assert d.x.shape == (5, 3, 24, 24) and d.fit_x.shape == (3, 3, 24, 24)
    for x, y in zip(torch.cat([d.x, d.fit_x]), torch.cat([d.y, d.fit_y])):
        # every image is its class folder's only file: find it back by pixels
        path = next((root / LABELS_TO_ID[int(y)]).iterdir())
        ref = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        assert np.array_equal((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), ref)
    assert len(set(d.y.tolist()) | set(d.fit_y.tolist())) == 8  # 8 different classes, none twice


LABELS_TO_ID = dict(enumerate(__import__("edgeguard.data.templates", fromlist=["CLASSES"]).CLASSES))


def test_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="--data: expected signs, gtsrb:PATH or folder:PATH"):
        load_data("mnist", 3, (32, 32))
    (tmp_path / "cats").mkdir()
    cv2.imwrite(str(tmp_path / "cats" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="class folder 'cats' is not one of the model's classes"):
        load_data(f"folder:{tmp_path}", 3, (32, 32), labels=LABELS)
    d = load_data(f"folder:{tmp_path}", 3, (16, 16))  # no labels: sorted folders
    assert d.labels == ("cats",) and d.y.tolist() == [0]
    with pytest.raises(ConfigError, match="not a folder|GTSRB"):
        load_data(f"gtsrb:{tmp_path / 'none'}", 3, (32, 32), labels=LABELS)
    with pytest.raises(ConfigError, match="not square"):
        load_data("signs", 3, (32, 48))
