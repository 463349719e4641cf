"""RP2 sticker attack (issue 12, seed 004): the sticker stays inside its mask and its printable colours,
the viewing-condition sampler covers its stated ranges and renders a frontal view exactly, the attack
raises targeted success on the shipped model against a random sticker of the same shape and the clean
sign, and the query-only search gains using forward calls only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeguard import attacks
from edgeguard.attacks import sticker as st
from edgeguard.attacks.physical import Conditions, draw, quads, view
from edgeguard.attacks.rp2 import resolve_target, success
from edgeguard.attacks.rp2_query import cells
from edgeguard.errors import ConfigError
from tests.attacks.tiny import data, one_thread, trained_model
from tests.attacks.trained import QueryOnly

pytestmark = pytest.mark.usefixtures("one_thread")
assert one_thread


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("colours", ["bw", "palette"])
def test_sticker_stays_inside_its_mask_and_colour_set(colours: str) -> None:
    model = trained_model()
    x, y = data(4, 3)
    x = F.interpolate(x, size=(16, 16), mode="nearest")
    small = nn.Sequential(nn.Upsample(size=(8, 8), mode="area"), model)
    attack = attacks.from_spec(f"rp2:mask=square,steps=4,eot=2,colours={colours}")
    adv = attack(small, x, y, _gen(0))
    mask = st.rasterise(st.MASKS["square"], 16, 16)[0, 0].bool()
    assert int(mask.sum()) == 16  # side 0.25 of 16 px: 4 × 4 pixels, centred
    assert torch.equal(adv[:, :, ~mask], x[:, :, ~mask])  # nothing changes outside the mask
    inside = adv.permute(0, 2, 3, 1)[:, mask]  # (B, 16, 3)
    inks = st.inks(colours)
    dist = (inside[:, :, None, :] - inks[None, None]).abs().amax(-1).amin(-1)
    assert float(dist.max()) == 0.0  # every sticker pixel is exactly one ink
    if colours == "bw":
        assert set(inside.unique().tolist()) <= {0.0, 1.0}


def test_named_and_custom_masks() -> None:
    bars = st.rasterise(st.MASKS["bars"], 100, 100)[0, 0]
    assert int(bars.sum()) == 2 * 60 * 11  # two 0.6 × 0.11 bars at 100 px
    assert st.parse_mask("0.1:0.2:0.3:0.4+0.5:0.5:0.6:0.6") == ((0.1, 0.2, 0.3, 0.4), (0.5, 0.5, 0.6, 0.6))
    assert st.mask_spec(st.MASKS["bars"]) == "bars"
    with pytest.raises(ConfigError, match="outside the sign face"):
        st.parse_mask("0.5:0.5:1.2:0.9")
    octagon = torch.from_numpy(np.asarray(_stop()[1])).float()
    st.check_on_face(st.MASKS["bars"], octagon)  # the bars lie on the octagon
    with pytest.raises(ConfigError, match="outside the sign face"):
        st.check_on_face(((0.0, 0.0, 0.12, 0.12),), octagon)  # the octagon's cut corner
    assert len(cells(st.MASKS["bars"], 0.05)) == 2 * 12 * 2


def test_nps_and_tv_are_zero_exactly_where_they_should_be() -> None:
    mask = torch.ones(1, 1, 4, 4)
    black = torch.zeros(1, 3, 4, 4)
    assert float(st.nps(black, mask, "bw")) == 0.0 and float(st.total_variation(black, mask)) == 0.0
    grey = torch.full((1, 3, 4, 4), 0.5)
    assert float(st.nps(grey, mask, "bw")) == pytest.approx(0.75)  # |0.5·√3|² for black and white
    stripe = black.clone()
    stripe[..., :, 2:] = 1.0  # one vertical edge, 4 rows × 3 channels of |Δ| = 1
    assert float(st.total_variation(stripe, mask)) == pytest.approx(12 / 16)


def test_eot_sampler_covers_its_stated_ranges() -> None:
    cond = Conditions()
    p = draw(4000, cond, _gen(1))
    for key, (lo, hi) in {
        "yaw": (-30, 30),
        "pitch": (-15, 15),
        "roll": (-12, 12),
        "scale": cond.scale,
        "gain": cond.gain,
        "contrast": cond.contrast,
        "gamma": cond.gamma,
        "noise": (0, cond.max_noise),
    }.items():
        v = p[key].double()
        assert float(v.min()) >= lo and float(v.max()) <= hi, key
        width = hi - lo
        assert float(v.min()) < lo + 0.01 * width and float(v.max()) > hi - 0.01 * width, key
        hist = torch.histc(v, bins=10, min=lo, max=hi)
        assert float(hist.min()) > 0.6 * 400, key  # roughly uniform: every tenth of the range is used
    blur, jpeg = p["blur"], p["jpeg"]
    assert abs(float((blur > 0).float().mean()) - cond.p_blur) < 0.03
    assert abs(float((jpeg > 0).float().mean()) - cond.p_jpeg) < 0.03
    on = jpeg[jpeg > 0]
    assert float(on.min()) == 25 and float(on.max()) == 95 and torch.equal(on, on.round())
    assert float(blur[blur > 0].min()) >= 0.4 and float(blur.max()) <= 1.1
    # the same generator seed gives the same draws; torch's global state is not touched
    state = torch.get_rng_state()
    assert torch.equal(draw(10, cond, _gen(5))["yaw"], draw(10, cond, _gen(5))["yaw"])
    assert torch.equal(state, torch.get_rng_state())


def _identity(n: int) -> dict[str, torch.Tensor]:
    z, o = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    return {
        "yaw": z, "pitch": z, "roll": z, "scale": o, "distance": 5 * o, "dx": z, "dy": z,
        "gain": o, "contrast": o, "balance": torch.ones(n, 3), "gamma": o, "blur": z, "noise": z,
        "jpeg": z, "bg": torch.zeros(n, 3), "seed": torch.zeros(1, dtype=torch.int64),
    }  # fmt: skip


def test_frontal_view_is_the_face_and_angles_foreshorten() -> None:
    face = torch.rand(2, 3, 32, 32, generator=_gen(2))
    out = view(face, torch.ones(2, 1, 32, 32), _identity(2), 16)
    ref = F.interpolate(face, size=(16, 16), mode="bilinear", align_corners=True)
    assert float((out - ref).abs().max()) < 1e-4  # no nuisance, scale 1: the face resampled
    p = _identity(1)
    p["scale"] = torch.tensor([0.5], dtype=torch.float64)
    q = quads(p, 64)[0]
    assert torch.allclose(q, torch.tensor([[16.0, 16], [48, 16], [48, 48], [16, 48]]))  # centred, side 32
    p["yaw"] = torch.tensor([60.0], dtype=torch.float64)
    q = quads(p, 64)[0]
    width = float((q[1, 0] - q[0, 0] + q[2, 0] - q[3, 0]) / 2)
    assert 0.4 * 32 < width < 0.6 * 32  # cos 60° = 0.5, within the perspective's spread


def test_target_labels_resolve_against_the_models_labels() -> None:
    labels = ["stop", "yield", "speed limit 80"]
    assert resolve_target("speed limit 80", labels) == 2
    assert resolve_target("Speed_Limit_80", labels) == 2
    assert resolve_target("1", labels) == 1 and resolve_target(None, labels) is None
    with pytest.raises(ConfigError, match="unknown target label 'speed limit 90'.*speed limit 80"):
        resolve_target("speed limit 90", labels)
    with pytest.raises(ConfigError, match="out of range"):
        resolve_target("7", labels)
    with pytest.raises(ConfigError, match="unknown target"):
        attacks.from_spec("rp2:target=nosuch").with_labels(labels)


def _stop() -> tuple[np.ndarray, np.ndarray]:
    from edgeguard.data.templates import render_sign

    rgb, mask = render_sign("stop", 96)
    return np.array(rgb), np.array(mask) / 255.0


def _signs() -> tuple[nn.Module, list[str], torch.Tensor, torch.Tensor]:
    from edgeguard import models
    from edgeguard.attacks.base import Normalized

    net, info = models.build("signs")
    model = Normalized(net, info.mean, info.std).eval()
    rgb, mask = _stop()
    face = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    return model, list(info.labels), face, torch.from_numpy(mask)[None, None].float()


@pytest.mark.slow
def test_rp2_raises_targeted_success_over_random_sticker_and_clean_sign() -> None:
    model, labels, face, alpha = _signs()
    y = torch.tensor([0])
    rate = lambda f: success(model, f, y, target=6, alpha=alpha, size=64, views=100, generator=_gen(9))  # noqa: E731
    attack = attacks.from_spec("rp2:target=speed limit 80,steps=40,eot=6").with_labels(labels)
    found = attack.optimise(model, face, y, alpha=alpha, size=64, generator=_gen(0))
    mask = found.mask
    random = st.hard(torch.randn(1, 1, 96, 96, generator=_gen(3)), "bw")
    clean, rand, adv = rate(face), rate(st.composite(face, random, mask)), rate(found.apply(face))
    assert clean["targeted"] == 0.0 and rand["targeted"] <= 0.01
    assert adv["fooled"] >= rand["fooled"] + 0.1 and adv["targeted"] > rand["targeted"]
    assert torch.equal(found.apply(face)[:, :, mask[0, 0] == 0], face[:, :, mask[0, 0] == 0])


@pytest.mark.slow
def test_query_search_gains_with_forward_calls_only() -> None:
    model, labels, face, alpha = _signs()
    y = torch.tensor([0])
    probe = QueryOnly(model)
    attack = attacks.from_spec("rp2-query:queries=40,views=12,cell=0.1").with_labels(labels)
    found = attack.optimise(probe, face, y, alpha=alpha, size=64, generator=_gen(0))
    assert 0 < probe.calls <= 40
    rate = lambda f: success(model, f, y, alpha=alpha, size=64, views=100, generator=_gen(9))["fooled"]  # noqa: E731
    random = st.hard(torch.randn(1, 1, 96, 96, generator=_gen(3)), "bw")
    assert rate(found.apply(face)) > max(rate(face), rate(st.composite(face, random, found.mask))) + 0.05
    inside = found.apply(face)[0].permute(1, 2, 0)[found.mask[0, 0] > 0]
    assert set(inside.unique().tolist()) <= {0.0, 1.0}


def test_l1_mask_covers_a_sixth_of_the_face_in_grid_cells() -> None:
    model = trained_model()
    x, y = data(2, 4)
    x = F.interpolate(x, size=(16, 16), mode="nearest")
    small = nn.Sequential(nn.Upsample(size=(8, 8), mode="area"), model)
    attack = attacks.from_spec("rp2:mask=l1,steps=8,eot=2")
    found = attack.optimise(small, x, y, generator=_gen(0))
    assert len(found.rects) == round(64 / 6)  # 8 × 8 grid, a sixth of the (all-sign) face
    assert all(r[2] - r[0] == r[3] - r[1] == 1 / 8 for r in found.rects)
    assert int(found.mask.sum()) == len(found.rects) * 4  # distinct 2 × 2-pixel cells
    adv = found.apply(x)
    assert torch.equal(adv[:, :, found.mask[0, 0] == 0], x[:, :, found.mask[0, 0] == 0])


def test_mask_vote_is_the_mean_log_probability_over_the_masked_copies() -> None:
    from edgeguard import certify
    from edgeguard.eval.masking_vote import MaskVote

    model = trained_model()
    masks = certify.mask_set(0.25, (8, 8))
    x, _ = data(3, 6)
    vote = MaskVote(model, masks)
    keep = torch.from_numpy(masks.keep())
    ref = [F.log_softmax(model(x), 1)]
    for i in range(masks.count):
        copy = torch.from_numpy(certify.apply(x.numpy(), masks, i))
        assert torch.allclose(copy, x * keep[i] + masks.fill * (1 - keep[i]))
        ref.append(F.log_softmax(model(copy), 1))
    with torch.no_grad():
        assert torch.allclose(vote(x), torch.stack(ref).mean(0), atol=1e-6)
