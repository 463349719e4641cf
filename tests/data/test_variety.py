"""Renderer varieties: classic stays pixel-identical, wide widens it (a superset), unseen is held out.

The classic hashes below were taken from the renderer before varieties existed (main at 3a0add1, this
machine's OpenCV/scikit-image): the shipped weights, the tests and the README numbers depend on them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeguard.cli.app import main
from edgeguard.data import CLASSES, SignDataset, looks, render_arrays, render_scene, render_sign
from edgeguard.data.templates import BLACK, BLUE, CLASSIC_LOOK, GREY, RED, WHITE, YELLOW, draw_template
from edgeguard.errors import ConfigError


def _sha(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_classic_pixels_unchanged() -> None:
    fronts = [x for i in range(len(CLASSES)) for x in render_sign(i, 256)]
    assert _sha(*fronts) == "8a0a09e54ce18c259c11d47296d3db923da82a26a989312b56b8265ae3e8e0d0"
    small = [x for i in range(len(CLASSES)) for x in render_sign(i, 64)]
    assert _sha(*small) == "ff1fcf7b92bfe02a544bbeeacb932337c1b836bcb095590f5bbb9e648887f292"
    scenes = [render_scene(i % 13, (7, i)) for i in range(52)]
    assert _sha(*scenes) == "9e71a0ee7e2348a452f2b62a61aff721cd49f4e691b5f399cf271605a302bd0a"
    assert _sha(*render_scene("stop", 11, size=96, return_quad=True)) == (
        "447ad11b62fe5ad73134a27822d29e335e63c5f07dea09272f04933bad143efe"
    )
    x, y = render_arrays(SignDataset(39, 2, 64))  # the eval test seed, the classic default
    assert _sha(x, y) == "9d72e54478a41349627a7519b080a22b94332d0b21d6f9ef56ff038f1577bde7"
    x2, _ = render_arrays(SignDataset(39, 2, 64, variety="classic"))
    assert np.array_equal(x, x2)


def test_default_look_draws_the_cached_classic_template() -> None:
    for i in (0, 3, 9, 11):
        rgb, mask = draw_template(i, 256, CLASSIC_LOOK)
        ref_rgb, ref_mask = render_sign(i, 256)
        assert np.array_equal(rgb, ref_rgb) and np.array_equal(mask, ref_mask)


def test_wide_is_a_superset_of_classic() -> None:
    for key, (lo, hi) in looks.WIDE.items():
        assert lo <= getattr(CLASSIC_LOOK, key) <= hi, key
        assert hi - lo > 0.09, key  # a real range, not a point
    assert CLASSIC_LOOK.font in looks.WIDE_FONTS and len(looks.WIDE_FONTS) >= 4
    assert 0 < looks.WIDE_P_CLASSIC < 0.5 and looks.WIDE_COLOUR_JITTER >= 20
    rng = np.random.default_rng(0)
    drawn = [looks.sample_look(rng, "wide") for _ in range(400)]
    n_classic = sum(lk == CLASSIC_LOOK for lk in drawn)
    assert 0.17 < n_classic / 400 < 0.33  # ~WIDE_P_CLASSIC keep the classic look
    for key, (lo, hi) in looks.WIDE.items():
        vals = np.array([getattr(lk, key) for lk in drawn if lk != CLASSIC_LOOK])
        assert lo <= vals.min() and vals.max() <= hi
        assert vals.min() < lo + 0.15 * (hi - lo) and vals.max() > hi - 0.15 * (hi - lo), key  # spans it
    fonts = {lk.font & ~cv2.FONT_ITALIC for lk in drawn}
    assert fonts == set(looks.WIDE_FONTS) and any(lk.font & cv2.FONT_ITALIC for lk in drawn)
    assert all(lk.ttf is None and lk.corner == 0 and lk.outline == 0 and not lk.chevron for lk in drawn)
    for lk in drawn:
        for got, ref in zip(
            (lk.red, lk.white, lk.blue, lk.yellow, lk.black, lk.grey), (RED, WHITE, BLUE, YELLOW, BLACK, GREY)
        ):
            assert np.abs(np.subtract(got, ref)).max() <= looks.WIDE_COLOUR_JITTER


def test_wide_renders_reproducible_varied_and_labelled() -> None:
    a = SignDataset(26, 0, 64, variety="wide")
    b = SignDataset(26, 0, 64, variety="wide")
    c = SignDataset(26, 0, 64)
    xa, ya = render_arrays(a)
    xb, yb = render_arrays(b)
    xc, yc = render_arrays(c)
    assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert np.array_equal(ya, yc) and ya.tolist() == [i % 13 for i in range(26)]  # labels do not move
    changed = [np.abs(xa[i].astype(int) - xc[i].astype(int)).mean() > 3 for i in range(26)]
    assert sum(changed) >= 20  # a different draw per image, not classic with a tweak


def test_wide_fronts_vary_and_nuisances_stay_on_the_sign() -> None:
    ref, ref_mask = render_sign("speed_limit_50", 256)
    rng = np.random.default_rng(5)
    diffs = []
    for _ in range(40):
        rgb, mask = looks.draw_sign(4, 256, rng, "wide")
        assert np.array_equal(mask, ref_mask)  # the silhouette stays the class's (pose does the rest)
        assert not rgb[mask == 0].any()  # wear, graffiti and stickers never spill off the sign
        diffs.append(np.abs(rgb.astype(int) - ref.astype(int)).mean())
    diffs_a = np.array(diffs)
    assert (diffs_a == 0).mean() < 0.2 and (diffs_a > 4).mean() > 0.5


@pytest.mark.parametrize(
    "name", ["scratches", "faded_patches", "dirt", "graffiti", "stickers", "rust", "peeling"]
)
def test_each_nuisance_changes_only_the_face(name: str) -> None:
    rgb0, mask = render_sign("stop", 256)
    rgb = rgb0.copy()
    changed = 0.0
    for seed in range(3):
        rgb = rgb0.copy()
        looks._NUISANCE[name](np.random.default_rng(seed), rgb, mask)
        changed = max(changed, float((np.abs(rgb.astype(int) - rgb0.astype(int)).sum(-1) > 30).mean()))
        assert not rgb[mask == 0].any()
    assert changed > 0.003, name


def test_bad_variety_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown variety 'fancy'; choose classic, wide, unseen"):
        SignDataset(3, variety="fancy")
    with pytest.raises(ConfigError, match="unknown variety"):
        render_scene(0, 1, variety="Wide")
    with pytest.raises(ConfigError, match=r"unknown --variety 'unseen' \('unseen' is held out"):
        looks.check_variety("unseen", looks.TRAIN_VARIETIES, "--variety")


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
        raise SystemExit(0)
    return int(done.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "signs", "--variety", "unseen"), "unknown --variety 'unseen' ('unseen' is held out"),
        (("train", "signs", "--variety", "bold"), "unknown --variety 'bold'; choose classic, wide"),
        (("data", "preview", "signs", "--variety", "bold"), "unknown --variety 'bold'"),
        (("data", "preview", "persons", "--variety", "wide"), "--variety applies to signs and templates"),
        (("data", "folder", "--variety", "x"), "unknown --variety 'x'"),
    ],
)
def test_cli_refuses_bad_variety_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / ("w.safetensors" if args[0] == "train" else "o.png")
    code, err = _cli(capsys, *args, "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not list(tmp_path.iterdir())  # refused before anything is written


def test_train_config_renders_the_chosen_variety() -> None:
    from edgeguard.train import TrainConfig, load_data

    cfg = TrainConfig(out="unused.safetensors", n_train=13, n_val=13, variety="wide", workers=1)
    xt, yt, xv, yv, labels = load_data(cfg)
    ref, _ = render_arrays(SignDataset(13, 0, 64, variety="wide"))
    assert np.array_equal(xt, ref) and len(labels) == 13
    with pytest.raises(ConfigError, match="only the synthetic data has varieties"):
        load_data(TrainConfig(out="x", data="folder:/nowhere", variety="wide"))


def _outside_wide_box(colour: tuple[int, int, int], classic: tuple[int, int, int]) -> bool:
    return int(np.abs(np.subtract(colour, classic)).max()) > looks.WIDE_COLOUR_JITTER


def test_unseen_makes_only_choices_wide_never_makes() -> None:
    from edgeguard.data.glyphs import UNSEEN_FONTS

    rng = np.random.default_rng(1)
    drawn = [looks.sample_look(rng, "unseen") for _ in range(200)]
    assert {lk.ttf for lk in drawn} == set(UNSEEN_FONTS)  # outline glyphs; wide only has stroke fonts
    assert all(lk.corner > 0 and lk.outline > 0 and lk.chevron and lk.text_h != 1.0 for lk in drawn)
    assert {(lk.red, lk.white, lk.blue, lk.yellow, lk.black) for lk in drawn} == set(looks.UNSEEN_PALETTES)
    for pal in looks.UNSEEN_PALETTES:
        assert _outside_wide_box(pal[0], RED) and _outside_wide_box(pal[2], BLUE)
    held_out = {name for name, _ in looks.UNSEEN_NUISANCES}
    assert held_out.isdisjoint(name for name, _ in looks.WIDE_NUISANCES)


def test_unseen_fronts_differ_from_classic_as_intended() -> None:
    from edgeguard.data.templates import SignLook

    rgb, mask = draw_template(0, 256, SignLook(corner=0.12, outline=0.015))
    ref, ref_mask = render_sign("stop", 256)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    edge = (ref_mask > 200) & (cv2.erode(ref_mask, k) < 128)
    assert ref[edge].mean() > 200  # classic: a white border to the very edge
    edge_u = (mask > 200) & (cv2.erode(mask, k) < 128)
    assert rgb[edge_u].mean() < 90  # unseen: a dark outline
    vx, vy = (128 + 126.5 * np.cos(np.deg2rad(22.5)) * 0.97, 128 + 126.5 * np.sin(np.deg2rad(22.5)) * 0.97)
    assert ref_mask[int(vy), int(vx)] == 255 and mask[int(vy), int(vx)] == 0  # a rounded corner
    # the digits in an outline font: present (about as much ink) but different pixels from Hershey's
    for font in ("DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf"):
        ttf, _ = draw_template(5, 256, SignLook(ttf=font))
        classic, _ = render_sign("speed_limit_60", 256)
        inner = np.hypot(*np.mgrid[-128:128, -128:128]) < 0.6 * 126.5
        ink_t, ink_c = (ttf[inner].max(-1) < 100).mean(), (classic[inner].max(-1) < 100).mean()
        assert 0.5 < ink_t / ink_c < 2.0
        assert ((ttf[inner].max(-1) < 100) != (classic[inner].max(-1) < 100)).mean() > 0.3 * ink_c
    # open-V arrow heads: the classic filled head's centre is paint, the chevron's is not
    arrow_c, _ = render_sign("keep_right", 256)
    arrow_u, _ = draw_template(9, 256, SignLook(chevron=True))
    white_c, white_u = arrow_c.min(-1) > 200, arrow_u.min(-1) > 200
    assert (white_c != white_u).mean() > 0.03  # a different head shape, not anti-aliasing


def test_unseen_set_reproducible_labelled_and_loaded_by_eval() -> None:
    from edgeguard.data import TEST_SEED
    from edgeguard.eval.data import load_data

    a, ya = render_arrays(SignDataset(13, TEST_SEED, 64, variety="unseen"))
    b, yb = render_arrays(SignDataset(13, TEST_SEED, 64, variety="unseen"))
    c, yc = render_arrays(SignDataset(13, TEST_SEED, 64))
    assert np.array_equal(a, b) and np.array_equal(ya, yc) and np.array_equal(yb, yc)
    assert all(np.abs(a[i].astype(int) - c[i].astype(int)).mean() > 2 for i in range(13))
    d = load_data("signs:variety=unseen", 13, (64, 64), fit=4)
    assert np.array_equal((d.x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8), a)
    assert d.y.tolist() == ya.tolist() and d.describe()["spec"] == "signs:variety=unseen"
    fit, _ = render_arrays(SignDataset(4, 1, 64, variety="unseen"))  # the validation seed
    assert np.array_equal((d.fit_x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8), fit)
    classic = load_data("signs:variety=classic", 4, (64, 64))
    assert torch_equal(classic.x, load_data("signs", 4, (64, 64)).x)
    with pytest.raises(ConfigError, match=r"--data: expected signs or signs:variety=classic\|wide\|unseen"):
        load_data("signs:variety=bold", 3, (64, 64))
    with pytest.raises(ConfigError, match="expected signs or signs:variety"):
        load_data("signs:style=unseen", 3, (64, 64))


def torch_equal(a, b) -> bool:  # type: ignore[no-untyped-def]
    return bool((a == b).all())


def test_eval_cli_refuses_bad_variety_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ev"
    args = ("eval", "--model", "signs", "--attack", "pgd", "--data", "signs:variety=bold", "--out", str(out))
    code, err = _cli(capsys, *args)
    assert code == 2 and err.count("\n") == 1 and "expected signs or signs:variety=" in err
    assert not out.exists()


def test_preview_shows_the_unseen_look(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fronts.png"
    code, err = _cli(capsys, "data", "preview", "templates", "--variety", "unseen", "--out", str(out))
    assert code == 0, err
    sheet = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert sheet.shape == (128, 13 * 128, 3)
    classic_out = tmp_path / "classic.png"
    assert _cli(capsys, "data", "preview", "templates", "--out", str(classic_out))[0] == 0
    classic = cv2.cvtColor(cv2.imread(str(classic_out)), cv2.COLOR_BGR2RGB)
    for i in range(13):  # every front drawn differently from the classic template
        tile = np.s_[:, i * 128 : (i + 1) * 128]
        assert np.abs(sheet[tile].astype(int) - classic[tile].astype(int)).mean() > 3, CLASSES[i]


def test_train_eval_measures_the_unseen_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import torch

    from edgeguard.attacks import Normalized
    from edgeguard.data import TEST_SEED
    from edgeguard.models import build

    out = tmp_path / "unseen.json"
    args = ("train", "eval", "-m", "signs", "-n", "13", "--attack", "none", "--variety", "unseen")
    code, err = _cli(capsys, *args, "--out", str(out))
    assert code == 0, err
    res = json.loads(out.read_text())
    assert res["test_set"]["variety"] == "unseen" and res["test_set"]["n"] == 13
    assert res["command"].startswith("edgeguard train eval --model signs -n 13 --attack none")
    x, y = render_arrays(SignDataset(13, TEST_SEED, 64, variety="unseen"))
    net, info = build("signs")
    with torch.no_grad():
        pred = Normalized(net, info.mean, info.std).eval()(torch.from_numpy(x).permute(0, 3, 1, 2) / 255.0)
    assert res["models"]["signs"]["clean_top1"] == pytest.approx(float((pred.argmax(1).numpy() == y).mean()))
    code, err = _cli(capsys, "train", "eval", "--variety", "odd", "--out", str(tmp_path / "x.json"))
    assert code == 2 and "unknown --variety 'odd'" in err and not (tmp_path / "x.json").exists()
