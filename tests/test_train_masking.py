"""``train signs --adv roa:… --mask-aug patch=…``: the masked copies reach the loss, the draws are
their own (a resumed run is bit-identical), bad options are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import edgeguard.train as train_module
from edgeguard.certify import mask_set
from edgeguard.errors import ConfigError
from edgeguard.models import signs
from edgeguard.models.weights import read_state_dict
from edgeguard.train import TrainConfig, train
from edgeguard.train_masking import MaskAug, mask_batch, parse_mask_aug

MEAN = torch.tensor(signs.SIGNS_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(signs.SIGNS_STD).view(1, 3, 1, 1)


class Recorder(nn.Module):
    """A tiny BatchNorm net that keeps every input it is trained on (train mode only)."""

    seen: list[torch.Tensor] = []

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 4, 5, stride=8), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            Recorder.seen.append((x.detach() * STD + MEAN).clone())  # back to [0, 1] pixels
        return self.fc(self.net(x))


@pytest.fixture
def tiny(monkeypatch) -> None:
    """The recorder arch and 64×64 random data (no rendering): each test runs in about a second."""
    rng = np.random.default_rng(0)
    xt = rng.integers(0, 256, (96, 64, 64, 3), dtype=np.uint8)  # k/255 is never the 0.5 fill
    yt = rng.integers(0, 3, 96).astype(np.int64)
    xv, yv = xt[:32].copy(), yt[:32].copy()
    monkeypatch.setitem(signs.ARCHS, "rec", Recorder)
    monkeypatch.setattr(train_module, "load_data", lambda cfg, size=64: (xt, yt, xv, yv, ["a", "b", "c"]))
    Recorder.seen = []
    torch.set_num_threads(1)


def _cfg(tmp_path, name: str, **kw) -> TrainConfig:
    base = dict(
        out=str(tmp_path / f"{name}.safetensors"),
        arch="rec",
        batch_size=16,
        epochs=2,
        lr=0.05,
        ckpt_every=100,
        mask_aug="patch=0.25,share=0.5",
    )
    base.update(kw)
    return TrainConfig(**base)


def _masked_rows(batch: torch.Tensor) -> tuple[int, list[int]]:
    """Per row: 0 when no pixel is exactly the 0.5 fill, 1 or 2 when the filled pixels are exactly one
    mask or the union of two masks of the patch=0.25 set, -1 otherwise; and how many rows are masked."""
    inside = torch.from_numpy(mask_set(0.25, (64, 64)).keep())[:, 0] == 0  # (M, H, W)
    rows = []
    for img in batch:
        filled = ((img - 0.5).abs() < 1e-5).all(0)
        within = [m for m in inside if not bool((m & ~filled).any())]  # masks wholly filled
        if not filled.any():
            rows.append(0)
        elif any(torch.equal(m, filled) for m in within):
            rows.append(1)
        else:
            rows.append(2 if any(torch.equal(a | b, filled) for a in within for b in within) else -1)
    return sum(1 for h in rows if h), rows


@pytest.mark.slow
def test_masked_copies_reach_the_loss(tmp_path, tiny) -> None:
    counts: list[int] = []
    log = train(
        _cfg(tmp_path, "m"), callbacks=[lambda ev: ev["kind"] == "step" and counts.append(ev["masked"])]
    )
    assert log["mask_aug"] == "patch=0.25,masks=6,face=0.95,fill=0.5,share=0.5"
    assert len(Recorder.seen) == len(counts) == 12  # 2 epochs × 6 batches of 16
    seen = [_masked_rows(b) for b in Recorder.seen]
    assert [n for n, _ in seen] == counts  # the rows the loss saw masked are the ones reported
    total = sum(counts)
    assert 0.3 * 192 < total < 0.7 * 192  # share=0.5 of 192 rows
    assert all(h >= 0 for _, rows in seen for h in rows)  # exactly one or two masks of the set
    assert any(h == 2 for _, rows in seen for h in rows) and any(h == 1 for _, rows in seen for h in rows)
    assert all("val_masked_acc" in e for e in log["epochs"])
    Recorder.seen = []
    train(_cfg(tmp_path, "plain", mask_aug=None))
    assert sum(_masked_rows(b)[0] for b in Recorder.seen) == 0


@pytest.mark.slow
def test_roa_and_masks_resume_bit_identical(tmp_path, tiny) -> None:
    extra = dict(adv="roa:size=0.25,stride=16,candidates=2,steps=1,alpha=0.5", adv_fraction=0.5)
    kinds: list[bool] = []
    log = train(
        _cfg(tmp_path, "full", **extra),
        callbacks=[lambda ev: ev["kind"] == "step" and kinds.append(ev["adv"])],
    )
    assert log["adv"].startswith("roa:height=0.25,width=0.25,stride=16") and any(kinds) and not all(kinds)

    def stop_after_5(ev: dict) -> None:
        if ev["kind"] == "step" and ev["step"] == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path, "cut", **extra), callbacks=[stop_after_5])
    resumed = train(_cfg(tmp_path, "cut", resume=True, **extra))
    assert resumed["resumed_at"] == [5]
    a, b = read_state_dict(tmp_path / "full.safetensors"), read_state_dict(tmp_path / "cut.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_mask_batch_matches_the_certificate_copies() -> None:
    """Oracle: certify.apply (the second round's host masking) on the drawn masks, one after the other."""
    from edgeguard.certify import apply

    aug = MaskAug(mask_set(0.25, (64, 64)), 1.0)
    x = torch.rand(6, 3, 64, 64)
    out, picked = mask_batch(x, aug, aug.keep(), seed=3, step=7)
    assert bool(picked.all())
    g = torch.Generator().manual_seed(2**40 + 3 * 1_000_003 + 7)
    torch.rand(6, generator=g)
    ij = torch.randint(0, aug.masks.count, (6, 2), generator=g)
    for r in range(6):
        ref = apply(apply(x[r : r + 1].numpy(), aug.masks, int(ij[r, 0])), aug.masks, int(ij[r, 1]))
        assert np.allclose(out[r : r + 1].numpy(), ref, atol=1e-7)
    none, picked = mask_batch(x, MaskAug(aug.masks, 1e-9), aug.keep(), seed=3, step=7)
    assert not bool(picked.any()) and torch.equal(none, x)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("patch=1.2", "--mask-aug patch=1.2"),
        ("patch=0.25,share=0", "share=0"),
        ("patch=0.25,share=1.5", "0 < share <= 1"),
        ("share=0.5", "name the sticker size"),
        ("patch=0.25,colour=3", "unknown option 'colour'"),
        ("patch=0.9,masks=1", "larger than the image"),
        ("0.25", "key=value"),
    ],
)
def test_bad_mask_aug_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_mask_aug(text)
    assert parse_mask_aug("none") is None and parse_mask_aug(None) is None


def test_cli_bad_mask_aug_is_one_line(cli, tmp_path) -> None:
    res = cli("train", "signs", "--mask-aug", "patch=2", "--out", str(tmp_path / "x.safetensors"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "--mask-aug" in res.stderr
    assert not (tmp_path / "x.safetensors").exists()
