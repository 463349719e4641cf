"""The person-hiding patch (Thys et al.): placement, printability, EOT ranges, the attack on the
embedded detector against a random patch of the same size, and the query variant's no-gradient rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import nnls
from torch import nn

from edgeguard import attacks
from edgeguard.attacks import sticker as st
from edgeguard.attacks.patch import (
    box_scores,
    flatten_targets,
    person_scores,
    random_patch,
    region_mask,
    wear,
)
from edgeguard.attacks.patch_eot import PatchConditions, draw, recolour
from edgeguard.attacks.patch_place import TORSO_Y, paste, torso_squares
from edgeguard.errors import ConfigError, InputError


class TinyYolo(nn.Module):
    """A YOLO-layout ``(B, 5, N)`` head over a 4-pixel grid: boxes fixed at the cells, the person
    score a sigmoid of a 3×3 convolution of the image (differentiable in the pixels)."""

    def __init__(self, size: int = 64, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 1, 4, 4)
        g = (torch.arange(size // 4) + 0.5) * 4
        gy, gx = torch.meshgrid(g, g, indexing="ij")
        self.register_buffer("grid", torch.stack([gx.reshape(-1), gy.reshape(-1)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.conv(x).flatten(1))  # (B, N)
        b = len(x)
        wh = torch.full((b, 2, s.shape[1]), 8.0)
        return torch.cat([self.grid.expand(b, 2, -1), wh, s[:, None]], 1)


def _scenes(n: int = 4, size: int = 64) -> tuple[torch.Tensor, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(n, 3, size, size, generator=g)
    boxes = [torch.tensor([[4.0, 2.0, 30.0, 60.0], [34.0, 10.0, 60.0, 50.0]]) for _ in range(n)]
    boxes[-1] = torch.zeros(0, 4)  # an image without people is left alone
    return x, boxes


def test_torso_square_hand_worked() -> None:
    # 40 wide, 100 tall: side 0.2·100 = 20, centred at x = 30 and TORSO_Y·100 below the top
    sq = torso_squares(torch.tensor([[10.0, 20.0, 50.0, 120.0]]), 0.2)
    assert torch.allclose(sq, torch.tensor([[30.0, 20.0 + 100 * TORSO_Y, 20.0]]))
    # a narrow box caps the side at its width; a full height places it lower than the box height would
    narrow = torso_squares(torch.tensor([[0.0, 0.0, 10.0, 60.0]]), 0.5, heights=torch.tensor([100.0]))
    assert torch.allclose(narrow, torch.tensor([[5.0, 37.0, 10.0]]))
    with pytest.raises(ConfigError, match="larger than the person"):
        torso_squares(torch.tensor([[0.0, 0.0, 10.0, 60.0]]), 1.5)


def test_paste_upright_aligned_equals_hand_placement() -> None:
    """Unrotated, one patch pixel per frame pixel, integer-aligned: the pasted pixels ARE the patch."""
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    p = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    box = torch.tensor([[10.0, 3.0, 50.0, 63.0]])
    sq = torch.tensor([[30.0, 24.0, 16.0]])  # top-left at (22, 16)
    out = paste(img, p[None], sq, [0], box)
    want = img.clone()
    want[0, :, 16:32, 22:38] = p
    assert torch.allclose(out, want, atol=1e-5)


def test_patch_stays_in_its_region_and_printable_set() -> None:
    x, boxes = _scenes()
    model = TinyYolo()
    attack = attacks.create("patch", steps=4, batch=2, size=12)
    attack.fit(model, x, boxes, torch.Generator().manual_seed(0))
    p = attack.patch
    assert p is not None and p.shape == (3, 12, 12)
    # every pixel is a convex mix of the printable inks (nnls with a sum-to-one row: residual ~ 0)
    a = torch.cat([st.PALETTE.T, torch.ones(1, len(st.PALETTE))]).double().numpy()
    for px in p.permute(1, 2, 0).reshape(-1, 3)[::7].double().numpy():
        w, res = nnls(a * 100, np.append(px, 1.0) * 100)
        assert res < 1e-4 and abs(w.sum() - 1) < 1e-4
    worn = attack(model, x, boxes, torch.Generator().manual_seed(1))
    changed = (worn - x).abs().amax(1, keepdim=True) > 0
    inside = region_mask(boxes, 64, 64) > 0
    assert bool(changed.any()) and not bool((changed & ~inside).any())
    assert torch.equal(worn[-1], x[-1])  # no person, no patch
    assert float(worn.min()) >= 0 and float(worn.max()) <= 1 and not worn.requires_grad
    # and the changed pixels lie inside each person's torso square's circumscribed circle
    sq = torso_squares(boxes[0], attack.scale)
    yy, xx = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    near = torch.zeros(64, 64, dtype=torch.bool)
    for cx, cy, side in sq:
        near |= (xx - cx) ** 2 + (yy - cy) ** 2 <= (side / 2 * 2**0.5 + 1) ** 2
    assert not bool((changed[0, 0] & ~near).any())


def test_eot_sampler_covers_the_stated_ranges() -> None:
    cond = PatchConditions()
    assert (cond.contrast, cond.brightness, cond.noise, cond.rotation) == ((0.8, 1.2), (-0.1, 0.1), 0.1, 20.0)
    d = draw(4000, cond, torch.Generator().manual_seed(0))
    for key, (lo, hi) in (("contrast", (0.8, 1.2)), ("brightness", (-0.1, 0.1)), ("rotation", (-20, 20))):
        v = d[key]
        assert float(v.min()) >= lo and float(v.max()) <= hi, key
        assert float(v.min()) < lo + 0.01 * (hi - lo) and float(v.max()) > hi - 0.01 * (hi - lo), key
    # the noise is uniform in ±0.1: on a mid-grey patch with contrast 1 and no brightness shift
    flat = {**d, "contrast": torch.ones(4000), "brightness": torch.zeros(4000)}
    dev = recolour(torch.full((3, 4, 4), 0.5), flat) - 0.5
    assert float(dev.abs().max()) <= 0.1 + 1e-6 and float(dev.abs().max()) > 0.099
    assert abs(float(dev.mean())) < 2e-3
    # contrast and brightness as stated, on a noiseless draw
    quiet = {**d, "noise": torch.zeros(4000)}
    out = recolour(torch.full((3, 1, 1), 0.5), quiet)[:, 0, 0, 0]
    assert torch.allclose(out, (0.5 * d["contrast"] + d["brightness"]).clamp(0, 1), atol=1e-6)
    with pytest.raises(ConfigError):
        PatchConditions(rotation=95.0)


def test_fitting_is_reproducible_and_leaves_the_model_alone() -> None:
    x, boxes = _scenes()
    model = TinyYolo().eval()
    runs = []
    for _ in range(2):
        a = attacks.create("patch", steps=3, batch=2, size=8)
        runs.append(a(model, x, boxes, torch.Generator().manual_seed(5)))
    assert torch.equal(runs[0], runs[1])
    assert all(p.grad is None for p in model.parameters()) and not model.training


def test_query_variant_uses_no_gradients() -> None:
    x, boxes = _scenes()
    inner = TinyYolo()
    calls = {"n": 0, "grad": 0}

    def model(batch: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        calls["grad"] += int(torch.is_grad_enabled() or batch.requires_grad)
        return inner(batch)

    attack = attacks.create("patch-query", queries=12, scenes=3, cells=4, size=16)
    assert attack.kind == "query"
    result = attack.optimise(model, x, boxes, torch.Generator().manual_seed(0))
    assert calls["n"] == 12 and calls["grad"] == 0
    assert result.history == sorted(result.history, reverse=True)  # never accepts a worse patch
    # printable by construction: every pixel exactly one ink
    pix = result.patch.permute(1, 2, 0).reshape(-1, 1, 3)
    assert bool(((pix - st.PALETTE[None]).abs().amax(2) < 1e-6).any(1).all())


def test_scores_and_bad_inputs() -> None:
    out = torch.zeros(1, 6, 3)
    out[0, :2] = torch.tensor([[5.0, 50.0, 5.0], [5.0, 50.0, 5.0]])  # anchor centres
    out[0, 4] = torch.tensor([0.2, 0.9, 0.7])  # person
    out[0, 5] = torch.tensor([0.99, 0.0, 0.0])  # another class
    assert torch.equal(person_scores(out), out[0, 4][None])
    # the max person score among the anchors inside each box
    s = box_scores(out, [torch.tensor([0.0, 0.0, 10.0, 10.0])], torch.tensor([0]), 0)
    assert torch.allclose(s, torch.tensor([0.7]))
    with pytest.raises(InputError, match="4 \\+ classes"):
        person_scores(torch.zeros(1, 4, 10))
    with pytest.raises(InputError, match="person class 3"):
        person_scores(out, 3)
    with pytest.raises(InputError, match="no image has a person"):
        attacks.create("patch", steps=1).optimise(TinyYolo(), torch.rand(1, 3, 64, 64), [torch.zeros(0, 4)])
    with pytest.raises(ConfigError, match="larger than the person"):
        attacks.from_spec("patch:scale=1.2")


def test_eval_grids_refuse_detection_attacks() -> None:
    from edgeguard.eval.plan import plan_attack

    with pytest.raises(ConfigError, match="person detector"):
        plan_attack("patch:steps=2", (), n=4, seed=0, eot=1)


def _mean_box_score(model: nn.Module, x: torch.Tensor, boxes: list, patch: torch.Tensor | None) -> float:
    """Mean over people of the max person score inside their box, each wearing ``patch`` (or not)."""
    if patch is not None:
        x = wear(x, boxes, patch, generator=torch.Generator().manual_seed(11))
    flat, index, _ = flatten_targets(boxes)
    with torch.no_grad():
        return float(box_scores(model(x), flat, index, 0).mean())


@pytest.mark.slow
def test_patch_lowers_the_embedded_detectors_person_score_and_random_does_not() -> None:
    """On the shipped ``persons`` detector, a short fit (20 steps) on 8 rendered scenes lowers the max
    person score inside the people's boxes (fresh EOT draws); a uniform-noise patch of the same size
    does not lower it as much. Relative bounds, so they hold for a retrained detector too."""
    from edgeguard import models
    from edgeguard.data.scene_sets import render_scene_set

    torch.set_num_threads(1)
    net, _ = models.build("persons")
    net.eval()
    s = render_scene_set(10, 31)
    keep = [i for i in range(len(s)) if (~s.targets(i)[1]).any()][:8]
    x = torch.from_numpy(s.images[keep]).permute(0, 3, 1, 2).float() / 255
    boxes = [torch.from_numpy(s.targets(i)[0][~s.targets(i)[1]]) for i in keep]
    attack = attacks.create("patch", steps=20, batch=4, size=24, lr=0.3)
    attack.fit(net, x, boxes, torch.Generator().manual_seed(0))
    clean = _mean_box_score(net, x, boxes, None)
    adv = _mean_box_score(net, x, boxes, attack.patch)
    noise = _mean_box_score(net, x, boxes, random_patch(24, torch.Generator().manual_seed(2)))
    assert adv < 0.92 * clean and adv < noise - 0.05 * clean, (adv, noise, clean)
