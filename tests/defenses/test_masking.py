"""Certified masking (PatchCleanser double-masking): mask geometry, the batched first round, decisions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from edgeguard.certify import apply, double_masking, mask_set, parse
from edgeguard.defenses.masking import MaskedCopies
from edgeguard.errors import ConfigError


# -- the mask set -------------------------------------------------------------------------------------
def test_signs_geometry_is_the_hand_worked_one():
    # 64 px crop, face 0.95 of it, sticker 0.25 of the face: p = ceil(15.2) = 16 px; k = 6 masks per
    # axis → s = ceil((64 − 16 + 1)/6) = 9, m = p + s − 1 = 24, ceil((64 − 24)/9) + 1 = 6 positions
    ms = parse("patch=0.25", (64, 64))
    assert (ms.patch_px, ms.stride_px, ms.mask_px, ms.per_axis, ms.count) == (16, 9, 24, (6, 6), 36)
    assert ms.positions(0) == [0, 9, 18, 27, 36, 40]  # the last one flush with the far edge
    assert ms.spec() == "patch=0.25,masks=6,face=0.95,fill=0.5"
    assert parse(ms.spec(), (64, 64)) == ms


@pytest.mark.parametrize(
    ("patch", "masks", "face", "size"),
    [(0.25, 6, 0.95, (64, 64)), (0.1, 4, 1.0, (64, 64)), (0.4, 3, 0.8, (48, 40)), (0.05, 7, 1.0, (32, 32))],
)
def test_every_patch_position_lies_inside_some_mask(patch, masks, face, size):
    """Exhaustive over every position of a p×p patch: some mask holds it whole (R-covering)."""
    ms = mask_set(patch, size, masks=masks, face=face)
    keep = ms.keep()[:, 0]
    assert keep.shape == (ms.count, *size) and ms.count == len(ms.positions(0)) * len(ms.positions(1))
    assert ms.per_axis[int(np.argmin(size))] <= masks  # k along the shorter side (the longer needs more)
    p = ms.patch_px
    masked = keep == 0  # (M, H, W)
    for y, x in itertools.product(range(size[0] - p + 1), range(size[1] - p + 1)):
        assert masked[:, y : y + p, x : x + p].all(axis=(1, 2)).any(), (y, x)
    # and the geometry is tight: a patch one pixel larger escapes at some position
    q = p + ms.stride_px
    if q <= min(size):
        escapes = [
            not masked[:, y : y + q, x : x + q].all(axis=(1, 2)).any()
            for y, x in itertools.product(range(size[0] - q + 1), range(size[1] - q + 1))
        ]
        assert any(escapes)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("patch=1", "0 < patch < 1"),
        ("patch=1.5", "0 < patch < 1"),
        ("patch=0", "0 < patch < 1"),
        ("patch=-0.1", "0 < patch < 1"),
        ("patch=0.9,masks=1", "larger than the image"),
        ("patch=0.5,masks=40", "more masks per axis than the 34 positions"),
        ("masks=6", "name the sticker size"),
        ("patch=0.2,size=3", "unknown option 'size'"),
        ("patch=0.2,masks=0", "masks per axis"),
        ("patch=0.2,fill=2", "fill"),
        ("0.25", "key=value"),
    ],
)
def test_bad_options_are_config_errors(text, match):
    with pytest.raises(ConfigError, match=match):
        parse(text, (64, 64))


# -- the first round: one batched call equals masking in torch ---------------------------------------
def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(8), nn.Flatten(), nn.Linear(64, 5)
    ).eval()


def test_masked_copies_in_one_onnxruntime_call_equal_each_copy_masked_in_torch(tmp_path):
    import onnxruntime as ort

    from edgeguard.exporter.onnx import _torch_to_onnx

    ms = mask_set(0.3, (32, 32), masks=3, face=1.0)
    f = _net()
    graph = _torch_to_onnx(MaskedCopies(f, ms).eval(), (32, 32), 17, ("logits", "mask_logits"))
    path = tmp_path / "m.onnx"
    path.write_bytes(graph.SerializeToString())
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    logits, mask_logits = ort.InferenceSession(str(path)).run(None, {"input": x})
    assert mask_logits.shape == (2, ms.count, 5)
    with torch.no_grad():
        np.testing.assert_allclose(logits, f(torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-5)
        for i in range(ms.count):
            ref = x.copy()  # mask i by hand: its m×m square set to the fill value
            y, xx = ms.positions(0)[i // ms.per_axis[1]], ms.positions(1)[i % ms.per_axis[1]]
            ref[:, :, y : y + ms.mask_px, xx : xx + ms.mask_px] = ms.fill
            np.testing.assert_array_equal(apply(x, ms, i), ref)
            np.testing.assert_allclose(
                mask_logits[:, i], f(torch.from_numpy(ref)).numpy(), rtol=1e-5, atol=1e-5
            )


# -- double masking on toy models whose answer is worked by hand ---------------------------------------
class Band(nn.Module):
    """Reads only rows 0–1: class 1 when their mean exceeds ``tau``, else class 0."""

    def __init__(self, tau: float) -> None:
        super().__init__()
        self.tau = tau

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x[:, :, :2].mean(dim=(1, 2, 3)) - self.tau
        return torch.stack([-s, s], dim=-1)


class Corner(nn.Module):
    """Reads only the 2×2 bottom-right corner: class 1 when its mean exceeds 0.75."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x[:, :, -2:, -2:].mean(dim=(1, 2, 3)) - 0.75
        return torch.stack([-s, s], dim=-1)


# 32 px, patch 0.25 of a face filling the crop: p = 8, k = 4 → s = 7, m = 14, positions 0, 7, 14, 18
TOY = mask_set(0.25, (32, 32), masks=4, face=1.0)


def _rounds(f: nn.Module, calls: list[int] | None = None):
    model = MaskedCopies(f, TOY).eval()

    def first(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x))[1].argmax(-1).numpy()

    def two_mask(x: np.ndarray, i: int) -> np.ndarray:
        if calls is not None:
            calls.append(i)
        return first(apply(x, TOY, i))

    return first, two_mask


def test_geometry_of_the_toy_set():
    assert (TOY.patch_px, TOY.stride_px, TOY.mask_px, TOY.positions(0)) == (8, 7, 14, [0, 7, 14, 18])


@pytest.mark.parametrize(("tau", "certified"), [(0.5, True), (0.6, False)])
def test_band_model_is_certified_exactly_when_two_masks_cannot_pull_the_band_under_tau(tau, certified):
    # White frame: band mean 1. One mask over the band greys 14 of 32 columns: (18 + 7)/32 = 0.78 > τ,
    # so the first round agrees on 1 for both τ. Two masks at columns 0 and 18 grey 28 columns:
    # (4 + 14)/32 = 0.5625, above 0.5 (certified) but under 0.6 (a two-mask prediction flips).
    first, two_mask = _rounds(Band(tau))
    x = np.ones((1, 3, 32, 32), np.float32)
    v = double_masking(first(x)[0], x, two_mask)
    assert (v.label, v.case, v.certified, v.second_round) == (1, "agree", certified, TOY.count)


@pytest.mark.parametrize("value", [0.0, "noise"])
def test_a_certified_label_survives_every_patch_position(value):
    """The theorem, checked over every column and the rows that reach the band (the model reads rows
    0–1 only, so a patch lower down is a patch the model never sees): no 8×8 patch changes the output."""
    first, two_mask = _rounds(Band(0.5))
    clean = np.ones((1, 3, 32, 32), np.float32)
    rng = np.random.default_rng(1)
    for y, x in itertools.product((0, 1, 24), range(25)):
        adv = clean.copy()
        adv[..., y : y + 8, x : x + 8] = rng.random((3, 8, 8)) if value == "noise" else value
        assert double_masking(first(adv)[0], adv, two_mask, certify=False).label == 1, (y, x)


def test_minority_mask_wins_when_its_second_round_is_unanimous():
    # Only the mask at (18, 18) covers the corner: it reads 0, the 15 others read 1 (majority).
    # Every two-mask copy (18,18)+j still hides the corner → unanimous 0 → the output is 0.
    calls: list[int] = []
    first, two_mask = _rounds(Corner(), calls)
    x = np.ones((1, 3, 32, 32), np.float32)
    preds = first(x)[0]
    assert preds.tolist() == [1] * 15 + [0]
    v = double_masking(preds, x, two_mask)
    assert (v.label, v.case, v.certified, v.second_round) == (0, "minority", False, 1) and calls == [15]


def test_majority_when_no_disagreer_is_confirmed():
    # Corner model on a frame whose corner is grey except one pixel: only the (18,18) mask reads 0…
    # and we check the fallback with a disagreer whose second round is not unanimous (hand-built).
    def two_mask(frame: np.ndarray, i: int) -> np.ndarray:
        return np.array([[0, 1, 1, 1]])

    v = double_masking(np.array([1, 1, 0, 1]), np.zeros((1, 3, 8, 8), np.float32), two_mask)
    assert (v.label, v.case, v.certified, v.second_round) == (1, "majority", False, 1)


def test_the_second_round_runs_only_on_disagreement():
    calls: list[int] = []
    first, two_mask = _rounds(Band(0.5), calls)
    x = np.ones((1, 3, 32, 32), np.float32)
    v = double_masking(first(x)[0], x, two_mask, certify=False)
    assert (v.label, v.second_round, calls) == (1, 0, [])
    first, two_mask = _rounds(Corner(), calls)
    v = double_masking(first(x)[0], x, two_mask, certify=False)
    assert v.second_round == 1 and calls == [15]
