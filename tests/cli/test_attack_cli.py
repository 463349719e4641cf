"""``edgeguard attack rp2``: bad input is one line on stderr, exit 2 and no file; a small run writes
the sticker PNG (inside its mask, black/white), the stickered preview and a JSON record that agrees
with the PNG."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeguard.attacks import sticker as st
from edgeguard.cli.app import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(["attack", "rp2", *args])
        raise SystemExit(0)
    return int(done.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "speed limit 90"], "unknown target label 'speed limit 90'"),
        (["--target", "stop"], "is the sign's own class"),
        (["--mask", "0:0:0.12:0.12"], "lies outside the sign face (0% of it on the sign"),
        (["--mask", "0.5:0.5:1.3:0.6"], "lies outside the sign face"),
        (["--mask", "nosuch"], "expected a name"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--eot", "0"], "--eot must be >= 1"),
        (["--colours", "rainbow"], "colours must be one of bw, palette"),
        (["--defense", "bits:9"], "bit depth"),
        (["--masking", "1.5"], "0 < patch < 1"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "s.png"
    code, err = _run(capsys, "--out", str(out), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_out_must_be_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "--out", str(tmp_path / "s.jpg"))
    assert code == 2 and "PNG" in err and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_small_run_writes_sticker_preview_and_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stop.png"
    code, err = _run(capsys, "--out", str(out), "--steps", "2", "--eot", "1", "--views", "10", "--seed", "1")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stop.json", "stop.png", "stop.stickered.png"]
    rgba = cv2.cvtColor(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    meta = json.loads((tmp_path / "stop.json").read_text())
    side = meta["face_px"]
    assert rgba.shape == (side, side, 4) and meta["input_px"] == 64 and meta["seed"] == 1
    rects = tuple(tuple(r) for r in meta["mask"]["rects_xyxy_face_fraction"])
    assert rects == st.MASKS["bars"] and meta["mask"]["spec"] == "bars"
    mask = st.rasterise(rects, side, side)[0, 0].numpy() > 0
    on = rgba[..., 3] == 255
    assert not (on & ~mask).any() and on.sum() > 0.9 * mask.sum()  # inside the mask (on the sign)
    assert set(np.unique(rgba[on][:, :3])) <= {0, 255}  # exactly black or white
    assert meta["colours"] == [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    m = meta["measured"]
    assert m["views"] == 10 and 0 <= m["fooled"] <= 1 and meta["attack"].startswith("rp2:mask=bars,steps=2")
    preview = cv2.cvtColor(cv2.imread(str(tmp_path / "stop.stickered.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(preview[on], rgba[on][:, :3])  # the preview wears exactly this sticker
